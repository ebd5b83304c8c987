"""Request rows resolved against a catalogue's ids, by request key: erased users and interactions, revoked items and
revoked (modality, item) content, and the requests that name an id the catalogue lacks (not applicable)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from mmrecun_core.data import InteractionData
from mmrecun_core.unlearning.forget import ForgetSet
from schemas.errors import IdTypeMismatch
from tasks.inputs.request_tables import ERASURES, REVOCATIONS, request_key

KINDS = ("user_erasures", "interaction_erasures", "item_revocations", "modality_revocations")


@dataclass
class Resolved:
    """Requests resolved to indices, by request key, before splitting new from already applied."""

    users: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, tuple[int, int]] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    modality_items: dict[str, tuple[str, int]] = field(default_factory=dict)
    not_applicable: dict[str, list[str]] = field(default_factory=lambda: {"unknown_user": [], "unknown_item": [], "unknown_modality": []})

    @property
    def groups(self) -> tuple[dict, ...]:
        """The resolved requests of each of :data:`KINDS`, in that order."""
        return self.users, self.pairs, self.items, self.modality_items

    def forget_set(self, keep) -> ForgetSet:
        modality: dict[str, list[int]] = {}
        for key, (m, item) in self.modality_items.items():
            if keep(key):
                modality.setdefault(m, []).append(item)
        return ForgetSet.of(
            users=[v for k, v in self.users.items() if keep(k)],
            items=[v for k, v in self.items.items() if keep(k)],
            pairs=[v for k, v in self.pairs.items() if keep(k)],
            modality_items=modality,
        )


def _lookup(ids: np.ndarray, values: list) -> np.ndarray:
    """Index of each value in the sorted external ``ids``; -1 where absent."""
    if not len(values):
        return np.empty(0, np.int64)
    values = np.asarray(values, dtype=ids.dtype)
    pos = np.clip(np.searchsorted(ids, values), 0, len(ids) - 1)
    return np.where(ids[pos] == values, pos, -1)


def _check_id_type(table: pa.Table, name: str, column: str, ids: np.ndarray) -> None:
    """Raise :class:`IdTypeMismatch` unless ``column`` has the type of the interactions' ids (``ids``)."""
    typ = table.schema.field(column).type
    as_strings = ids.dtype.kind in "OUS"
    is_string = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if not (pa.types.is_null(typ) or (is_string if as_strings else pa.types.is_integer(typ))):
        raise IdTypeMismatch(
            f"{name}: column {column!r} has type {typ}, but the interactions' {column} values are {'strings' if as_strings else 'int64'}"
        )


def resolve_erasures(table: pa.Table, data: InteractionData, resolved: Resolved) -> None:
    """Add each erasure to ``resolved``: a whole user, one interaction, or not applicable."""
    _check_id_type(table, ERASURES, "user_id", data.user_ids)
    if "item_id" in table.column_names:
        _check_id_type(table, ERASURES, "item_id", data.item_ids)
    rows = table.to_pylist()
    users = _lookup(data.user_ids, [r["user_id"] for r in rows])
    for row, user in zip(rows, users, strict=True):
        item = row.get("item_id")
        index = -1 if item is None else _lookup(data.item_ids, [item])[0]
        if user < 0:
            resolved.not_applicable["unknown_user"].append(row["request_id"])
        elif item is None:
            resolved.users[request_key(ERASURES, row, int(user))] = int(user)
        elif index < 0:
            resolved.not_applicable["unknown_item"].append(row["request_id"])
        else:
            resolved.pairs[request_key(ERASURES, row, int(user))] = (int(user), int(index))


def resolve_revocations(table: pa.Table, data: InteractionData, resolved: Resolved) -> None:
    """Add each revocation to ``resolved``: a whole item, one modality of it, or not applicable."""
    _check_id_type(table, REVOCATIONS, "item_id", data.item_ids)
    rows = table.to_pylist()
    items = _lookup(data.item_ids, [r["item_id"] for r in rows])
    for row, item in zip(rows, items, strict=True):
        if item < 0:
            resolved.not_applicable["unknown_item"].append(row["revocation_id"])
        elif row["scope"] == "item":
            resolved.items[request_key(REVOCATIONS, row)] = int(item)
        elif row["scope"] in data.features:
            resolved.modality_items[request_key(REVOCATIONS, row)] = (row["scope"], int(item))
        else:
            resolved.not_applicable["unknown_modality"].append(row["revocation_id"])
