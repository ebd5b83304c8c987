"""The Gold-free forgetting criterion: forgotten items must score like *reference* items, at a level the data sets.

A retrained model ("Gold") never saw the forgotten interactions; the criterion compares each forgotten item's
score with a reference item's and says how far above it Gold would leave it, from what the parent model and the
data provide:

* user or interaction erasures (the item stays in the catalogue): for each forgotten pair ``(u, f)``, a never-seen
  item ``r`` of ``u``. Gold scores ``f`` as it scores choices it never trained on, so the *level* is the parent's
  own paired AUC, against never-seen items of the same user, of held-out (validation) interactions drawn from every
  user's to match the erased items' popularity (:func:`~mmrecun_core.unlearning.held_out.popularity_matched`),
  measured before the first change (:func:`criterion_levels`). Without a held-out split (the paper's form and the
  baselines) the level is 0.5.
* revocations are judged *item-centrically*, by triples ``(u, f, r)``: ``u`` the user of a uniformly drawn retain
  training interaction, ``f`` a uniformly drawn revoked item, ``r`` an item of the *cold pool*: the items not
  revoked (by this run or earlier ones) with the fewest retain training interactions (every item of the lowest
  degrees, at least ``pool_size`` of them); level 0.5.

The criterion is the paired membership AUC ``P(s(u, f) > s(u, r))`` (ties count one half) over a fixed probe, for
each kind of request apart (erasures, revocations); a kind is unlearned until its AUC is at most its level plus a
tolerance. MMRecUN's reverse BPR trains on the same triples.

The AUC is a mean over the whole ranking; a user sees its top. So erasures judged with a held-out level have a second
measure, ``erasures@top``: the share of each user's erased pairs within the user's top ``k`` (the served list, as
Recall@``k``: training items not ranked), averaged over users; its level is the same share of the level sample's
held-out interactions under the parent (:func:`top_share`), and it must come to its level plus the same tolerance.

Known limit: the cold pool is an upper bound on a revoked item's score (retraining puts revoked
items below it), so MMRecUN first replays retraining's treatment of revoked rows
(:mod:`mmrecun_core.unlearning.replay`); the criterion stays the stopping rule for erasures and the
check for revocations.

Why: docs/decisions/005-forgetting-criterion-references.md
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.data import DataError
from mmrecun_core.evaluation import cutoff_items
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import Embeddings, GraphRecommender
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.unlearning.held_out import item_degree, popularity_matched


def cold_pool(retain_train: sp.csr_matrix, revoked: np.ndarray, size: int) -> np.ndarray:
    """The items outside ``revoked`` of lowest retain training degree: every item whose degree is at most the
    ``size``-th lowest, ties included (int64, sorted). ``retain_train``: CSR ``[n_u, n_i]``; ``revoked``: int64,
    every item revoked so far (an item revoked by an earlier model version has no retain interaction left and
    would otherwise pass for the coldest of all)."""
    degree = item_degree(retain_train)
    kept = np.setdiff1d(np.arange(retain_train.shape[1]), revoked)
    if len(kept) == 0:
        raise DataError("every item is revoked: no reference item is left")
    threshold = np.sort(degree[kept])[min(size, len(kept)) - 1]
    return kept[degree[kept] <= threshold].astype(np.int64)


class ReferenceSampler:
    """Draws the reference item of each forgotten pair (see the module docstring).

    ``train``: the parent's training CSR ``[n_u, n_i]`` (references are never one of the user's
    training items, forgotten ones included); ``retain_train``: what remains; ``revoked``: int64
    items revoked by this run; ``pool_size``: the least size of the cold pool; ``excluded``: int64
    items revoked by earlier model versions (unlearned already, so not ``revoked`` here, but never
    reference items either; this run's may be among them).
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        retain_train: sp.csr_matrix,
        revoked: np.ndarray,
        pool_size: int,
        excluded: np.ndarray | None = None,
    ):
        self.revoked = np.asarray(revoked, dtype=np.int64)
        self.never_seen = NegativeSampler(train)
        every_revoked = np.union1d(self.revoked, np.asarray([] if excluded is None else excluded, dtype=np.int64))
        self.cold = NegativeSampler(train, cold_pool(retain_train, every_revoked, pool_size)) if len(self.revoked) else None
        self.item_degree = item_degree(retain_train)  # what the erasures' level sample is matched on
        self._retain_users = retain_train.tocoo().row.astype(np.int64)

    def revocation_triples(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` item-centric triples (user, revoked item, cold reference item), int64 ``[n]`` each: users as the
        users of uniformly drawn retain training interactions, revoked items uniformly (see the module docstring)."""
        if self.cold is None or len(self._retain_users) == 0:
            raise ValueError("revocation triples need a revoked item and a retain interaction")
        users = self._retain_users[rng.integers(0, len(self._retain_users), n)]
        return users, self.revoked[rng.integers(0, len(self.revoked), n)], self.cold.sample(users, rng)

    def is_revoked(self, items: np.ndarray) -> np.ndarray:
        """bool ``[s]``: which of ``items`` are revoked (their reference is a cold item)."""
        return np.isin(items, self.revoked)

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Reference items int64 ``[s]`` for forgotten pairs ``(users, items)`` (int64 ``[s]``): never-seen items of the
        user; cold items for revoked items (the pairs of the paper's form, the ladder's lower rungs and NegGrad; MMRecUN and the
        criterion use :meth:`revocation_triples`)."""
        reference = self.never_seen.sample(users, rng)
        if self.cold is not None:
            hit = self.is_revoked(items)
            reference[hit] = self.cold.sample(users[hit], rng)
        return reference


@dataclass(frozen=True)
class Probe:
    """A fixed sample of forgotten and reference items: int64 ``[s]`` each; ``revoked``: bool ``[s]``, whether the
    row is a revocation triple (the two kinds of request are judged separately, see :func:`criterion_aucs`); and the
    erasures' level sample (see :func:`criterion_levels`): held-out interactions ``(level_users, level_items)`` matched
    to the erased items' popularity, each with a never-seen item ``level_reference`` of the same user (int64 ``[q]``
    each, empty without a held-out split)."""

    users: np.ndarray
    forgotten: np.ndarray
    reference: np.ndarray
    revoked: np.ndarray
    level_users: np.ndarray
    level_items: np.ndarray
    level_reference: np.ndarray

    @classmethod
    def draw(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        sampler: ReferenceSampler,
        rng: np.random.Generator,
        size: int,
        held_out: sp.csr_matrix | None = None,
    ) -> "Probe":
        """Up to ``size`` of the forgotten pairs ``(users, items)`` (int64 ``[f]``) of items still in the catalogue,
        without replacement, with their references; ``size`` revocation triples when some of the pairs is of a
        revoked item; and ``size`` held-out interactions of ``held_out`` (CSR ``[n_u, n_i]``, every user's; None: none)
        drawn to match the erasure pairs' items' retain training degree
        (:func:`~mmrecun_core.unlearning.held_out.popularity_matched`), each with a never-seen reference."""
        revoked = sampler.is_revoked(items)
        erased = np.flatnonzero(~revoked)
        pick = rng.choice(erased, min(size, len(erased)), replace=False)
        u, f = users[pick], items[pick]
        parts = [(u, f, sampler.sample(u, f, rng))]
        if revoked.any():
            parts.append(sampler.revocation_triples(size, rng))
        u, f, r = (np.concatenate(a) for a in zip(*parts, strict=True))
        level_users = level_items = np.empty(0, np.int64)
        if held_out is not None and len(erased):
            level_users, level_items = popularity_matched(held_out, items[erased], sampler.item_degree, size, rng)
        return cls(u, f, r, sampler.is_revoked(f), level_users, level_items, sampler.never_seen.sample(level_users, rng))


def paired_auc(member: np.ndarray, reference: np.ndarray) -> float:
    """``mean(1[member > reference] + ½ 1[member == reference])`` over paired scores ``[s]``; NaN if empty.

    The share of forgotten pairs a membership attacker comparing each with its reference would call
    "seen": 0.5 = no trace left, 1.0 = every one recognisable.
    """
    if len(member) == 0:
        return float("nan")
    return float(np.mean((member > reference) + 0.5 * (member == reference)))


def probe_embeddings(model: GraphRecommender, graphs: GraphBundle, users: np.ndarray | None = None) -> Embeddings:
    """``model``'s embeddings in eval mode (its mode restored), for the criterion and the choice of references.

    ``users``: int64, sorted and unique, the only users whose final rows are computed (the probe's and the erasing
    users': a propagation fuses each requested row, so this costs half of a full one on TikTok); ``users`` stays
    ``[n_users, d]``, its other rows NaN, so that a read of one shows. None: every user."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        if users is None:
            emb = model.propagate(graphs)
        else:
            index = torch.from_numpy(users).to(model.user_embedding.weight.device)
            emb = model.propagate(graphs, index)
            full = emb.users.new_full((model.n_users, emb.users.shape[1]), float("nan"))
            emb = dataclasses.replace(emb, users=full.index_copy_(0, index, emb.users))
    model.train(was_training)
    return emb


@dataclass(frozen=True)
class TopCutoffs:
    """Where each of some users' top ``k`` ends, under one set of embeddings: ``users`` (int64 ``[u]``, sorted, unique)
    and, for each, the first item out of the list (``items``, int64 ``[u]``) and its score (``scores``, float32 ``[u]``;
    -inf when the user has no more than ``k`` items to rank: every one is in the list). Ranked once per measurement,
    read by the criterion (:func:`top_share`) and by the choice of references (:meth:`leaving`)."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    @classmethod
    def rank(cls, emb: Embeddings, users: np.ndarray, mask: sp.csr_matrix, k: int) -> "TopCutoffs":
        """Rank every item for each of ``users`` (int64, repeats allowed), ``mask``ed items (CSR ``[n_u, n_i]``) not ranked."""
        whose = np.unique(users)
        return cls(whose, *cutoff_items(emb, whose, mask, k))

    def _at(self, users: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.users, users).clip(max=max(len(self.users) - 1, 0))
        if len(users) and not np.array_equal(self.users[at], users):
            raise ValueError("a user whose ranking was not computed")
        return at

    def in_top(self, emb: Embeddings, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """bool ``[s]``: whether each pair ``(users, items)`` (int64 ``[s]``) is in its user's top ``k``."""
        return emb.pair_scores(users, items) > self.scores[self._at(users)]

    def leaving(self, emb: Embeddings, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For pairs ``(users, items)``: which are in the top ``k`` and can leave it (bool ``[s]``; a user with no item out
        of the list cannot: a reference of score -inf would make the loss infinite), and the first item out of the
        user's list, the reference to go below (int64 ``[s]``)."""
        at = self._at(users)
        return self.in_top(emb, users, items) & np.isfinite(self.scores[at]), self.items[at]


def top_share(emb: Embeddings, users: np.ndarray, items: np.ndarray, cutoffs: TopCutoffs) -> float:
    """The share of the pairs ``(users, items)`` (int64 ``[s]``) whose item is in its user's top ``k`` (``cutoffs``), per
    user and averaged over the users: Recall@``k`` with the pairs as targets (what
    :func:`~mmrecun_core.unlearning.evidence.forget_recall` measures, read off the cutoffs); NaN if empty."""
    if len(users) == 0:
        return float("nan")
    _, at = np.unique(users, return_inverse=True)
    hit = cutoffs.in_top(emb, users, items)
    return float(np.mean(np.bincount(at, hit) / np.bincount(at)))


def criterion_aucs(emb: Embeddings, probe: Probe, cutoffs: TopCutoffs | None = None) -> dict[str, float]:
    """:func:`paired_auc` of ``s(u, forgotten)`` against ``s(u, reference)`` on ``probe`` under ``emb``, per kind:
    ``revocations`` (the revocation triples) and ``erasures`` (the others), each present when the probe has such rows;
    with ``cutoffs`` of the erasure rows' users (ranked on the retain training items' mask) and a level sample,
    ``erasures@top``: the :func:`top_share` of the erasure rows.

    The kinds are judged apart because their references differ and one kind's pairs must not hide the other's.
    """
    member, reference = emb.pair_scores(probe.users, probe.forgotten), emb.pair_scores(probe.users, probe.reference)
    kinds = {"erasures": ~probe.revoked, "revocations": probe.revoked}
    out = {kind: paired_auc(member[m], reference[m]) for kind, m in kinds.items() if m.any()}
    if cutoffs is not None and "erasures" in out and len(probe.level_users):
        erased = ~probe.revoked
        out["erasures@top"] = top_share(emb, probe.users[erased], probe.forgotten[erased], cutoffs)
    return out


def criterion_levels(emb: Embeddings, probe: Probe, mask: sp.csr_matrix | None = None, k: int = 20) -> dict[str, float]:
    """The level of each kind of the probe (see the module docstring), under ``emb`` (the parent's, before any change):
    ``erasures``: :func:`paired_auc` of the level sample's held-out interactions against their never-seen references
    (0.5 when the sample is empty); ``revocations``: 0.5; with a ``mask`` (the parent's training CSR) and a level sample,
    ``erasures@top``: the :func:`top_share` of the level sample at ``k``."""
    levels = {kind: 0.5 for kind, present in (("erasures", (~probe.revoked).any()), ("revocations", probe.revoked.any())) if present}
    if "erasures" in levels and len(probe.level_users):
        u = probe.level_users
        levels["erasures"] = paired_auc(emb.pair_scores(u, probe.level_items), emb.pair_scores(u, probe.level_reference))
        if mask is not None:
            levels["erasures@top"] = top_share(emb, u, probe.level_items, TopCutoffs.rank(emb, u, mask, k))
    return levels
