"""The errors a user can act on: bad input data, bad paths, bad arguments.

Each one's message is a single line that names what is wrong (table, column and example values, user
ids hashed; or the path) so the CLI can print it and exit with status 2. Anything else that escapes a
command is a defect and keeps its traceback. ``mmrecun_core`` keeps its own errors (it imports
nothing from here); the CLI lists those it accepts beside :class:`UserError`.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave (data, paths, arguments), not with the code."""


class ContractError(UserError, ValueError):
    """A table that does not meet its contract; the message names table, column and examples."""


class RequestIdConflict(ContractError):
    """Request ids repeated within or across the request tables: one of the requests would be lost."""


class IdTypeMismatch(ContractError):
    """An id column whose type differs from ``interactions.user_id`` / ``item_id`` (string vs int64)."""


class BadModalityName(ContractError):
    """A modality name that is not a lower-case identifier, or is reserved (``item`` is a revocation scope)."""


class NonFiniteValues(ContractError):
    """A numeric column holding NaN or inf."""


class NothingRetained(ContractError):
    """Requests that would forget every training interaction: no model can be made from what is left."""


class BadParameter(UserError, ValueError):
    """A run parameter or command option outside its type, choices or bounds; the message names it and the value."""


class MissingParent(UserError):
    """A step needs something an earlier run makes (a promoted model, a published version): the message says which run."""


class StoreConflict(UserError):
    """The store changed under a run (another run promoted first, an object written twice): nothing was half-written."""


class PathError(UserError, ValueError):
    """A path that cannot be used as given: missing, of the wrong kind, or leaving its folder."""


class PathEscape(PathError):
    """A path built from data or arguments (or a symlink) that resolves outside the folder it must stay in."""


class OutputOverlapsInput(PathError):
    """An output path that equals, contains or lies inside one of the command's inputs (writing would replace it)."""
