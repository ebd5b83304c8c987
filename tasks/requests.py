"""Forget requests: ``licence_revocations`` and ``erasure_requests`` tables (DESIGN.md), generated and read.

This is the simple reader the unlearning engine needs; the full contract with Great Expectations
validation and cumulative lineage arrives with the data-contracts issue. A FORGET_DIR holds
``licence_revocations.parquet`` and/or ``erasure_requests.parquet``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmrecun_core.data import InteractionData
from mmrecun_core.forget import ForgetSet
from schemas.contracts import TS_TYPE, ContractError
from tasks.catalogue import replacing_folder

log = logging.getLogger("mmrecun.requests")
REVOCATIONS = "licence_revocations.parquet"
ERASURES = "erasure_requests.parquet"
SCENARIOS = ("users", "items", "both", "interactions", "modality")
BASE_TIME = np.datetime64("2026-01-01T00:00:00", "s")


def _timestamps(rng: np.random.Generator, n: int, days_back: int) -> np.ndarray:
    return BASE_TIME - rng.integers(0, days_back * 86400, n).astype("timedelta64[s]")


def _ts_array(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]").astype(np.int64)).cast(pa.timestamp("us")).cast(TS_TYPE)


def make_requests(data: InteractionData, scenario: str, fraction: float, seed: int, out_dir: str | Path) -> dict:
    """Write realistic request tables for ``scenario`` covering ``fraction`` of the users/items/interactions.

    ``users``: whole-user erasures; ``items``: item revocations grouped under licences of 1-8 items;
    ``both``: the two together; ``interactions``: single-interaction erasures; ``modality``: one
    modality of an item revoked. Requests were received in the 60 days before 2026-01-01 and take
    effect up to 30 days later. Returns ``{"out", "revocations", "erasures"}`` (row counts).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {list(SCENARIOS)}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    trained_users = np.flatnonzero(np.diff(data.train.indptr) > 0)
    erasures: dict[str, list] = {"user_id": [], "item_id": []}
    revocations: dict[str, list] = {"item_id": [], "licence_id": [], "scope": [], "reason": []}
    if scenario in ("users", "both"):
        users = rng.choice(trained_users, max(1, round(fraction * len(trained_users))), replace=False)
        erasures["user_id"] += data.user_ids[np.sort(users)].tolist()
        erasures["item_id"] += [None] * len(users)
    if scenario in ("items", "both"):
        order = rng.permutation(data.n_items)
        target = max(1, round(fraction * data.n_items))
        sizes = []
        while sum(sizes) < target:
            sizes.append(int(min(rng.integers(1, 9), target - sum(sizes))))
        start = 0
        for number, size in enumerate(sizes):
            for item in np.sort(order[start : start + size]):
                revocations["item_id"].append(data.item_ids[item].item())
                revocations["licence_id"].append(f"LIC-{seed:03d}-{number:05d}")
                revocations["scope"].append("item")
                revocations["reason"].append(str(rng.choice(["licence expired", "rights holder withdrew", "territory restriction"])))
            start += size
    if scenario == "interactions":
        coo = data.train.tocoo()
        pick = np.sort(rng.choice(coo.nnz, max(1, round(fraction * coo.nnz)), replace=False))
        erasures["user_id"] += data.user_ids[coo.row[pick]].tolist()
        erasures["item_id"] += data.item_ids[coo.col[pick]].tolist()
    if scenario == "modality":
        if not data.modalities:
            raise ValueError("the catalogue has no content modality to revoke")
        items = np.sort(rng.choice(data.n_items, max(1, round(fraction * data.n_items)), replace=False))
        for number, item in enumerate(items):
            revocations["item_id"].append(data.item_ids[item].item())
            revocations["licence_id"].append(f"LIC-{seed:03d}-M{number:05d}")
            revocations["scope"].append(str(rng.choice(data.modalities)))
            revocations["reason"].append("content licence withdrawn")

    id_type = pa.string() if data.user_ids.dtype.kind in "OUS" else pa.int64()
    item_type = pa.string() if data.item_ids.dtype.kind in "OUS" else pa.int64()
    with replacing_folder(out_dir) as tmp:
        n_e = len(erasures["user_id"])
        if n_e:
            received = _timestamps(rng, n_e, 60)
            pq.write_table(pa.table({
                "request_id": pa.array([f"ER-{seed:03d}-{i:06d}" for i in range(n_e)]),
                "user_id": pa.array(erasures["user_id"], id_type),
                "item_id": pa.array(erasures["item_id"], item_type),
                "received_at": _ts_array(received),
                "effective_at": _ts_array(received + rng.integers(0, 30 * 86400, n_e).astype("timedelta64[s]")),
                "legal_basis": pa.array(["GDPR Art. 17(1)(b)"] * n_e),
            }), tmp / ERASURES)
        n_r = len(revocations["item_id"])
        if n_r:
            effective = _timestamps(rng, n_r, 30)
            pq.write_table(pa.table({
                "revocation_id": pa.array([f"RV-{seed:03d}-{i:06d}" for i in range(n_r)]),
                "item_id": pa.array(revocations["item_id"], item_type),
                "licence_id": pa.array(revocations["licence_id"]),
                "scope": pa.array(revocations["scope"]),
                "effective_at": _ts_array(effective),
                "reason": pa.array(revocations["reason"]),
            }), tmp / REVOCATIONS)
    return {"out": str(out_dir), "revocations": n_r, "erasures": n_e}


