"""Evidence of forgetting (docs/design.md, "Evidence and gates"), one pure function per measure.

Scores are dot products of :class:`~mmrecun_core.models.base.Embeddings`; every function works in
blocks so that no ``[n_users, n_items]`` matrix is held at once.

The content trace (:func:`content_trace`) judges modality revocations: an attacker who holds the
withdrawn content and the model tries to tell which withdrawn content belongs to which item (the
method and its reading: ``docs/decisions/003-content-trace.md``); the membership attacker of erasures, in
:mod:`~mmrecun_core.unlearning.membership`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.evaluation import ranked_blocks, top_k_hits
from mmrecun_core.metrics import recall_at_k
from mmrecun_core.models.base import Embeddings
from mmrecun_core.sampling import NegativeSampler, PopularityPeerSampler
from mmrecun_core.unlearning.held_out import item_degree
from mmrecun_core.unlearning.membership import held_out_auc, held_out_levels, membership_auc, membership_scores, score_histograms

_BLOCK = 1 << 24  # score entries per block


def forget_recall(emb: Embeddings, forgotten: sp.csr_matrix, retained_train: sp.csr_matrix, k: int = 20) -> float:
    """User-centric forgetting: mean Recall@``k`` with each user's forgotten interactions as targets.

    ``forgotten`` / ``retained_train``: CSR ``[n_u, n_i]``; the user's retained training items are
    masked (MMRecUN's protocol). Averaged over users with >= 1 forgotten interaction; NaN if none.
    """
    users = np.flatnonzero(np.diff(forgotten.indptr) > 0).astype(np.int64)
    if len(users) == 0:
        return float("nan")
    hits = top_k_hits(emb, users, forgotten, retained_train, k)
    return float(recall_at_k(hits, np.diff(forgotten.indptr)[users], k).mean())


def item_recall(emb: Embeddings, items: np.ndarray, interactions: sp.csr_matrix, ks=(500, 1000, 1500)) -> dict[int, float]:
    """Item-centric forgetting: for each item of ``items``, rank every user by score for it and take
    the share of the users who interacted with it (``interactions`` ``[n_u, n_i]``) found in the top
    ``k`` users. Returns ``{k: mean over items with >= 1 such user}`` (NaN where there is none)."""
    by_item = interactions.tocsc()
    items = np.asarray([i for i in items if by_item.indptr[i + 1] > by_item.indptr[i]], dtype=np.int64)
    if len(items) == 0:
        return {k: float("nan") for k in ks}
    n_users = emb.users.shape[0]
    kmax = min(max(ks), n_users)
    out = {k: [] for k in ks}
    step = max(1, _BLOCK // max(n_users, 1))
    for start in range(0, len(items), step):
        chunk = items[start : start + step]
        scores = emb.items[torch.from_numpy(chunk).to(emb.items.device)] @ emb.users.T  # [c, n_u]
        top = scores.topk(kmax, dim=1).indices.cpu().numpy()
        for row, item in enumerate(chunk):
            truth = by_item.indices[by_item.indptr[item] : by_item.indptr[item + 1]]
            found = np.isin(top[row], truth)
            for k in ks:
                out[k].append(found[:k].sum() / len(truth))
    return {k: float(np.mean(v)) for k, v in out.items()}


def exposure(emb: Embeddings, users: np.ndarray, items: np.ndarray, mask: sp.csr_matrix, k: int = 20, served: bool = False) -> int:
    """How many times ``items`` (int64) appear in the top-``k`` of ``users`` (int64), each user's ``mask`` items (CSR
    ``[n_u, n_i]``, their training items) not ranked; ``served``: ``items`` are not ranked for anyone either, as the
    serving filter does. An item only in the list for want of ranked ones (score -inf) is not counted.

    Served, this must be 0; with only training items masked it shows how much the model alone would still expose
    them. Ranked in blocks of users: no ``[users, items]`` matrix is held at once.
    """
    wanted = torch.from_numpy(np.asarray(items, dtype=np.int64)).to(emb.items.device)
    total = 0
    for _, _, top in ranked_blocks(emb, users, mask, k, excluded_items=items if served else None):
        total += int((torch.isin(top.indices, wanted) & torch.isfinite(top.values)).sum())
    return total


def score_divergence(a: Embeddings, b: Embeddings, users: np.ndarray | None = None) -> float:
    """BPR divergence: mean squared difference of the two models' score matrices over ``users`` (all by default) x all items."""
    users = np.arange(a.users.shape[0]) if users is None else users
    n_items = a.items.shape[0]
    step = max(1, _BLOCK // max(n_items, 1))
    total = 0.0
    for start in range(0, len(users), step):
        rows = torch.from_numpy(users[start : start + step]).to(a.users.device)
        diff = a.users[rows] @ a.items.T - b.users[rows].to(a.users.device) @ b.items.T.to(a.users.device)
        total += float(diff.double().pow(2).sum())
    return total / (len(users) * n_items)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def content_trace(item_embeddings: np.ndarray, content: np.ndarray, known: np.ndarray, affected: np.ndarray, ridge: float = 1.0) -> float:
    """How well a model's item embeddings identify the deleted content of the ``affected`` items: a paired AUC.

    ``item_embeddings``: float ``[n_i, d]`` (the model's final item embeddings); ``content``: the modality's
    features ``[n_i, d_m]`` as they were before the deletion; ``known``: bool ``[n_i]``, items whose content
    the model may still use (the attacker's training items; the affected ones are excluded here);
    ``affected``: int64 ``[k]``. A ridge map from standardised embeddings to centred content is fitted on the
    known items (penalty ``ridge`` x their number); for each affected item the predicted content is compared by
    cosine with its own withdrawn content and with every other affected item's. Returns the share of those
    comparisons its own content wins (ties one half): 0.5 = the model points to no item's content; 1.0 = to
    its own every time. NaN with fewer than two affected items. The ``[k, k]`` comparison is made in blocks of rows,
    so a batch of many affected items needs no ``k^2`` matrix at once.
    """
    affected = np.asarray(affected, dtype=np.int64)
    train = np.setdiff1d(np.flatnonzero(known), affected)
    if len(affected) < 2 or len(train) < 2:
        return float("nan")
    z = item_embeddings.astype(np.float64)
    mean, sd = z[train].mean(0), z[train].std(0) + 1e-12
    a, b = (z[train] - mean) / sd, (z[affected] - mean) / sd
    centre = content[train].mean(0)
    weights = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ (content[train] - centre))
    predicted, withdrawn = _unit_rows(b @ weights), _unit_rows(content[affected] - centre)
    wins = np.empty(len(affected))
    step = max(1, _BLOCK // len(affected))  # rows of the [k, k] comparison held at once
    for start in range(0, len(affected), step):
        sim = predicted[start : start + step] @ withdrawn.T  # [c, k]: prediction of row i vs content of column j
        own = sim[np.arange(len(sim)), np.arange(start, start + len(sim))][:, None]
        wins[start : start + len(sim)] = (sim < own).sum(1) + 0.5 * ((sim == own).sum(1) - 1)
    return float((wins / (len(affected) - 1)).mean())


def behaviour_representation(retain_train: sp.csr_matrix, kept_content: list[np.ndarray], dim: int, seed: int = 0) -> np.ndarray:
    """What the retained data alone says about each item, ``[n_i, <= 2 dim]``: the item side of a rank-``dim``
    factorisation of the symmetrically normalised retain interactions (``D_u^-1/2 R D_i^-1/2``, degrees + 1), beside
    the top ``dim`` principal components of the content the items keep in the other modalities.

    The reference attacker of :func:`content_trace`: it knows nothing a retrained model could not learn too (a
    randomised, seeded low-rank SVD, so large catalogues stay cheap)."""
    r = retain_train.astype(np.float32).tocsr()
    deg_u, deg_i = np.asarray(r.sum(1)).ravel() + 1, np.asarray(r.sum(0)).ravel() + 1
    norm = (sp.diags(deg_u**-0.5) @ r @ sp.diags(deg_i**-0.5)).tocoo()
    torch.manual_seed(seed)
    sparse = torch.sparse_coo_tensor(np.vstack([norm.row, norm.col]), norm.data, norm.shape, check_invariants=True).coalesce()
    rank = min(dim, min(norm.shape) - 1)
    _, s, v = torch.svd_lowrank(sparse, q=rank, niter=4)
    parts = [(v * s.sqrt()).numpy()]
    if kept_content:
        kept = torch.from_numpy(np.hstack(kept_content).astype(np.float32))
        u, s, _ = torch.pca_lowrank(kept, q=min(dim, *kept.shape), center=True, niter=4)
        parts.append((u * s).numpy())
    return np.hstack(parts)


@torch.no_grad()
def collect_evidence(
    model,
    graphs,
    data,
    retain,
    forget,
    parent: Embeddings | None = None,
    gold: Embeddings | None = None,
    sample: int = 5000,
    seed: int = 0,
    content_reference: dict | None = None,
) -> dict:
    """Every measure of the evidence table in docs/design.md for one unlearned ``model`` (propagating over ``graphs``).

    ``data``: the parent's data; ``retain``: what remains after ``forget``; ``parent``: the parent's embeddings, for
    ``bpr_div_parent`` and the erasure levels (``erasure_heldout_level``, ``erasure_heldout_recall@20``,
    ``erasure_peer_level``; None without it); ``gold``: for ``bpr_div_gold``; ``content_reference``: the ``content_trace_reference`` of an
    earlier call on the same data (it depends on the data alone), computed here when None. Keys: the benchmark's JSON.
    """
    from mmrecun_core.evaluation import evaluate

    model.eval()
    emb = model.propagate(graphs)
    revoked = forget.items
    valid = evaluate(model, graphs, retain, "valid", excluded_items=revoked)
    test = evaluate(model, graphs, retain, "test", excluded_items=revoked)
    forgotten = forget.forgotten_mask(data.train)
    users = retain.eval_users("test")
    out = {
        "retain_valid_recall@20": valid["recall@20"],
        "retain_valid_ndcg@20": valid["ndcg@20"],
        **{f"retain_test_{k}": v for k, v in test.items() if k != "n_users"},
        "forget_recall@20": forget_recall(emb, forgotten, retain.train),
        **{f"item_recall@{k}": (v if len(revoked) else None) for k, v in item_recall(emb, revoked, data.train).items()},
        "exposure@20": exposure(emb, users, revoked, retain.train, served=True) if len(revoked) else 0,
        "model_exposure@20": exposure(emb, users, revoked, retain.train) if len(revoked) else 0,
        "exposure_rankings": len(users),  # top-20 lists examined, one per test user
        "bpr_div_parent": score_divergence(emb, parent) if parent is not None else None,
        "bpr_div_gold": score_divergence(emb, gold) if gold is not None else None,
    }
    out["mia_auc"] = None
    never_seen = NegativeSampler(data.train)  # one sampler for every attacker and level below
    if forgotten.nnz:
        member, non_member = membership_scores(emb, forgotten, never_seen, sample, seed)
        out["mia_auc"] = membership_auc(member, non_member)
        out["score_histograms"] = score_histograms(member, non_member)
    erased = forget.without_revoked(forgotten)  # items still served
    out["erasure_mia_auc"] = out["erasure_peer_auc"] = out["erasure_heldout_auc"] = out["erasure_recall@20"] = None
    levels = (None,) * 3
    if erased.nnz:
        peers = PopularityPeerSampler(never_seen, item_degree(retain.train))
        out["erasure_mia_auc"] = membership_auc(*membership_scores(emb, erased, never_seen, sample, seed))
        out["erasure_peer_auc"] = membership_auc(*membership_scores(emb, erased, never_seen, sample, seed, peers))
        out["erasure_heldout_auc"] = held_out_auc(emb, erased, data.valid, sample, seed)  # erased users too
        out["erasure_recall@20"] = forget_recall(emb, erased, retain.train)
        if parent is not None:
            levels = held_out_levels(parent, erased, data, retain, never_seen, sample, seed, peers)
    out["erasure_heldout_level"], out["erasure_heldout_recall@20"], out["erasure_peer_level"] = levels
    items = emb.items.detach().cpu().numpy()
    out["content_trace"], out["content_trace_reference"] = {}, {}
    for m in data.features:
        if len(affected := np.setdiff1d(forget.deleted_content(m), revoked)):
            content, known = data.features[m].matrix, ~data.features[m].missing
            out["content_trace"][m] = content_trace(items, content, known, affected)
            if content_reference is not None:
                out["content_trace_reference"][m] = content_reference[m]
                continue
            reference = behaviour_representation(
                retain.train, [f.matrix for o, f in retain.features.items() if o != m], items.shape[1], seed
            )
            out["content_trace_reference"][m] = content_trace(reference, content, known, affected)
    out["content_trace"] = out["content_trace"] or None
    out["content_trace_reference"] = out["content_trace_reference"] or None
    content = forget.content_items
    out["content_item_recall@500"] = item_recall(emb, content, data.train, ks=(500,))[500] if len(content) else None
    return out
