"""The errors a user can act on, in one hierarchy rooted at :class:`UserError`.

Each one's message is a single line that names what is wrong (table, column and example values, user ids
hashed; or the path, parameter or version) so the user can fix it and run again. The CLI prints a
``UserError`` as ``mmrecun <command>: error: ...`` and exits with status 2 (argparse's usage errors exit 2
too); the DAGs fail the task at once, without retries (``dags/mmrecun_common.py`` ``user_errors``).
Anything else that escapes a command or a task is a defect or an infrastructure failure (storage after its
own retries, a checksum that does not match, a CUDA error): the CLI keeps its traceback (exit status 1) and
Airflow retries the steps that have retries.

* ``UserError``
    * ``ContractError``: bad input data or model: a table (or model directory) that does not meet its contract
        * ``RequestIdConflict``, ``IdTypeMismatch``, ``BadModalityName``, ``NonFiniteValues``, ``NothingRetained``
        * ``tasks.pipeline.validate.ValidationFailed``: a critical Great Expectations expectation failed
        * ``tasks.core_input.BadData`` / ``BadModel``: ``mmrecun_core``'s ``DataError`` / ``CheckpointError``
    * ``BadParameter``: a run parameter, command option or setting (environment variable) that is out of bounds
    * ``PathError``: a path, location or store key that cannot be used as given
        * ``PathEscape``, ``OutputOverlapsInput``, ``tasks.storage.objects.BadKey``, ``tasks.storage.objects.StoreMissing``
    * ``MissingParent``: something an earlier run makes is not there (a promoted model, a complete version, a step's output)
        * ``tasks.storage.registry.NoParent``: no promoted version to unlearn from (run ``mmrecun_train`` first)
    * ``StoreConflict``: the store disagrees with the run (another run promoted first, a key holding other bytes)
        * ``tasks.storage.registry.Superseded``, ``tasks.storage.objects.PublishError``
    * ``tasks.storage.registry.LineageError``: a promotion or rollback that would drop requests ``CURRENT`` applied
    * ``tasks.storage.ledger.LedgerBroken``: ``verify-ledger`` found the audit ledger broken (a person must look)
    * ``tasks.pipeline.steps.DeadlineMissed``: requests waited longer than the deadline
    * ``tasks.storage.publish.ApprovalMissing``: a run that requires a person's approval has none

``mmrecun_core`` keeps its own errors (it imports nothing from here): ``tasks/`` hands the core the user's data
and models through :func:`tasks.core_input.core_input`, which raises the core's ``DataError`` and
``CheckpointError`` again as the ``UserError`` s ``BadData`` and ``BadModel`` (still instances of the core's classes).
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave (data, paths, parameters) or with the store's state, not with the code."""


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


class MissingParent(UserError, ValueError):
    """A step needs something an earlier run makes (a promoted model, a published version): the message says which run."""


class StoreConflict(UserError, ValueError):
    """The store changed under a run (another run promoted first, an object written twice): nothing was half-written."""


class PathError(UserError, ValueError):
    """A path that cannot be used as given: missing, of the wrong kind, or leaving its folder."""


class PathEscape(PathError):
    """A path built from data or arguments (or a symlink) that resolves outside the folder it must stay in."""


class OutputOverlapsInput(PathError):
    """An output path that equals, contains or lies inside one of the command's inputs (writing would replace it)."""