@dataclass
class ForgetRequests:
    """The forget set of the requests effective at ``cutoff``, and what was (not) applied."""

    forget: ForgetSet
    request_ids: list[str]
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _lookup(ids: np.ndarray, values: list) -> np.ndarray:
    """Index of each value in the sorted external ``ids``; -1 where absent."""
    values = np.asarray(values, dtype=ids.dtype)
    pos = np.clip(np.searchsorted(ids, values), 0, len(ids) - 1)
    return np.where(ids[pos] == values, pos, -1)


def read_forget_requests(forget_dir: str | Path, data: InteractionData, cutoff: datetime | None = None) -> ForgetRequests:
    """Read the request tables in ``forget_dir`` effective at ``cutoff`` (default now) into a forget set.

    Requests naming users or items absent from the catalogue are reported as not applicable.
    """
    root = Path(forget_dir)
    if not root.is_dir():
        raise ContractError(f"forget folder {root} does not exist")
    if not (root / REVOCATIONS).is_file() and not (root / ERASURES).is_file():
        raise ContractError(f"forget folder {root} holds neither {REVOCATIONS} nor {ERASURES}")
    cutoff_us = np.datetime64((cutoff or datetime.now(timezone.utc)).replace(tzinfo=None), "us")
    users, pairs, items, modality_items = [], [], [], {}
    applied, not_applicable = [], {"unknown_user": [], "unknown_item": [], "unknown_modality": []}
    counts = {"user_erasures": 0, "interaction_erasures": 0, "item_revocations": 0, "modality_revocations": 0, "not_yet_effective": 0}

    def read(name: str, required: tuple[str, ...]) -> pa.Table:
        try:
            table = pq.read_table(root / f"{name}.parquet")
        except (pa.ArrowException, OSError) as exc:
            raise ContractError(f"{name}: {root / f'{name}.parquet'} is not a readable Parquet file ({exc})") from exc
        missing = [c for c in required if c not in table.column_names]
        if missing:
            raise ContractError(f"{name}: missing column(s) {missing} (columns present: {table.column_names})")
        return table

    def effective(table: pa.Table, name: str) -> np.ndarray:
        eff = table.column("effective_at")
        if eff.null_count:
            raise ContractError(f"{name}: {eff.null_count} requests have no effective_at")
        return eff.cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]") <= cutoff_us

    if (root / ERASURES).is_file():
        t = read("erasure_requests", ("request_id", "user_id", "item_id", "effective_at"))
        now = effective(t, "erasure_requests")
        counts["not_yet_effective"] += int((~now).sum())
        t = t.filter(pa.array(now))
        ids = t.column("request_id").to_pylist()
        u = _lookup(data.user_ids, t.column("user_id").to_pylist())
        item_col = t.column("item_id").to_pylist()
        for rid, ui, it in zip(ids, u, item_col):
            if ui < 0:
                not_applicable["unknown_user"].append(rid)
                continue
            if it is None:
                users.append(ui)
                counts["user_erasures"] += 1
            else:
                ii = _lookup(data.item_ids, [it])[0]
                if ii < 0:
                    not_applicable["unknown_item"].append(rid)
                    continue
                pairs.append((ui, ii))
                counts["interaction_erasures"] += 1
            applied.append(rid)
    if (root / REVOCATIONS).is_file():
        t = read("licence_revocations", ("revocation_id", "item_id", "scope", "effective_at"))
        now = effective(t, "licence_revocations")
        counts["not_yet_effective"] += int((~now).sum())
        t = t.filter(pa.array(now))
        idx = _lookup(data.item_ids, t.column("item_id").to_pylist())
        for rid, ii, scope in zip(t.column("revocation_id").to_pylist(), idx, t.column("scope").to_pylist()):
            if ii < 0:
                not_applicable["unknown_item"].append(rid)
            elif scope == "item":
                items.append(ii)
                counts["item_revocations"] += 1
                applied.append(rid)
            elif scope in data.features:
                modality_items.setdefault(scope, []).append(ii)
                counts["modality_revocations"] += 1
                applied.append(rid)
            else:
                not_applicable["unknown_modality"].append(rid)
    forget = ForgetSet.of(users=users, items=items, pairs=pairs, modality_items=modality_items)
    log.info("requests effective at %s: %s; not applicable: %s", cutoff_us, counts, {k: len(v) for k, v in not_applicable.items()})
    return ForgetRequests(forget, applied, {k: v for k, v in not_applicable.items() if v}, counts)
