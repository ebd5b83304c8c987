"""Graphs of MGCN: the normalised user-item adjacency and the per-modality item kNN graphs.

Both follow MMRec (enoche/MMRec, ``models/mgcn.py`` and ``utils/utils.py``):

* user-item: ``A = [[0, R], [R^T, 0]]``, ``Â = D^-1/2 A D^-1/2`` (LightGCN, He et al. 2020, eq. 7);
  MGCN also uses the user-item block ``R̂ = D_u^-1/2 R D_i^-1/2`` to lift item content to users.
* item-item, per modality: each item's ``k`` most cosine-similar items, *itself included*, with
  the cosine as edge weight; ``S_ij = d_i^-1/2 s_ij d_j^-1/2`` with ``d_i`` the row sum of kept
  similarities (MGCN, Yu et al. 2023, eq. 3). The kNN graph is directed (not symmetrised).

One deliberate difference from MMRec: an item whose content is missing in a modality (no row, or
deleted by a revocation; its features hold the modality mean) has no content neighbours there.
It is nobody's neighbour and its own row of ``S`` is a self-loop (MMRec searches the mean-filled
rows like any other). Why: docs/decisions/006-missing-content-has-no-neighbours.md

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

from mmrecun_core.data import DataError, ModalityFeatures
from mmrecun_core.sparse import SparseOperator


@dataclass(frozen=True)
class KnnGraph:
    """Top-k neighbours of every item. ``index``: int64 ``[n, k]``; ``sim``: float32 ``[n, k]``, descending."""

    index: torch.Tensor
    sim: torch.Tensor

    def isolates(self, items: np.ndarray) -> bool:
        """Whether every one of ``items`` (int64) is its own only neighbour and no other item's: what :func:`knn_graph`
        gives rows whose content is missing. True for no items."""
        mine = torch.from_numpy(np.asarray(items, dtype=np.int64)).to(self.index.device)
        if len(mine) == 0:
            return True
        citing = torch.isin(self.index, mine).any(1)  # rows that name one of the items
        citing[mine] = False
        return bool((self.index[mine] == mine.unsqueeze(1)).all()) and not bool(citing.any())


def _group_max(s: torch.Tensor, group: int, dim: int) -> torch.Tensor:
    """Maxima of the strided groups of ``s`` ``[m, c]`` along ``dim``: group ``g`` holds indices ``g, g + G, g + 2G, ...``
    with ``G = ceil(len / group)`` groups (missing indices count as -inf).

    ``dim=1``: ``[m, G]``; ``dim=0``: ``[G, c]``. Strided (not consecutive) groups turn the maximum
    into a reduction over an outer axis, which vectorises over the contiguous inner one.
    """
    length = s.shape[dim]
    n_groups = -(-length // group)
    pad = n_groups * group - length
    if dim == 1:
        s = F.pad(s, (0, pad), value=-torch.inf) if pad else s
        return s.reshape(s.shape[0], group, n_groups).amax(dim=1)
    s = F.pad(s, (0, 0, 0, pad), value=-torch.inf) if pad else s
    return s.reshape(group, n_groups, s.shape[1]).amax(dim=0)


def _top_k(values: torch.Tensor, index: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best of each row of ``values`` / ``index`` ``[a, w]``: larger value first, ties to the lower index.

    A total order, so the graph does not depend on block size, locality order or device.
    """
    by_index = index.argsort(dim=1)
    values, index = values.gather(1, by_index), index.gather(1, by_index)
    best = values.sort(dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, best), index.gather(1, best)


