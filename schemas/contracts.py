"""Arrow schemas of the input tables (docs/design.md, "Input contracts") and the checks that enforce them.

On disk a catalogue is a folder::

    interactions.parquet                 user_id, item_id, ts [, weight] [, split]
    item_features/<modality>.parquet     item_id, embedding (one file per modality, any names)

and the forget requests another (either file may be absent)::

    licence_revocations.parquet          revocation_id, item_id, licence_id, scope, effective_at, reason
    erasure_requests.parquet             request_id, user_id, item_id (null: the whole user), received_at, effective_at, legal_basis

External ids are ``int64`` or ``string`` (the same type in every table). ``ts`` may hold nulls
("time unknown", as in MMRec files that carry 0) only when ``split`` is given, since the
default per-user chronological split needs it.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from schemas.errors import BadModalityName, ContractError, NonFiniteValues

INTERACTIONS_FILE = "interactions.parquet"
FEATURES_DIR = "item_features"
REVOCATIONS_FILE = "licence_revocations.parquet"
ERASURES_FILE = "erasure_requests.parquet"
SPLIT_VALUES = ("train", "valid", "test")
ID_TYPES = (pa.int64(), pa.string())
TS_TYPE = pa.timestamp("us", tz="UTC")
MODALITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_MODALITIES = ("item",)  # revocation scopes that are not modalities


def check_modality_name(modality: str) -> str:
    """Return ``modality`` if it can name a feature table; raise :class:`BadModalityName` otherwise.

    A name is a lower-case identifier (it becomes a file name and a revocation ``scope``), and not ``item``.
    """
    if not isinstance(modality, str) or not MODALITY_NAME.match(modality):
        raise BadModalityName(
            f"item_features/{modality}: modality names are lower-case letters, digits and '_' starting with a letter, got {modality!r}"
        )
    if modality in RESERVED_MODALITIES:
        raise BadModalityName(
            f"item_features/{modality}: the modality name {modality!r} is reserved (scope {modality!r} revokes a whole item)"
        )
    return modality


def interactions_schema(id_type: pa.DataType = pa.int64(), weight: bool = False, split: bool = True) -> pa.Schema:
    """The ``interactions`` schema: ``user_id``, ``item_id`` (``id_type``), ``ts`` and the optional columns asked for."""
    fields = [pa.field("user_id", id_type, nullable=False), pa.field("item_id", id_type, nullable=False), pa.field("ts", TS_TYPE)]
    if weight:
        fields.append(pa.field("weight", pa.float32()))
    if split:
        fields.append(pa.field("split", pa.string(), nullable=False))
    return pa.schema(fields)


def item_features_schema(dim: int, id_type: pa.DataType = pa.int64()) -> pa.Schema:
    """The ``item_features/<modality>`` schema: ``item_id`` and ``embedding`` ``fixed_size_list<float32>[dim]``."""
    return pa.schema([pa.field("item_id", id_type, nullable=False), pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False)])


def licence_revocations_schema(id_type: pa.DataType = pa.int64()) -> pa.Schema:
    """The ``licence_revocations`` schema; ``scope`` is ``item`` or a modality name."""
    return pa.schema(
        [
            pa.field("revocation_id", pa.string(), nullable=False),
            pa.field("item_id", id_type, nullable=False),
            pa.field("licence_id", pa.string(), nullable=False),
            pa.field("scope", pa.string(), nullable=False),
            pa.field("effective_at", TS_TYPE, nullable=False),
            pa.field("reason", pa.string()),
        ]
    )


def erasure_requests_schema(id_type: pa.DataType = pa.int64()) -> pa.Schema:
    """The ``erasure_requests`` schema; a null ``item_id`` erases the whole user."""
    return pa.schema(
        [
            pa.field("request_id", pa.string(), nullable=False),
            pa.field("user_id", id_type, nullable=False),
            pa.field("item_id", id_type),
            pa.field("received_at", TS_TYPE, nullable=False),
            pa.field("effective_at", TS_TYPE, nullable=False),
            pa.field("legal_basis", pa.string(), nullable=False),
        ]
    )


def _require(table: pa.Table, name: str, column: str, allowed: tuple[pa.DataType, ...]) -> pa.DataType:
    if column not in table.column_names:
        raise ContractError(f"{name}: missing column {column!r} (columns present: {table.column_names})")
    typ = table.schema.field(column).type
    if not any(typ.equals(a) for a in allowed):
        raise ContractError(f"{name}: column {column!r} has type {typ}, expected {' or '.join(map(str, allowed))}")
    nulls = table.column(column).null_count
    if nulls and column != "ts":
        raise ContractError(f"{name}: column {column!r} has {nulls} null values of {table.num_rows} rows")
    return typ


def _require_finite(table: pa.Table, name: str, column: str) -> None:
    values = table.column(column).to_numpy()
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise NonFiniteValues(f"{name}: column {column!r} holds {bad} NaN or inf values of {table.num_rows} rows")


def check_interactions(table: pa.Table) -> pa.DataType:
    """Check ``table`` against the ``interactions`` contract; return its id type. Raises :class:`ContractError`."""
    name = "interactions"
    if table.num_rows == 0:
        raise ContractError(f"{name}: the table has no rows")
    id_type = _require(table, name, "user_id", ID_TYPES)
    _require(table, name, "item_id", (id_type,))
    _require(table, name, "ts", (TS_TYPE,))
    if "weight" in table.column_names:
        _require(table, name, "weight", (pa.float32(),))
        _require_finite(table, name, "weight")
    if "split" in table.column_names:
        _require(table, name, "split", (pa.string(), pa.large_string()))
        values = set(table.column("split").unique().to_pylist())
        unknown = sorted(values - set(SPLIT_VALUES))
        if unknown:
            raise ContractError(f"{name}: column 'split' holds values other than {list(SPLIT_VALUES)}: {unknown[:5]}")
    elif table.column("ts").null_count:
        raise ContractError(f"{name}: {table.column('ts').null_count} rows have no 'ts' and there is no 'split' column to split by")
    return id_type


def check_item_features(table: pa.Table, modality: str, id_type: pa.DataType) -> int:
    """Check one ``item_features/<modality>`` table; return its embedding dimension. Raises :class:`ContractError`."""
    name = f"item_features/{check_modality_name(modality)}"
    if table.num_rows == 0:
        raise ContractError(f"{name}: the table has no rows")
    _require(table, name, "item_id", (id_type,))
    if "embedding" not in table.column_names:
        raise ContractError(f"{name}: missing column 'embedding' (columns present: {table.column_names})")
    typ = table.schema.field("embedding").type
    if not (pa.types.is_fixed_size_list(typ) and typ.value_type.equals(pa.float32())):
        raise ContractError(f"{name}: column 'embedding' has type {typ}, expected fixed_size_list<float32>[d]")
    if table.column("embedding").null_count:
        raise ContractError(f"{name}: column 'embedding' has {table.column('embedding').null_count} null rows")
    return typ.list_size
