"""The membership attacker of erasures: forgotten interactions scored against never-seen items of their users.

Uniformly drawn never-seen items, or items of the forgotten item's own popularity (*peers*: an attacker who
controls for popularity, under which an erased interaction pushed further down than retraining would leave it shows
too); and the levels a retrained model is expected at, read under the parent on held-out interactions
(docs/decisions/005-forgetting-criterion-references.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from mmrecun_core.models.base import Embeddings
from mmrecun_core.sampling import NegativeSampler, PopularityPeerSampler
from mmrecun_core.unlearning.criterion import TopCutoffs, top_share
from mmrecun_core.unlearning.held_out import item_degree, popularity_matched


def membership_auc(member_scores: np.ndarray, non_member_scores: np.ndarray) -> float:
    """Membership-inference AUC: the probability that a forgotten interaction scores above a never-seen
    one (ties count one half; Mann-Whitney U / (n_m n_n)). 0.5 = no trace; 1.0 = fully recognisable."""
    m, n = len(member_scores), len(non_member_scores)
    if m == 0 or n == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([member_scores, non_member_scores]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def score_histograms(member_scores: np.ndarray, non_member_scores: np.ndarray, bins: int = 30) -> dict[str, list[float]]:
    """Both score samples binned on shared edges: ``{"edges": [bins + 1], "forgotten": [bins], "never_seen": [bins]}``,
    each histogram normalised to sum to 1 (shares of pairs), for the report's distribution figure."""
    both = np.concatenate([member_scores, non_member_scores])
    edges = np.linspace(both.min(), both.max(), bins + 1) if len(both) else np.linspace(0, 1, bins + 1)

    def share(x: np.ndarray) -> list[float]:
        return (np.histogram(x, edges)[0] / max(len(x), 1)).tolist()

    return {"edges": edges.tolist(), "forgotten": share(member_scores), "never_seen": share(non_member_scores)}


def held_out_auc(emb: Embeddings, erased: sp.csr_matrix, held_out: sp.csr_matrix, sample: int = 5000, seed: int = 0) -> float | None:
    """Paired AUC of erased interactions (``erased`` CSR ``[n_u, n_i]``, up to ``sample`` drawn, seeded) against held-out
    ones of the same users (``held_out`` CSR, one drawn per pair): ``P(s(u, f) > s(u, h))``, ties one half. 0.5: what was
    erased scores as what the user chose but the model never trained on. Users without a held-out interaction are left
    out; None if none is left."""
    coo = erased.tocoo()
    rng = np.random.default_rng(seed)
    pick = rng.choice(coo.nnz, min(sample, coo.nnz), replace=False)
    u, f = coo.row[pick].astype(np.int64), coo.col[pick].astype(np.int64)
    held_out = held_out.tocsr()
    count = np.diff(held_out.indptr)[u]
    u, f, count = u[count > 0], f[count > 0], count[count > 0]
    if len(u) == 0:
        return None
    h = held_out.indices[held_out.indptr[u] + (rng.random(len(u)) * count).astype(np.int64)].astype(np.int64)
    member, reference = emb.pair_scores(u, f), emb.pair_scores(u, h)
    return float(np.mean((member > reference) + 0.5 * (member == reference)))


def held_out_levels(
    parent: Embeddings,
    erased: sp.csr_matrix,
    data,
    retain,
    never_seen: NegativeSampler,
    sample=5000,
    seed=0,
    peers: PopularityPeerSampler | None = None,
) -> tuple[float | None, float | None, float | None]:
    """The levels of an erasure's membership AUC and Recall@20, as the criterion reads them: ``sample`` of every user's
    held-out interactions of ``retain``, matched to the popularity of the items of ``erased`` (CSR ``[n_u, n_i]``),
    seeded (:func:`~mmrecun_core.unlearning.held_out.popularity_matched`); under the ``parent``, their
    :func:`membership_auc` against never-seen items of the same users (``never_seen``: the sampler of ``data.train``), their
    :func:`~mmrecun_core.unlearning.criterion.top_share` at 20, ``data.train`` not ranked, and (with ``peers``) their
    :func:`membership_auc` against never-seen items of the same popularity. ``(None, None, None)`` without held-out
    interactions. Retraining scores an erased interaction about as the parent scores these
    (docs/decisions/005-forgetting-criterion-references.md)."""
    rng = np.random.default_rng(seed)
    users, items = popularity_matched(retain.valid, erased.tocoo().col, item_degree(retain.train), sample, rng)
    if len(users) == 0:
        return None, None, None
    scores = parent.pair_scores(users, items)
    auc = membership_auc(scores, parent.pair_scores(users, never_seen.sample(users, np.random.default_rng(seed + 1))))
    peer = membership_auc(scores, parent.pair_scores(users, peers.sample(users, items, np.random.default_rng(seed + 2)))) if peers else None
    return auc, top_share(parent, users, items, TopCutoffs.rank(parent, users, data.train, 20)), peer


def membership_scores(
    emb: Embeddings,
    forgotten: sp.csr_matrix,
    never_seen: NegativeSampler,
    sample: int = 5000,
    seed: int = 0,
    peers: PopularityPeerSampler | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The membership attacker's scores: up to ``sample`` forgotten interactions (``forgotten`` CSR ``[n_u, n_i]``,
    drawn without replacement) and, for each, a never-seen item of the same user (``never_seen``: the sampler of the
    parent's training interactions, built once by the caller): uniformly drawn, or with ``peers`` one of the forgotten
    item's popularity (an attacker who
    controls for popularity); returns ``(member, non_member)`` float ``[s]`` each. The draw depends on ``seed`` only,
    not on the model, so two models are judged on the same pairs."""
    coo = forgotten.tocoo()
    rng = np.random.default_rng(seed)
    pick = rng.choice(coo.nnz, min(sample, coo.nnz), replace=False)
    u, f = coo.row[pick].astype(np.int64), coo.col[pick].astype(np.int64)
    n = peers.sample(u, f, rng) if peers is not None else never_seen.sample(u, rng)
    return emb.pair_scores(u, f), emb.pair_scores(u, n)
