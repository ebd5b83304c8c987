"""Graphs of MGCN: the normalised user-item adjacency and the per-modality item kNN graphs.

Both follow MMRec (enoche/MMRec, ``models/mgcn.py`` and ``utils/utils.py``):

* user-item: ``A = [[0, R], [R^T, 0]]``, ``Â = D^-1/2 A D^-1/2`` (LightGCN, He et al. 2020, eq. 7);
  MGCN also uses the user-item block ``R̂ = D_u^-1/2 R D_i^-1/2`` to lift item content to users.
* item-item, per modality: each item's ``k`` most cosine-similar items, *itself included*, with
  the cosine as edge weight; ``S_ij = d_i^-1/2 s_ij d_j^-1/2`` with ``d_i`` the row sum of kept
  similarities (MGCN, Yu et al. 2023, eq. 3). The kNN graph is directed (not symmetrised).

The kNN search is exact and never materialises the ``n x n`` similarity matrix: it walks blocks
of the upper triangle (the similarity is symmetric, so each block serves both its rows and its
columns) and keeps a running top-k per item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from mmrecun_core.sparse import SparseOperator


@dataclass(frozen=True)
class KnnGraph:
    """Top-k neighbours of every item. ``index``: int64 ``[n, k]``; ``sim``: float32 ``[n, k]``, descending."""

    index: torch.Tensor
    sim: torch.Tensor


def _merge_topk(best_val, best_idx, rows: slice, s: torch.Tensor, col0: int, group: int) -> None:
    """Fold candidate block ``s`` ``[m, c]`` (columns ``col0..col0+c``) into the running top-k of ``rows``.

    Exact pre-selection: an entry can enter row ``r``'s top-k only if it beats the current k-th
    best ``t_r``, so only column groups whose maximum exceeds ``t_r`` matter; with ``G`` the most such
    groups in any row, the ``G`` groups with the largest maxima hold every candidate; and the k
    largest entries of a row always lie in its k groups with the largest maxima, so ``G <= k``.
    ``G`` falls towards 0 as the running top-k fills: late blocks cost one pass over ``s``.
    """
    m, c = s.shape
    k = best_val.shape[1]
    threshold = best_val[rows, k - 1 :]  # [m, 1]
    n_groups = -(-c // group)
    pad = n_groups * group - c
    padded = F.pad(s, (0, pad), value=-torch.inf) if pad else s
    if padded.is_contiguous():
        group_max = padded.reshape(m, n_groups, group).amax(dim=2)
    else:  # a transposed view: reduce over the rows of the underlying block
        group_max = padded.mT.reshape(n_groups, group, m).amax(dim=1).T
    n_top = min(k, int((group_max > threshold).sum(dim=1).max()))
    if n_top == 0:
        return
    top_groups = group_max.topk(n_top, dim=1).indices  # [m, G]
    cand_col = (top_groups.unsqueeze(2) * group + torch.arange(group, device=s.device)).reshape(m, n_top * group)
    outside = cand_col >= c  # padding columns of the last group
    cand_val = s.gather(1, cand_col.clamp(max=c - 1)).masked_fill_(outside, -torch.inf)
    all_val = torch.cat([best_val[rows], cand_val], dim=1)
    all_idx = torch.cat([best_idx[rows], cand_col + col0], dim=1)
    top_val, pos = all_val.topk(k, dim=1)
    best_val[rows] = top_val
    best_idx[rows] = all_idx.gather(1, pos)


def knn_graph(features: torch.Tensor, k: int = 10, block: int = 4096, group: int = 16) -> KnnGraph:
    """Exact cosine top-``k`` neighbours (self included) of each row of ``features`` ``[n, d]``.

    Memory is ``O(block^2 + n k)``, never ``O(n^2)``; the ``[block, block]`` similarity buffer is
    reused. Returns :class:`KnnGraph` with ``[n, min(k, n)]`` tensors on the device of ``features``.
    """
    x = F.normalize(features.float(), dim=1)
    n = x.shape[0]
    k = min(k, n)
    best_val = torch.full((n, k), -torch.inf, device=x.device)
    best_idx = torch.zeros((n, k), dtype=torch.long, device=x.device)
    buffer = torch.empty(min(block, n) ** 2, device=x.device)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        for j0 in range(i0, n, block):
            j1 = min(j0 + block, n)
            s = buffer[: (i1 - i0) * (j1 - j0)].view(i1 - i0, j1 - j0)
            torch.mm(x[i0:i1], x[j0:j1].T, out=s)
            _merge_topk(best_val, best_idx, slice(i0, i1), s, j0, group)
            if j0 != i0:
                _merge_topk(best_val, best_idx, slice(j0, j1), s.T, i0, group)
    return KnnGraph(best_idx, best_val)


def knn_adjacency(graph: KnnGraph, n: int) -> sp.csr_matrix:
    """Symmetrically normalised kNN adjacency ``S`` ``[n, n]`` (MGCN eq. 3, MMRec ``get_sparse_laplacian``).

    Rows whose kept similarities sum to <= 0 get weight 0 (MMRec would produce NaN there).
    """
    sim = graph.sim.detach().cpu().double().numpy()
    idx = graph.index.detach().cpu().numpy()
    deg = sim.sum(axis=1)
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.clip(deg, 1e-30, None)), 0.0)
    rows = np.repeat(np.arange(n), idx.shape[1])
    vals = (inv_sqrt[rows] * sim.ravel() * inv_sqrt[idx.ravel()]).astype(np.float32)
    return sp.csr_matrix((vals, (rows, idx.ravel())), shape=(n, n))


def normalized_user_item(train: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Return ``(Â [n_u+n_i, n_u+n_i], R̂ [n_u, n_i])``, both ``D^-1/2 . D^-1/2`` normalised (zero degree -> 0)."""
    n_users, n_items = train.shape
    r = sp.csr_matrix(train, dtype=np.float32)
    d_user = np.asarray(r.sum(axis=1)).ravel()
    d_item = np.asarray(r.sum(axis=0)).ravel()
    inv_u = np.where(d_user > 0, 1.0 / np.sqrt(np.maximum(d_user, 1e-30)), 0.0).astype(np.float32)
    inv_i = np.where(d_item > 0, 1.0 / np.sqrt(np.maximum(d_item, 1e-30)), 0.0).astype(np.float32)
    r_hat = sp.diags(inv_u) @ r @ sp.diags(inv_i)
    a_hat = sp.bmat([[None, r_hat], [r_hat.T, None]], format="csr", dtype=np.float32)
    a_hat.resize((n_users + n_items, n_users + n_items))
    return a_hat, sp.csr_matrix(r_hat)


@dataclass(frozen=True)
class GraphBundle:
    """Everything MGCN/LightGCN propagate over, on one device.

    ``adj``: ``Â`` ``[n_u+n_i]^2`` (symmetric); ``user_item``: ``R̂`` ``[n_u, n_i]``;
    ``modality``: name -> kNN ``S`` ``[n_i, n_i]``.
    """

    adj: SparseOperator
    user_item: SparseOperator
    modality: dict[str, SparseOperator]

    def to(self, device: torch.device | str) -> "GraphBundle":
        return GraphBundle(self.adj.to(device), self.user_item.to(device), {m: g.to(device) for m, g in self.modality.items()})


def build_graphs(train: sp.csr_matrix, knn: dict[str, KnnGraph], device: torch.device | str) -> GraphBundle:
    """Return the :class:`GraphBundle` for training matrix ``train`` ``[n_u, n_i]`` and per-modality kNN graphs."""
    a_hat, r_hat = normalized_user_item(train)
    n_items = train.shape[1]
    return GraphBundle(
        SparseOperator.from_scipy(a_hat, device, symmetric=True),
        SparseOperator.from_scipy(r_hat, device),
        {m: SparseOperator.from_scipy(knn_adjacency(g, n_items), device) for m, g in knn.items()},
    )
