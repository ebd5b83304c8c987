"""Realistic forget requests for demos and benchmarks: ``licence_revocations`` and ``erasure_requests`` tables.

A requests folder holds ``licence_revocations.parquet`` and/or ``erasure_requests.parquet``
(:mod:`schemas.contracts`); :mod:`tasks.pipeline.forget_set` reads them, :mod:`schemas.suites` validates them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmrecun_core.data import InteractionData
from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE, TS_TYPE
from schemas.errors import BadParameter, ContractError
from tasks.inputs.scenarios import SCENARIOS
from tasks.paths import replacing_folder

INTERACTION_SHARE = 0.2
BASE_TIME = np.datetime64("2026-01-01T00:00:00", "s")


def _timestamps(rng: np.random.Generator, n: int, days_back: int) -> np.ndarray:
    return BASE_TIME - rng.integers(0, days_back * 86400, n).astype("timedelta64[s]")


def _ts_array(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]").astype(np.int64)).cast(pa.timestamp("us")).cast(TS_TYPE)


def make_requests(data: InteractionData, scenario: str, fraction: float, seed: int, out_dir: str | Path) -> dict:
    """Write realistic request tables for ``scenario`` covering ``fraction`` of the users/items/interactions.

    ``users``: whole-user erasures; ``items``: item revocations grouped under licences of 1-8 items;
    ``both``: the two together; ``interactions``: ``fraction`` of the users with two or more training
    interactions each erase ``INTERACTION_SHARE`` of them (at least one; outdated preferences), drawn
    uniformly (the core's data keeps no time per training pair); ``modality``: one modality of an item revoked.
    Requests were received in the 60 days before 2026-01-01 and take effect up to 30 days later. Returns
    ``{"out", "revocations", "erasures"}`` (row counts).
    """
    if scenario not in SCENARIOS:
        raise BadParameter(f"unknown scenario {scenario!r}; choose one of {list(SCENARIOS)}")
    if not 0 < fraction <= 1:
        raise BadParameter(f"fraction must lie in (0, 1], got {fraction}")
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
                revocations["item_id"].append(data.item_ids[[item]].tolist()[0])
                revocations["licence_id"].append(f"LIC-{seed:03d}-{number:05d}")
                revocations["scope"].append("item")
                revocations["reason"].append(str(rng.choice(["licence expired", "rights holder withdrew", "territory restriction"])))
            start += size
    if scenario == "interactions":
        counts = np.diff(data.train.indptr)
        eligible = np.flatnonzero(counts >= 2)  # a user keeps at least one training interaction
        users = np.sort(rng.choice(eligible, max(1, round(fraction * len(eligible))), replace=False))
        for u in users:
            items = data.train.indices[data.train.indptr[u] : data.train.indptr[u + 1]]
            gone = np.sort(rng.choice(items, max(1, int(np.ceil(INTERACTION_SHARE * len(items)))), replace=False))
            erasures["user_id"] += data.user_ids[np.full(len(gone), u)].tolist()
            erasures["item_id"] += data.item_ids[gone].tolist()
    if scenario == "modality":
        if not data.modalities:
            raise ContractError("the catalogue has no content modality to revoke")
        items = np.sort(rng.choice(data.n_items, max(1, round(fraction * data.n_items)), replace=False))
        for number, item in enumerate(items):
            revocations["item_id"].append(data.item_ids[[item]].tolist()[0])
            revocations["licence_id"].append(f"LIC-{seed:03d}-M{number:05d}")
            revocations["scope"].append(str(rng.choice(data.modalities)))
            revocations["reason"].append("content licence withdrawn")

    id_type = pa.string() if data.user_ids.dtype.kind in "OUS" else pa.int64()
    item_type = pa.string() if data.item_ids.dtype.kind in "OUS" else pa.int64()
    with replacing_folder(out_dir) as tmp:
        n_e = len(erasures["user_id"])
        if n_e:
            received = _timestamps(rng, n_e, 60)
            pq.write_table(
                pa.table(
                    {
                        "request_id": pa.array([f"ER-{seed:03d}-{i:06d}" for i in range(n_e)]),
                        "user_id": pa.array(erasures["user_id"], id_type),
                        "item_id": pa.array(erasures["item_id"], item_type),
                        "received_at": _ts_array(received),
                        "effective_at": _ts_array(received + rng.integers(0, 30 * 86400, n_e).astype("timedelta64[s]")),
                        "legal_basis": pa.array(["GDPR Art. 17(1)(b)"] * n_e),
                    }
                ),
                tmp / ERASURES_FILE,
            )
        n_r = len(revocations["item_id"])
        if n_r:
            effective = _timestamps(rng, n_r, 30)
            pq.write_table(
                pa.table(
                    {
                        "revocation_id": pa.array([f"RV-{seed:03d}-{i:06d}" for i in range(n_r)]),
                        "item_id": pa.array(revocations["item_id"], item_type),
                        "licence_id": pa.array(revocations["licence_id"]),
                        "scope": pa.array(revocations["scope"]),
                        "effective_at": _ts_array(effective),
                        "reason": pa.array(revocations["reason"]),
                    }
                ),
                tmp / REVOCATIONS_FILE,
            )
    return {"out": str(out_dir), "revocations": n_r, "erasures": n_e}
