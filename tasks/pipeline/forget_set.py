"""Step 3 of a run: from the request tables to the forget set the unlearning engine applies.

docs/design.md, "From requests to a forget set": requests effective at the cutoff (the run's logical
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

from mmrecun_core.data import InteractionData
from mmrecun_core.unlearning.forget import ForgetSet
from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE
from schemas.errors import ContractError, NothingRetained
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.request_resolution import KINDS, Resolved, resolve_erasures, resolve_revocations
from tasks.inputs.request_tables import (
    ERASURES,
    REQUEST_TABLES,
    REVOCATIONS,
    check_unique_request_ids,
    effective,
    read_table,
    request_id_of,
)
from tasks.paths import check_output, existing_folder, replacing_folder

log = logging.getLogger("mmrecun.forget_set")


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


def _check_something_retained(cumulative: ForgetSet, data: InteractionData, cutoff: datetime) -> None:
    """Raise :class:`NothingRetained` when ``cumulative`` forgets every training interaction."""
    if data.train.nnz and cumulative.forgotten_mask(data.train).nnz == data.train.nnz:
        users, items, pairs = len(cumulative.users), len(cumulative.items), len(cumulative.pairs)
        tables = [t for t, n in ((ERASURES, users + pairs), (REVOCATIONS, items)) if n]
        raise NothingRetained(
            f"{' / '.join(tables)}: the requests effective at {cutoff.isoformat(timespec='seconds')} forget all "
            f"{data.train.nnz} training interactions ({users} users erased, {items} items revoked, {pairs} "
            f"interactions erased): no user with a training interaction would be left"
        )


def plan_forget(
    requests_dir: str | Path, data: InteractionData, cutoff: datetime | None = None, applied: list[str] | tuple[str, ...] = ()
) -> ForgetPlan:
    """Resolve the requests in ``requests_dir`` effective at ``cutoff`` (default now) against ``data``.

    ``applied``: the :func:`request_key` of each request the parent model already applied (its manifest's
    ``requests_applied``); a request whose id was applied with other content is new. Raises
    :class:`~schemas.errors.PathError` for a missing folder, :class:`ContractError` for an unreadable table,
    a missing column or a null id, scope or ``effective_at``, :class:`RequestIdConflict` for an id naming
    two requests, :class:`~schemas.errors.IdTypeMismatch` for ids typed unlike the interactions', and
    :class:`NothingRetained` when the requests would forget every training interaction.
    """
    root = existing_folder(requests_dir, "requests folder")
    tables = {name: table for name in REQUEST_TABLES if (table := read_table(root, name)) is not None}
    if not tables:
        raise ContractError(f"requests folder {root} holds neither {REVOCATIONS_FILE} nor {ERASURES_FILE}")
    check_unique_request_ids(tables)
    cutoff = cutoff or datetime.now(timezone.utc)
    resolved, deferred = Resolved(), []
    for name, resolve in ((ERASURES, resolve_erasures), (REVOCATIONS, resolve_revocations)):
        if name in tables:
            now, later = effective(tables[name], REQUEST_TABLES[name].id_column, cutoff)
            deferred += later
            resolve(now, data, resolved)
    done = set(applied)
    every = [key for group in resolved.groups for key in group]
    gone = sorted(k for k in done - set(every) if k.startswith(tuple(f"{t}:" for t in REQUEST_TABLES)))  # plain ids: applied again
    if gone:
        raise ContractError(
            f"requests: {len(gone)} request(s) the parent model applied are not effective in these tables "
            f"(e.g. {[request_id_of(k) for k in gone[:3]]}): the tables must be cumulative and the cutoff no "
            "earlier than the parent's, or what those requests forgot would come back"
        )
    new_keys = [key for key in every if key not in done]
    counts = {kind: sum(key not in done for key in group) for kind, group in zip(KINDS, resolved.groups, strict=True)}
    counts |= {
        "already_applied": len(every) - len(new_keys),
        "deferred": len(deferred),
        "not_applicable": sum(len(v) for v in resolved.not_applicable.values()),
    }
    plan = ForgetPlan(
        forget=resolved.forget_set(lambda key: key not in done),
        cumulative=resolved.forget_set(lambda key: True),
        request_ids=sorted(done | set(every)),
        new_request_ids=sorted(new_keys),
        not_applicable={k: v for k, v in resolved.not_applicable.items() if v},
        deferred=sorted(deferred),
        counts=counts,
    )
    _check_something_retained(plan.cumulative, data, cutoff)
    log.info("requests at %s: %s", cutoff.isoformat(timespec="seconds"), counts)
    return plan


def summarise(plan: ForgetPlan, data: InteractionData) -> dict:
    """A JSON-able summary: request counts, what the new and cumulative sets hold, interactions forgotten and kept."""

    def facts(forget: ForgetSet) -> dict:
        forgotten = {s: int(forget.forgotten_mask(m).nnz) for s, m in (("train", data.train), ("valid", data.valid), ("test", data.test))}
        return {
            "users": len(forget.users),
            "items": len(forget.items),
            "interactions": len(forget.pairs),
            "modality_items": {m: len(v) for m, v in forget.modality_items.items()},
            "forgotten_interactions": forgotten,
        }

    total = sum(m.nnz for m in (data.train, data.valid, data.test))
    cumulative = facts(plan.cumulative)
    return {
        "nothing_to_forget": plan.nothing_to_forget,
        "counts": plan.counts,
        "new": facts(plan.forget),
        "cumulative": cumulative,
        "retained_interactions": total - sum(cumulative["forgotten_interactions"].values()),
        "new_request_ids": plan.new_request_ids,
        "request_ids": plan.request_ids,
        "not_applicable": plan.not_applicable,
        "deferred": plan.deferred,
    }


def applied_requests(parent_dir: str | Path | None) -> list[str]:
    """The request keys a parent model already applied (``requests_applied`` in its manifest; none for a base model)."""
    if parent_dir is None:
        return []
    path = Path(parent_dir) / "manifest.json"
    if not path.is_file():
        raise ContractError(f"parent model {parent_dir} has no manifest.json")
    return list(json.loads(path.read_text()).get("requests_applied", []))


def _arrays(prefix: str, forget: ForgetSet) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.users": forget.users,
        f"{prefix}.items": forget.items,
        f"{prefix}.pairs": forget.pairs,
        **{f"{prefix}.modality.{m}": v for m, v in forget.modality_items.items()},
    }


def _forget_set(arrays, prefix: str) -> ForgetSet:
    modality = {k.split(".", 2)[2]: arrays[k] for k in arrays.files if k.startswith(f"{prefix}.modality.")}
    return ForgetSet.of(
        users=arrays[f"{prefix}.users"], items=arrays[f"{prefix}.items"], pairs=arrays[f"{prefix}.pairs"], modality_items=modality
    )


def build_forget_set(
    data_dir: str | Path,
    requests_dir: str | Path,
    cutoff: datetime | None = None,
    parent_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> dict:
    """Plan the forget set of a catalogue folder and a requests folder; return its summary.

    With ``out_dir`` also writes ``summary.json`` and ``forget_set.npz`` (new and cumulative index
    arrays, read back by :func:`load_plan`), replacing what was there only on success; an ``out_dir``
    that is, holds or lies inside an input is refused (:class:`~schemas.errors.OutputOverlapsInput`).
    """
    if out_dir is not None:
        check_output(out_dir, [data_dir, requests_dir, parent_dir])
    catalogue = load_catalogue(data_dir)
    plan = plan_forget(requests_dir, catalogue.data, cutoff, applied_requests(parent_dir))
    summary = {
        "cutoff": (cutoff or datetime.now(timezone.utc)).isoformat(),
        "data_sha256": catalogue.sha256,
        "parent": None if parent_dir is None else str(parent_dir),
        **summarise(plan, catalogue.data),
    }
    if out_dir is not None:
        with replacing_folder(out_dir) as tmp:
            np.savez(tmp / "forget_set.npz", **_arrays("new", plan.forget), **_arrays("cumulative", plan.cumulative))
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def load_plan(out_dir: str | Path, data_sha256: str | None = None, applied: list[str] | tuple[str, ...] = ()) -> ForgetPlan:
    """The :class:`ForgetPlan` :func:`build_forget_set` wrote into ``out_dir``.

    ``data_sha256`` / ``applied``: the catalogue and the parent's applied requests it must have been planned for;
    a plan made for other data, or one that leaves out a request the parent applied, raises :class:`ContractError`.
    """
    root = existing_folder(out_dir, "forget set folder")
    summary = json.loads((root / "summary.json").read_text())
    if data_sha256 is not None and summary["data_sha256"] != data_sha256:
        raise ContractError(f"forget set {root} was planned for other data (sha256 {summary['data_sha256'][:12]}): plan it again")
    missing = sorted(set(applied) - set(summary["request_ids"]))
    if missing:
        raise ContractError(
            f"forget set {root} leaves out {len(missing)} request(s) the parent applied (e.g. {missing[0]!r}): plan it again"
        )
    with np.load(root / "forget_set.npz") as arrays:
        return ForgetPlan(
            forget=_forget_set(arrays, "new"),
            cumulative=_forget_set(arrays, "cumulative"),
            request_ids=summary["request_ids"],
            new_request_ids=summary["new_request_ids"],
            not_applicable=summary["not_applicable"],
            deferred=summary["deferred"],
            counts=summary["counts"],
        )
