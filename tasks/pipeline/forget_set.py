"""Step 3 of a run: from the request tables to the forget set the unlearning engine applies.

DESIGN.md "From requests to a forget set": requests effective at the cutoff (the run's logical
date, or now), minus those already applied to the parent model (its manifest's
``requests_applied``, which names each request by table, id and content: :func:`request_key`),
resolve to users, items, interactions and (item, modality) content deletions. Requests are
cumulative: the *new* forget set is what this run unlearns; the *cumulative* one (parent's + new)
is what the retain data excludes and what evaluation covers, so nothing once forgotten creeps
back. Requests naming users, items or modalities absent from the data are reported as not
applicable; requests effective after the cutoff are deferred to a later run. An empty new forget
set is a clean outcome ("nothing to forget"). Request ids must be unique across both tables, and
requests that would leave no training interaction are refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from mmrecun_core.data import InteractionData
from mmrecun_core.unlearning.forget import ForgetSet
from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE
from schemas.errors import ContractError, IdTypeMismatch, NothingRetained
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.request_tables import (
    ERASURES,
    REQUEST_TABLES,
    REVOCATIONS,
    check_unique_request_ids,
    effective,
    read_table,
    request_id_of,
    request_key,
)
from tasks.paths import check_output, existing_folder, replacing_folder

log = logging.getLogger("mmrecun.forget_set")
KINDS = ("user_erasures", "interaction_erasures", "item_revocations", "modality_revocations")


@dataclass
class ForgetPlan:
    """The forget sets of one run and the request lineage behind them.

    ``forget``: what is new since the parent (this run unlearns it); ``cumulative``: parent's + new.
    ``request_ids``: the :func:`request_key` of every applied request (the new model's ``requests_applied``),
    sorted; ``new_request_ids``: those this run adds. ``not_applicable``: reason -> request ids;
    ``deferred``: ids of requests effective after the cutoff. ``counts``: new requests per kind, and
    ``already_applied`` / ``deferred`` / ``not_applicable`` totals.
    """

    forget: ForgetSet
    cumulative: ForgetSet
    request_ids: list[str]
    new_request_ids: list[str]
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    deferred: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def nothing_to_forget(self) -> bool:
        return self.forget.is_empty


@dataclass
class _Resolved:
    """Requests resolved to indices, by request key, before splitting new from already applied."""

    users: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, tuple[int, int]] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    modality_items: dict[str, tuple[str, int]] = field(default_factory=dict)
    not_applicable: dict[str, list[str]] = field(
        default_factory=lambda: {"unknown_user": [], "unknown_item": [], "unknown_modality": []})

    @property
    def groups(self) -> tuple[dict, ...]:
        """The resolved requests of each of :data:`KINDS`, in that order."""
        return self.users, self.pairs, self.items, self.modality_items

    def forget_set(self, keep) -> ForgetSet:
        modality: dict[str, list[int]] = {}
        for key, (m, item) in self.modality_items.items():
            if keep(key):
                modality.setdefault(m, []).append(item)
        return ForgetSet.of(users=[v for k, v in self.users.items() if keep(k)],
                            items=[v for k, v in self.items.items() if keep(k)],
                            pairs=[v for k, v in self.pairs.items() if keep(k)], modality_items=modality)


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
        raise IdTypeMismatch(f"{name}: column {column!r} has type {typ}, but the interactions' {column} values are "
                             f"{'strings' if as_strings else 'int64'}")



def _resolve_erasures(table: pa.Table, data: InteractionData, resolved: _Resolved) -> None:
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


def _resolve_revocations(table: pa.Table, data: InteractionData, resolved: _Resolved) -> None:
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


def _check_something_retained(cumulative: ForgetSet, data: InteractionData, cutoff: datetime) -> None:
    """Raise :class:`NothingRetained` when ``cumulative`` forgets every training interaction."""
    if data.train.nnz and cumulative.forgotten_mask(data.train).nnz == data.train.nnz:
        users, items, pairs = len(cumulative.users), len(cumulative.items), len(cumulative.pairs)
        tables = [t for t, n in ((ERASURES, users + pairs), (REVOCATIONS, items)) if n]
        raise NothingRetained(
            f"{' / '.join(tables)}: the requests effective at {cutoff.isoformat(timespec='seconds')} forget all "
            f"{data.train.nnz} training interactions ({users} users erased, {items} items revoked, {pairs} "
            f"interactions erased): no user with a training interaction would be left")


def plan_forget(requests_dir: str | Path, data: InteractionData, cutoff: datetime | None = None,
                applied: list[str] | tuple[str, ...] = ()) -> ForgetPlan:
    """Resolve the requests in ``requests_dir`` effective at ``cutoff`` (default now) against ``data``.

    ``applied``: the :func:`request_key` of each request the parent model already applied (its manifest's
    ``requests_applied``); a request whose id was applied with other content is new. Raises
    :class:`~schemas.errors.PathError` for a missing folder, :class:`ContractError` for an unreadable table,
    a missing column or a null id, scope or ``effective_at``, :class:`RequestIdConflict` for an id naming
    two requests, :class:`IdTypeMismatch` for ids typed unlike the interactions', and
    :class:`NothingRetained` when the requests would forget every training interaction.
    """
    root = existing_folder(requests_dir, "requests folder")
    tables = {name: table for name in REQUEST_TABLES if (table := read_table(root, name)) is not None}
    if not tables:
        raise ContractError(f"requests folder {root} holds neither {REVOCATIONS_FILE} nor {ERASURES_FILE}")
    check_unique_request_ids(tables)
    cutoff = cutoff or datetime.now(timezone.utc)
    resolved, deferred = _Resolved(), []
    for name, resolve in ((ERASURES, _resolve_erasures), (REVOCATIONS, _resolve_revocations)):
        if name in tables:
            now, later = effective(tables[name], REQUEST_TABLES[name].id_column, cutoff)
            deferred += later
            resolve(now, data, resolved)
    done = set(applied)
    every = [key for group in resolved.groups for key in group]
    gone = sorted(k for k in done - set(every) if k.startswith(tuple(f"{t}:" for t in REQUEST_TABLES)))  # plain ids: applied again
    if gone:
        raise ContractError(f"requests: {len(gone)} request(s) the parent model applied are not effective in these tables "
                            f"(e.g. {[request_id_of(k) for k in gone[:3]]}): the tables must be cumulative and the cutoff no "
                            "earlier than the parent's, or what those requests forgot would come back")
    new_keys = [key for key in every if key not in done]
    counts = {kind: sum(key not in done for key in group) for kind, group in zip(KINDS, resolved.groups, strict=True)}
    counts |= {"already_applied": len(every) - len(new_keys), "deferred": len(deferred),
               "not_applicable": sum(len(v) for v in resolved.not_applicable.values())}
    plan = ForgetPlan(forget=resolved.forget_set(lambda key: key not in done),
                      cumulative=resolved.forget_set(lambda key: True),
                      request_ids=sorted(done | set(every)), new_request_ids=sorted(new_keys),
                      not_applicable={k: v for k, v in resolved.not_applicable.items() if v}, deferred=sorted(deferred),
                      counts=counts)
    _check_something_retained(plan.cumulative, data, cutoff)
    log.info("requests at %s: %s", cutoff.isoformat(timespec="seconds"), counts)
    return plan


def summarise(plan: ForgetPlan, data: InteractionData) -> dict:
    """A JSON-able summary: request counts, what the new and cumulative sets hold, interactions forgotten and kept."""

    def facts(forget: ForgetSet) -> dict:
        forgotten = {s: int(forget.forgotten_mask(m).nnz) for s, m in (("train", data.train), ("valid", data.valid), ("test", data.test))}
        return {"users": len(forget.users), "items": len(forget.items), "interactions": len(forget.pairs),
                "modality_items": {m: len(v) for m, v in forget.modality_items.items()}, "forgotten_interactions": forgotten}

    total = sum(m.nnz for m in (data.train, data.valid, data.test))
    cumulative = facts(plan.cumulative)
    return {"nothing_to_forget": plan.nothing_to_forget, "counts": plan.counts, "new": facts(plan.forget),
            "cumulative": cumulative, "retained_interactions": total - sum(cumulative["forgotten_interactions"].values()),
            "new_request_ids": plan.new_request_ids, "request_ids": plan.request_ids,
            "not_applicable": plan.not_applicable, "deferred": plan.deferred}


def applied_requests(parent_dir: str | Path | None) -> list[str]:
    """The request keys a parent model already applied (``requests_applied`` in its manifest; none for a base model)."""
    if parent_dir is None:
        return []
    path = Path(parent_dir) / "manifest.json"
    if not path.is_file():
        raise ContractError(f"parent model {parent_dir} has no manifest.json")
    return list(json.loads(path.read_text()).get("requests_applied", []))


def _arrays(prefix: str, forget: ForgetSet) -> dict[str, np.ndarray]:
    return {f"{prefix}.users": forget.users, f"{prefix}.items": forget.items, f"{prefix}.pairs": forget.pairs,
            **{f"{prefix}.modality.{m}": v for m, v in forget.modality_items.items()}}


def _forget_set(arrays, prefix: str) -> ForgetSet:
    modality = {k.split(".", 2)[2]: arrays[k] for k in arrays.files if k.startswith(f"{prefix}.modality.")}
    return ForgetSet.of(users=arrays[f"{prefix}.users"], items=arrays[f"{prefix}.items"], pairs=arrays[f"{prefix}.pairs"],
                        modality_items=modality)


def build_forget_set(data_dir: str | Path, requests_dir: str | Path, cutoff: datetime | None = None,
                     parent_dir: str | Path | None = None, out_dir: str | Path | None = None) -> dict:
    """Plan the forget set of a catalogue folder and a requests folder; return its summary.

    With ``out_dir`` also writes ``summary.json`` and ``forget_set.npz`` (new and cumulative index
    arrays, read back by :func:`load_plan`), replacing what was there only on success; an ``out_dir``
    that is, holds or lies inside an input is refused (:class:`~schemas.errors.OutputOverlapsInput`).
    """
    if out_dir is not None:
        check_output(out_dir, [data_dir, requests_dir, parent_dir])
    catalogue = load_catalogue(data_dir)
    plan = plan_forget(requests_dir, catalogue.data, cutoff, applied_requests(parent_dir))
    summary = {"cutoff": (cutoff or datetime.now(timezone.utc)).isoformat(), "data_sha256": catalogue.sha256,
               "parent": None if parent_dir is None else str(parent_dir), **summarise(plan, catalogue.data)}
    if out_dir is not None:
        with replacing_folder(out_dir) as tmp:
            np.savez(tmp / "forget_set.npz", **_arrays("new", plan.forget), **_arrays("cumulative", plan.cumulative))
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def load_plan(out_dir: str | Path) -> ForgetPlan:
    """The :class:`ForgetPlan` :func:`build_forget_set` wrote into ``out_dir``."""
    root = Path(out_dir)
    summary = json.loads((root / "summary.json").read_text())
    with np.load(root / "forget_set.npz") as arrays:
        return ForgetPlan(forget=_forget_set(arrays, "new"), cumulative=_forget_set(arrays, "cumulative"),
                          request_ids=summary["request_ids"], new_request_ids=summary["new_request_ids"],
                          not_applicable=summary["not_applicable"], deferred=summary["deferred"], counts=summary["counts"])
