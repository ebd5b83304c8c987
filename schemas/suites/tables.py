"""Which suite validates which table name (``interactions``, ``item_features/<m>``, ``licence_revocations``, ``erasure_requests``)."""

from __future__ import annotations

from schemas.suites import TableSuite, erasure_requests, interactions, item_features, licence_revocations

_SUITES = {"interactions": interactions.SUITE, "licence_revocations": licence_revocations.SUITE, "erasure_requests": erasure_requests.SUITE}


def suite_for(table: str) -> TableSuite:
    """The suite of ``table``; every ``item_features/<modality>`` shares one."""
    if table.startswith("item_features/"):
        return item_features.SUITE
    try:
        return _SUITES[table]
    except KeyError:
        raise ValueError(f"no suite for table {table!r}; known: {sorted(_SUITES)} and item_features/<modality>") from None
