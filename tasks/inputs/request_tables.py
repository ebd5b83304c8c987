"""The request tables of a requests folder: where they live, how each request is named, how they are read.

``erasure_requests`` and ``licence_revocations`` (:mod:`schemas.contracts`); a request is named by
:func:`request_key` wherever a model records it as applied, and read back to its id by :func:`request_id_of`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE, erasure_requests_schema, licence_revocations_schema
from schemas.errors import ContractError, RequestIdConflict
from schemas.personal import is_personal
from tasks.paths import confined, existing_file


@dataclass(frozen=True)
class RequestTable:
    """One request table: its file, its id column, the columns a plan needs, and those a request's content spans."""

    file: str
    id_column: str
    required: tuple[str, ...]
    content: tuple[str, ...]


ERASURES, REVOCATIONS = "erasure_requests", "licence_revocations"
REQUEST_TABLES = {
    ERASURES: RequestTable(ERASURES_FILE, "request_id", ("request_id", "user_id", "effective_at"), tuple(erasure_requests_schema().names)),
    REVOCATIONS: RequestTable(
        REVOCATIONS_FILE, "revocation_id", ("revocation_id", "item_id", "scope", "effective_at"), tuple(licence_revocations_schema().names)
    ),
}


def request_key(table: str, row: dict, user_index: int | None = None) -> str:
    """``"<table>:<request id>:<content hash>"``: what a model records as an applied request.

    The hash is the first 16 hex digits of the sha256 of the row's contract columns (canonical JSON; an
    absent column counts as null), with a personal column replaced by ``user_index``, the user's row in the
    model: an id reused for another request (another user, item, scope or date) is a request of its own,
    while the key links to no person without the catalogue (the published id maps hold no erased user's id).
    """
    spec = REQUEST_TABLES[table]
    content = {c: (user_index if is_personal(c) else row.get(c)) for c in spec.content}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()
    return f"{table}:{row[spec.id_column]}:{digest[:16]}"


def request_id_of(key: str) -> str:
    """The request id inside a :func:`request_key` (what a report lists)."""
    return key.split(":", 1)[1].rsplit(":", 1)[0]


def read_table(root: Path, name: str) -> pa.Table | None:
    """The request table ``name`` of the folder ``root`` (None when its file is absent), its columns checked."""
    spec = REQUEST_TABLES[name]
    path = confined(root, spec.file)
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        table = pq.read_table(existing_file(path, f"{name}: file"))
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{name}: {path} is not a readable Parquet file ({exc})") from exc
    missing = [c for c in spec.required if c not in table.column_names]
    if missing:
        raise ContractError(f"{name}: missing column(s) {missing} (columns present: {table.column_names})")
    for column in spec.required:
        if nulls := table.column(column).null_count:
            raise ContractError(f"{name}: column {column!r} has {nulls} null values of {table.num_rows} rows")
    return table


def check_unique_request_ids(tables: dict[str, pa.Table]) -> None:
    """Raise :class:`RequestIdConflict` when an id names two requests, in one request table or across both."""
    where: dict[str, Counter] = {}
    for name, table in tables.items():
        for rid in table.column(REQUEST_TABLES[name].id_column).to_pylist():
            where.setdefault(str(rid), Counter())[name] += 1
    repeated = {rid: rows for rid, rows in sorted(where.items()) if rows.total() > 1}
    if repeated:
        columns = " / ".join(f"{name}.{REQUEST_TABLES[name].id_column}" for name in tables)
        examples = "; ".join(
            f"{rid!r} ({', '.join(f'{n} rows of {t}' for t, n in rows.items())})" for rid, rows in list(repeated.items())[:5]
        )
        raise RequestIdConflict(
            f"{columns}: {len(repeated)} request id(s) name more than one request "
            f"(ids must be unique across the request tables), e.g. {examples}"
        )


def effective(table: pa.Table, id_column: str, cutoff: datetime) -> tuple[pa.Table, list[str]]:
    """Split ``table`` into the rows effective at ``cutoff`` and the ids of those that are not yet."""
    at = np.datetime64(cutoff.astimezone(timezone.utc).replace(tzinfo=None), "us")
    now = table.column("effective_at").cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]") <= at
    later = table.filter(pa.array(~now)).column(id_column).to_pylist()
    return table.filter(pa.array(now)), later