def _merge_topk(best_val, best_idx, rows: slice, s: torch.Tensor, group_max: torch.Tensor, col_ids: torch.Tensor, group: int) -> None:
    """Fold candidate block ``s`` ``[m, c]`` into the running top-k of ``rows``; column ``j`` is item ``col_ids[j]``.

    ``group_max`` ``[m, G]``: maxima of the strided column groups of ``s`` (:func:`_group_max`).
    Exact pre-selection: an entry can enter row ``r``'s top-k only if it is at least the current
    k-th best ``t_r`` (ties can win on index), so only groups whose maximum reaches ``t_r`` matter;
    with ``T`` the most such groups in any row, the ``T`` groups with the largest maxima hold every
    candidate; and the k best entries of a row lie in its k groups with the largest maxima, so
    ``T <= k``. Rows with no qualifying group are left out; as the running top-k fills, most rows
    are, and a late block costs little beyond its group maxima.
    """
    c = s.shape[1]
    k = best_val.shape[1]
    n_groups = group_max.shape[1]
    qualifying = torch.count_nonzero(group_max >= best_val[rows, k - 1 :], dim=1)  # [m]
    active = qualifying.nonzero().squeeze(1)  # rows of the block that can still change
    if active.numel() == 0:
        return
    n_top = min(k, int(qualifying.max()))
    top_groups = group_max[active].topk(n_top, dim=1).indices  # [a, T]
    cand_col = (top_groups.unsqueeze(2) + n_groups * torch.arange(group, device=s.device)).reshape(len(active), n_top * group)
    outside = cand_col >= c  # padding columns of the last block
    cand_col = cand_col.clamp_(max=c - 1)
    cand_val = s[active.unsqueeze(1), cand_col].masked_fill_(outside, -torch.inf)
    target = active + rows.start
    best_val[target], best_idx[target] = _top_k(
        torch.cat([best_val[target], cand_val], dim=1), torch.cat([best_idx[target], col_ids[cand_col]], dim=1), k
    )


