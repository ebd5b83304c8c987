"""Step 3 of a run: from the request tables to the forget set the unlearning engine applies.

DESIGN.md "From requests to a forget set": requests effective at the cutoff (the run's logical
date, or now), minus those already applied to the parent model (its manifest's
``requests_applied``), resolve to users, items, interactions and (item, modality) content
deletions. Requests are cumulative: the *new* forget set is what this run unlearns; the
*cumulative* one (parent's + new) is what the retain data excludes and what evaluation covers, so
nothing once forgotten creeps back. Requests naming users, items or modalities absent from the
data are reported as not applicable; requests effective after the cutoff are deferred to a later
run. An empty new forget set is a clean outcome ("nothing to forget").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmrecun_core.data import InteractionData
from mmrecun_core.forget import ForgetSet
from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE, ContractError

log = logging.getLogger("mmrecun.forget_set")
KINDS = ("user_erasures", "interaction_erasures", "item_revocations", "modality_revocations")


@dataclass
class ForgetPlan:
    """The forget sets of one run and the request lineage behind them.

    ``forget``: what is new since the parent (this run unlearns it); ``cumulative``: parent's + new.
    ``request_ids``: every applied request (the new model's ``requests_applied``); ``new_request_ids``:
    those this run adds. ``not_applicable``: reason -> request ids; ``deferred``: effective after the cutoff.
    ``counts``: new requests per kind, and ``already_applied`` / ``deferred`` / ``not_applicable`` totals.
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
    """Requests resolved to indices, before splitting new from already applied."""

    users: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, tuple[int, int]] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    modality_items: dict[str, tuple[str, int]] = field(default_factory=dict)

    def forget_set(self, keep) -> ForgetSet:
        modality: dict[str, list[int]] = {}
        for rid, (m, item) in self.modality_items.items():
            if keep(rid):
                modality.setdefault(m, []).append(item)
        return ForgetSet.of(users=[v for r, v in self.users.items() if keep(r)], items=[v for r, v in self.items.items() if keep(r)],
                            pairs=[v for r, v in self.pairs.items() if keep(r)], modality_items=modality)


def _lookup(ids: np.ndarray, values: list) -> np.ndarray:
    """Index of each value in the sorted external ``ids``; -1 where absent."""
    if not len(values):
        return np.empty(0, np.int64)
    values = np.asarray(values, dtype=ids.dtype)
    pos = np.clip(np.searchsorted(ids, values), 0, len(ids) - 1)
    return np.where(ids[pos] == values, pos, -1)


def _read(root: Path, file: str, required: tuple[str, ...]) -> pa.Table | None:
    path = root / file
    if not path.is_file():
        return None
    name = file.removesuffix(".parquet")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{name}: {path} is not a readable Parquet file ({exc})") from exc
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ContractError(f"{name}: missing column(s) {missing} (columns present: {table.column_names})")
    if table.column("effective_at").null_count:
        raise ContractError(f"{name}: {table.column('effective_at').null_count} requests have no effective_at")
    return table


def _effective(table: pa.Table, id_column: str, cutoff: datetime) -> tuple[pa.Table, list[str]]:
    """Split ``table`` into the rows effective at ``cutoff`` and the ids of those that are not yet."""
    at = np.datetime64(cutoff.astimezone(timezone.utc).replace(tzinfo=None), "us")
    now = table.column("effective_at").cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]") <= at
    later = table.filter(pa.array(~now)).column(id_column).to_pylist()
    return table.filter(pa.array(now)), later


def plan_forget(requests_dir: str | Path, data: InteractionData, cutoff: datetime | None = None,
                applied: list[str] | tuple[str, ...] = ()) -> ForgetPlan:
    """Resolve the requests in ``requests_dir`` effective at ``cutoff`` (default now) against ``data``.

    ``applied``: request ids the parent model already applied (its manifest's ``requests_applied``).
    Raises :class:`ContractError` for a missing folder, an unreadable table, a missing column or a
    request without ``effective_at``.
    """
    root = Path(requests_dir)
    if not root.is_dir():
        raise ContractError(f"requests folder {root} does not exist")
    erasures = _read(root, ERASURES_FILE, ("request_id", "user_id", "effective_at"))
    revocations = _read(root, REVOCATIONS_FILE, ("revocation_id", "item_id", "scope", "effective_at"))
    if erasures is None and revocations is None:
        raise ContractError(f"requests folder {root} holds neither {REVOCATIONS_FILE} nor {ERASURES_FILE}")
    cutoff = cutoff or datetime.now(timezone.utc)
    resolved, deferred = _Resolved(), []
    not_applicable: dict[str, list[str]] = {"unknown_user": [], "unknown_item": [], "unknown_modality": []}
    if erasures is not None:
        erasures, later = _effective(erasures, "request_id", cutoff)
        deferred += later
        items = erasures.column("item_id").to_pylist() if "item_id" in erasures.column_names else [None] * erasures.num_rows
        users = _lookup(data.user_ids, erasures.column("user_id").to_pylist())
        for rid, user, item in zip(erasures.column("request_id").to_pylist(), users, items):
            index = -1 if item is None else _lookup(data.item_ids, [item])[0]
            if user < 0:
                not_applicable["unknown_user"].append(rid)
            elif item is None:
                resolved.users[rid] = int(user)
            elif index < 0:
                not_applicable["unknown_item"].append(rid)
            else:
                resolved.pairs[rid] = (int(user), int(index))
    if revocations is not None:
        revocations, later = _effective(revocations, "revocation_id", cutoff)
        deferred += later
        items = _lookup(data.item_ids, revocations.column("item_id").to_pylist())
        for rid, item, scope in zip(revocations.column("revocation_id").to_pylist(), items, revocations.column("scope").to_pylist()):
            if item < 0:
                not_applicable["unknown_item"].append(rid)
            elif scope == "item":
                resolved.items[rid] = int(item)
            elif scope in data.features:
                resolved.modality_items[rid] = (scope, int(item))
            else:
                not_applicable["unknown_modality"].append(rid)
    done = set(applied)
    every = [*resolved.users, *resolved.pairs, *resolved.items, *resolved.modality_items]
    new_ids = [r for r in every if r not in done]
    counts = {kind: sum(r not in done for r in group) for kind, group in
              zip(KINDS, (resolved.users, resolved.pairs, resolved.items, resolved.modality_items))}
    counts |= {"already_applied": len(every) - len(new_ids), "deferred": len(deferred),
               "not_applicable": sum(len(v) for v in not_applicable.values())}
    plan = ForgetPlan(forget=resolved.forget_set(lambda r: r not in done), cumulative=resolved.forget_set(lambda r: True),
                      request_ids=sorted(done | set(every)), new_request_ids=sorted(new_ids),
                      not_applicable={k: v for k, v in not_applicable.items() if v}, deferred=sorted(deferred), counts=counts)
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
    """The request ids a parent model already applied (``requests_applied`` in its manifest; none for a base model)."""
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
    arrays, read back by :func:`load_plan`), replacing what was there only on success.
    """
    from tasks.catalogue import load_catalogue, replacing_folder

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
