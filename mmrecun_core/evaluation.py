"""Full-ranking evaluation: every item is ranked for every evaluated user, training items masked."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.data import InteractionData
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.metrics import METRICS
from mmrecun_core.models.base import Embeddings, GraphRecommender

DEFAULT_KS = (10, 20, 50)
_SCORE_BUDGET = 1 << 25  # floats of the [users, items] score block held at once (128 MiB)


def _rows_to_dense(m: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    sub = m[rows].tocoo()
    dense = torch.zeros(len(rows), m.shape[1], dtype=torch.bool, device=device)
    dense[torch.from_numpy(sub.row).to(device), torch.from_numpy(sub.col).to(device)] = True
    return dense


def ranked_blocks(
    emb: Embeddings, users: np.ndarray, mask: sp.csr_matrix, k: int, batch_size: int = 4096, excluded_items: np.ndarray | None = None
):
    """Yield ``(start, rows, top)`` per block of ``users`` (int64 ``[u]``): ``top`` the ``torch.topk`` of the block's
    scores at ``k`` (or every item), with each user's items of ``mask`` (CSR ``[n_u, n_i]``) and ``excluded_items``
    (int64, masked for every user: revoked items, as served) not ranked. ``rows``: the block's users; masked items
    score -inf, so they come last."""
    device = emb.users.device
    n_items = emb.items.shape[0]
    step = max(1, min(batch_size, _SCORE_BUDGET // max(n_items, 1)))
    excluded = None
    if excluded_items is not None and len(excluded_items):
        excluded = torch.from_numpy(np.asarray(excluded_items, dtype=np.int64)).to(device)
    for start in range(0, len(users), step):
        rows = users[start : start + step]
        scores = GraphRecommender.score(emb, torch.from_numpy(rows).to(device))
        scores.masked_fill_(_rows_to_dense(mask, rows, device), -torch.inf)
        if excluded is not None:
            scores.index_fill_(1, excluded, -torch.inf)
        yield start, rows, scores.topk(min(k, n_items), dim=1)


def top_k_hits(
    emb: Embeddings,
    users: np.ndarray,
    targets: sp.csr_matrix,
    mask: sp.csr_matrix,
    k: int,
    batch_size: int = 4096,
    excluded_items: np.ndarray | None = None,
) -> np.ndarray:
    """Rank all items for ``users`` (int64 ``[u]``) with ``mask``ed items and ``excluded_items`` excluded (see
    :func:`ranked_blocks`); return bool hits ``[u, k]``.

    ``targets`` and ``mask``: CSR ``[n_u, n_i]``; ``hits[j, r]`` is True when the item ranked ``r``-th
    for ``users[j]`` is in its row of ``targets``. Users are scored in blocks of at most ``batch_size``.
    """
    out = np.zeros((len(users), k), dtype=bool)
    for start, rows, top in ranked_blocks(emb, users, mask, k, batch_size, excluded_items):
        found = _rows_to_dense(targets, rows, top.indices.device).gather(1, top.indices)
        out[start : start + len(rows), : found.shape[1]] = found.cpu().numpy()
    return out


def cutoff_items(emb: Embeddings, users: np.ndarray, mask: sp.csr_matrix, k: int, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The item ranked ``k + 1``-th for each of ``users`` (int64 ``[u]``), ``mask``ed items excluded: the first one out
    of a top-``k`` list. Returns its index (int64 ``[u]``) and score (float32 ``[u]``): an item of the user is in the
    top ``k`` when it scores above it. The score is -inf for a user with no more than ``k`` unmasked items (every one
    of them is in the list)."""
    items, scores = np.zeros(len(users), np.int64), np.full(len(users), -np.inf, np.float32)
    for start, rows, top in ranked_blocks(emb, users, mask, k + 1, batch_size):
        if top.indices.shape[1] > k:  # a catalogue of k items or fewer: every item is in the list, none is out
            items[start : start + len(rows)] = top.indices[:, -1].cpu().numpy()
            scores[start : start + len(rows)] = top.values[:, -1].cpu().numpy()
    return items, scores


def ranking_metrics(hits: np.ndarray, n_pos: np.ndarray, ks=DEFAULT_KS) -> dict[str, float]:
    """Mean of every metric of :mod:`mmrecun_core.metrics` at every ``k``: keys like ``recall@20``."""
    if len(n_pos) == 0:
        return {f"{name}@{k}": float("nan") for name in METRICS for k in ks}
    return {f"{name}@{k}": float(fn(hits, n_pos, k).mean()) for name, fn in METRICS.items() for k in ks}


@torch.no_grad()
def evaluate(
    model: GraphRecommender, graphs: GraphBundle, data: InteractionData, split: str, ks=DEFAULT_KS, excluded_items: np.ndarray | None = None
) -> dict[str, float]:
    """Recall/NDCG/Precision/Hit @ ``ks`` on ``split`` (``valid`` or ``test``), training items masked,
    as served: ``excluded_items`` (revoked) are never ranked.

    Users: those with a positive in ``split`` and a training interaction (MMRec). Returns metric -> mean,
    plus ``n_users`` (how many users were evaluated).
    """
    was_training = model.training
    model.eval()
    emb = model.propagate(graphs)
    model.train(was_training)
    targets = {"valid": data.valid, "test": data.test}[split]
    users = data.eval_users(split)
    hits = top_k_hits(emb, users, targets, data.train, max(ks), excluded_items=excluded_items)
    n_pos = np.diff(targets.indptr)[users]
    return {**ranking_metrics(hits, n_pos, ks), "n_users": int(len(users))}