def _locality_order(x: torch.Tensor, block: int, iterations: int = 5, chunk: int = 65536) -> torch.Tensor:
    """A permutation ``[n]`` that puts similar rows of ``x`` (unit rows ``[n, d]``) near each other.

    Spherical k-means with about two clusters per block, seeded deterministically, then rows sorted
    by cluster. Only the order of the kNN search depends on it, never its result.
    """
    n = x.shape[0]
    n_clusters = 2 * -(-n // block)
    if n_clusters <= 2:
        return torch.arange(n, device=x.device)
    generator = torch.Generator().manual_seed(0)
    centroids = x[torch.randperm(n, generator=generator)[:n_clusters].to(x.device)]
    assign = torch.empty(n, dtype=torch.long, device=x.device)
    for _ in range(iterations):
        for start in range(0, n, chunk):
            assign[start : start + chunk] = (x[start : start + chunk] @ centroids.T).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        norms = sums.norm(dim=1, keepdim=True)
        centroids = torch.where(norms > 0, sums / norms.clamp_min(1e-12), centroids)
    return torch.argsort(assign, stable=True)


def knn_graph(features: torch.Tensor, k: int = 10, missing: np.ndarray | None = None, **search) -> KnnGraph:
    """The kNN graph of ``features`` ``[n, d]``: :func:`knn_search` over the rows whose content is known.

    ``missing``: bool ``[n]``, True where the row only holds a filled-in mean (None = all known).
    Missing rows are left out of the search (no known row has one as a neighbour) and each gets a
    self-loop instead: neighbour ``i`` with similarity 1, the other slots padded with ``i`` at
    similarity 0, which adds nothing to ``S``. The known rows' neighbours are exactly those of the
    search over the known rows alone (ties still go to the lower item index).
    ``search``: ``block``, ``group``, ``margin`` of :func:`knn_search`.
    """
    if missing is None or not np.any(missing):
        return knn_search(features, k, **search)
    missing = np.asarray(missing, dtype=bool)
    if len(missing) != len(features):
        raise ValueError(f"missing flags {len(missing)} rows, the features have {len(features)}")
    if missing.all():
        raise DataError("every row of this modality is missing: there is no content to build a kNN graph from")
    known = torch.from_numpy(np.flatnonzero(~missing)).to(features.device)
    found = knn_search(features[known], k, **search)
    width = found.index.shape[1]
    n = len(missing)
    index = torch.arange(n, device=features.device).unsqueeze(1).repeat(1, width)
    sim = torch.zeros(n, width, device=features.device)
    sim[:, 0] = 1.0
    index[known], sim[known] = known[found.index], found.sim
    return KnnGraph(index, sim)


def modality_knn(features: ModalityFeatures, k: int = 10, device: torch.device | str = "cpu") -> KnnGraph:
    """:func:`knn_graph` of one modality's table: its ``matrix`` ``[n_items, d]`` on ``device``, its ``missing`` rows flagged."""
    return knn_graph(torch.from_numpy(features.matrix).to(device), k, features.missing)


def knn_search(features: torch.Tensor, k: int = 10, block: int = 2048, group: int = 16, margin: int = 6) -> KnnGraph:
    """Exact cosine top-``k`` neighbours (self included) of each row of ``features`` ``[n, d]``.

    The search keeps ``k + margin`` candidates in float32; they are re-scored in float64 and the
    best ``k`` kept, larger similarity first and equal similarity (duplicate feature rows are
    common in real data) to the lower item index, so the graph does not depend on block layout,
    locality order or device rounding. Walks the blocks of the similarity matrix's upper triangle (it is symmetric, so each block
    serves its rows and its columns), diagonal blocks first, over rows put in a locality order
    (:func:`_locality_order`): most neighbours then sit in a row's own block, its running top-k is
    nearly final after the first pass, and later blocks are mostly skipped by the exact group-maximum
    test of :func:`_merge_topk`. Memory is ``O(block^2 + n k)``, never ``O(n^2)``. Returns
    :class:`KnnGraph` with ``[n, min(k, n)]`` tensors (original row order) on the device of ``features``.
    """
    x = F.normalize(features.float(), dim=1)
    n = x.shape[0]
    k_final = min(k, n)
    k = min(k + margin, n)
    order = _locality_order(x, block)
    x = x[order]
    best_val = torch.full((n, k), -torch.inf, device=x.device)
    best_idx = torch.full((n, k), n, dtype=torch.long, device=x.device)  # item ids; n = none yet
    buffer = torch.empty(min(block, n) ** 2, device=x.device)
    starts = range(0, n, block)
    pairs = [(i, i) for i in starts] + [(i, j) for i in starts for j in starts if j > i]
    for i0, j0 in pairs:
        i1, j1 = min(i0 + block, n), min(j0 + block, n)
        s = buffer[: (i1 - i0) * (j1 - j0)].view(i1 - i0, j1 - j0)
        torch.mm(x[i0:i1], x[j0:j1].T, out=s)
        _merge_topk(best_val, best_idx, slice(i0, i1), s, _group_max(s, group, dim=1), order[j0:j1], group)
        if j0 != i0:
            _merge_topk(best_val, best_idx, slice(j0, j1), s.T, _group_max(s, group, dim=0).T, order[i0:i1], group)
    candidates = torch.empty_like(best_idx)
    candidates[order] = best_idx
    return _rescore(F.normalize(features.double(), dim=1), candidates, k_final)


def _rescore(x: torch.Tensor, candidates: torch.Tensor, k: int, chunk: int = 8192) -> KnnGraph:
    """Best ``k`` of ``candidates`` ``[n, w]`` by float64 cosine (``x``: unit rows ``[n, d]``, float64), ties to the lower index."""
    index, sim = [], []
    for start in range(0, len(x), chunk):
        cand = candidates[start : start + chunk]
        scores = (x[start : start + chunk].unsqueeze(1) * x[cand]).sum(dim=2)  # [chunk, w]
        top_sim, top_idx = _top_k(scores, cand, k)
        index.append(top_idx)
        sim.append(top_sim.float())
    return KnnGraph(torch.cat(index), torch.cat(sim))


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
