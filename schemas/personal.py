"""Personal data in the input tables, and how values from it may leave a run: as keyed hashes only.

A user id is personal data. Wherever values may be written (validation results and Data Docs, error
messages, reports) they pass through :func:`scrub` (example values) or :func:`pseudonymise` (a whole
table, before validation sees it) first, which replace the values of personal columns by :func:`hash_id`:
HMAC-SHA256 keyed with ``MMRECUN_ID_SALT`` (stable across runs that share it) or, without it, a random
salt drawn once per process and never stored (hashes cannot then be linked across runs).
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any, Iterable

import pyarrow as pa

PERSONAL_COLUMNS = ("user_id",)
SALT_VARIABLE = "MMRECUN_ID_SALT"
_PROCESS_SALT = secrets.token_hex(16)


def is_personal(column: str | None) -> bool:
    """Whether ``column`` holds personal values: a personal column, or one derived from it (``unknown_user_id``)."""
    return column is not None and any(column == c or column.endswith(f"_{c}") for c in PERSONAL_COLUMNS)


def hash_id(value: Any, salt: str | None = None) -> str:
    """The first 16 hex digits of HMAC-SHA256(key, ``str(value)``).

    The key: ``salt``, else ``MMRECUN_ID_SALT``, else the process's random salt.
    """
    key = (salt or os.environ.get(SALT_VARIABLE) or _PROCESS_SALT).encode()
    return hmac.digest(key, str(value).encode(), "sha256").hex()[:16]


def scrub_value(column: str | None, value: Any, salt: str | None = None) -> Any:
    """``value`` safe to write: hashed when ``column`` is personal; a row (dict) has its personal keys hashed."""
    if isinstance(value, dict):
        return {k: scrub_value(k, v, salt) for k, v in value.items()}
    return hash_id(value, salt) if is_personal(column) and value is not None else value


def scrub(column: str | None, values: Iterable[Any], salt: str | None = None) -> list:
    """The example ``values`` of ``column`` safe to write (see :func:`scrub_value`)."""
    return [scrub_value(column, v, salt) for v in values]


def pseudonymise(table: pa.Table, salt: str | None = None) -> pa.Table:
    """``table`` with each personal column's values replaced by their :func:`hash_id`, nulls kept.

    A replaced column becomes ``dictionary<int32, string>``: each distinct id is hashed once, and the
    column stays as small as the ids were.
    """
    for name in [c for c in table.column_names if is_personal(c)]:
        encoded = table.column(name).combine_chunks().dictionary_encode()
        hashes = pa.array(scrub(name, encoded.dictionary.to_pylist(), salt), pa.string())
        table = table.set_column(table.column_names.index(name), name, pa.DictionaryArray.from_arrays(encoded.indices, hashes))
    return table
