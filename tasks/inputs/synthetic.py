"""``mmrecun make-synthetic``: a realistic synthetic catalogue, for when the bundled data is absent.

Users and items live in a latent space of ``n_topics`` clusters; a user's interactions are drawn
by Gumbel-top-k over ``affinity + log popularity`` (long-tailed items and users, as real logs);
each modality's content is a random linear view of the item's latent vector plus noise, so content
carries real signal; a small share of items lacks each modality. Timestamps span one year; no
``split`` column is written, so the contract's per-user chronological 8:1:1 split applies.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from schemas.contracts import TS_TYPE, check_modality_name, interactions_schema, item_features_schema
from schemas.errors import BadParameter
from tasks.inputs.catalogue import embedding_column, write_catalogue
from tasks.paths import replacing_folder

log = logging.getLogger("mmrecun.synthetic")
MIN_ITEMS = 10  # every user interacts with 5 to n_items / 2 items


def make_synthetic(
    out_dir: str | Path,
    n_users: int = 3000,
    n_items: int = 2000,
    modalities: tuple[str, ...] = ("image", "audio"),
    dim: int = 64,
    n_topics: int = 20,
    mean_degree: float = 12.0,
    missing_share: float = 0.03,
    seed: int = 0,
) -> dict:
    """Write a synthetic catalogue to ``out_dir``; return ``{"out", "rows", "modalities"}``.

    Raises :class:`~schemas.errors.BadParameter` for fewer than one user or :data:`MIN_ITEMS` items, and
    :class:`~schemas.errors.BadModalityName` for a modality that cannot name a feature table.
    """
    if n_users < 1 or n_items < MIN_ITEMS:
        raise BadParameter(f"a synthetic catalogue needs at least 1 user and {MIN_ITEMS} items, got {n_users} and {n_items}")
    for m in modalities:
        check_modality_name(m)
    rng = np.random.default_rng(seed)
    latent = 16
    centers = rng.normal(size=(n_topics, latent))
    item_topic = rng.integers(0, n_topics, n_items)
    item_vec = centers[item_topic] + 0.5 * rng.normal(size=(n_items, latent))
    user_vec = centers[rng.integers(0, n_topics, n_users)] + 1.0 * rng.normal(size=(n_users, latent))
    popularity = rng.pareto(1.5, n_items) + 1.0
    degree = np.clip(rng.lognormal(np.log(mean_degree), 0.6, n_users).astype(int), 5, n_items // 2)

    users, items = [], []
    for start in range(0, n_users, 512):
        block = slice(start, min(start + 512, n_users))
        logits = user_vec[block] @ item_vec.T / np.sqrt(latent) + np.log(popularity)
        logits += rng.gumbel(size=logits.shape)
        ranked = np.argsort(-logits, axis=1)
        for row, u in enumerate(range(block.start, block.stop)):
            users.append(np.full(degree[u], u))
            items.append(ranked[row, : degree[u]])
    users, items = np.concatenate(users), np.concatenate(items)
    year_start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    ts = year_start + rng.integers(0, 365 * 86400, len(users)) * 1_000_000
    interactions = pa.Table.from_pydict(
        {"user_id": pa.array(users, pa.int64()), "item_id": pa.array(items, pa.int64()), "ts": pa.array(ts).cast(TS_TYPE)},
        schema=interactions_schema(pa.int64(), split=False),
    )

    features = {}
    for m in modalities:
        view = rng.normal(size=(latent, dim)) / np.sqrt(latent)
        matrix = (item_vec @ view + 0.3 * rng.normal(size=(n_items, dim))).astype(np.float32)
        keep = np.flatnonzero(rng.random(n_items) >= missing_share)
        features[m] = pa.Table.from_arrays([pa.array(keep, pa.int64()), embedding_column(matrix[keep])], schema=item_features_schema(dim))
    with replacing_folder(out_dir) as tmp:
        write_catalogue(tmp, interactions, features)
    rows = {"interactions": interactions.num_rows, **{f"item_features/{m}": t.num_rows for m, t in features.items()}}
    log.info("synthetic catalogue (seed %d) -> %s: %s", seed, out_dir, rows)
    return {"out": str(out_dir), "rows": rows, "modalities": {m: dim for m in modalities}}
