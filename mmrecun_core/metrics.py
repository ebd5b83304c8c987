"""Top-K ranking metrics, one pure function each (RecBole/MMRec definitions).

Every function takes ``hits``: bool ``[n_users, K]`` (``hits[u, r]`` = the item ranked ``r``-th for
``u`` is a positive) and ``n_pos``: int ``[n_users]`` (positives per user, > 0), and returns the
per-user values float64 ``[n_users]`` at cut-off ``k <= K``; a report averages them over users.
"""

from __future__ import annotations

import numpy as np


def recall_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """``|top-k ∩ positives| / |positives|``."""
    return hits[:, :k].sum(axis=1) / n_pos


def precision_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """``|top-k ∩ positives| / k``."""
    return hits[:, :k].sum(axis=1) / k


def hit_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """1 if any of the top-k is a positive, else 0."""
    return hits[:, :k].any(axis=1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """``DCG@k / IDCG@k`` with binary gains, ``DCG = Σ_r hit_r / log2(r + 1)`` (r from 1), IDCG over ``min(n_pos, k)`` hits."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits[:, :k] * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_pos, k) - 1]
    return dcg / ideal


METRICS = {"recall": recall_at_k, "ndcg": ndcg_at_k, "precision": precision_at_k, "hit": hit_at_k}
