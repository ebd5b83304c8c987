"""The boundary where ``tasks/`` hands the user's data and models to ``mmrecun_core``.

The core raises its own errors about what it is given (:class:`~mmrecun_core.data.DataError`,
:class:`~mmrecun_core.checkpoint.CheckpointError`); :func:`core_input` raises them again as
:class:`~schemas.errors.UserError` s, with the same message, so the CLI and the DAGs need to know one
hierarchy only (:mod:`schemas.errors`).
"""

from __future__ import annotations

from contextlib import contextmanager

from mmrecun_core.data import DataError
from mmrecun_core.model_files import CheckpointError
from schemas.errors import ContractError, UserError


class BadData(ContractError, DataError):
    """Interaction or feature data the core cannot use (no training split, no validation users, ...)."""


class BadModel(ContractError, CheckpointError):
    """A model directory the core refuses to load: missing, incomplete, or its files do not match the manifest."""


@contextmanager
def core_input():
    """Within this block (or the function it decorates), the core's errors about its input are :class:`UserError` s."""
    try:
        yield
    except UserError:
        raise
    except DataError as exc:
        raise BadData(str(exc)) from exc
    except CheckpointError as exc:
        raise BadModel(str(exc)) from exc
