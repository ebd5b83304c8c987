"""The Gold-free forgetting criterion: forgotten items must score like *reference* items.

A retrained model ("Gold") never saw the forgotten interactions; the reference item ``r`` stands for
how Gold would score a forgotten one, drawn from what the unlearned model itself provides:

* user or interaction erasures (the item stays in the catalogue): for each forgotten pair
  ``(u, f)``, one of ``u``'s *held-out* items (the validation split), drawn uniformly. A user
  without a held-out item, and every user when no held-out split is given (the paper's form and
  the baselines), is referenced by a never-seen item of ``u``, the stricter reference.
* revocations are judged *item-centrically*, by triples ``(u, f, r)``: ``u`` the user of a
  uniformly drawn retain training interaction, ``f`` a uniformly drawn revoked item, ``r`` an item
  of the *cold pool*: the items not revoked (by this run or earlier ones) with the fewest retain
  training interactions (every item of the lowest degrees, at least ``pool_size`` of them).

The criterion is the paired membership AUC ``P(s(u, f) > s(u, r))`` (ties count one half) over a
fixed probe, for each kind of request apart (erasures, revocations); a kind is unlearned until its
AUC is ``<= 0.5 + tolerance``. MMRecUN's reverse BPR trains on the same revocation triples; erased
pairs are trained against never-seen items and only judged against held-out ones.

Known limit: the cold pool is an upper bound on a revoked item's score (retraining puts revoked
items below it), so MMRecUN first replays retraining's treatment of revoked rows
(:mod:`mmrecun_core.unlearning.replay`); the criterion stays the stopping rule for erasures and the
check for revocations.

Why: docs/decisions/005-forgetting-criterion-references.md
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.data import DataError
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.sampling import NegativeSampler


def cold_pool(retain_train: sp.csr_matrix, revoked: np.ndarray, size: int) -> np.ndarray:
    """The items outside ``revoked`` of lowest retain training degree: every item whose degree is at most the
    ``size``-th lowest, ties included (int64, sorted). ``retain_train``: CSR ``[n_u, n_i]``; ``revoked``: int64,
    every item revoked so far (an item revoked by an earlier model version has no retain interaction left and
    would otherwise pass for the coldest of all)."""
    degree = np.asarray(retain_train.sum(axis=0)).ravel()
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
    reference items either; this run's may be among them); ``held_out``: CSR ``[n_u, n_i]`` of the users'
    held-out (validation) interactions, the references of erasures (None: never-seen items).
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        retain_train: sp.csr_matrix,
        revoked: np.ndarray,
        pool_size: int,
        excluded: np.ndarray | None = None,
        held_out: sp.csr_matrix | None = None,
    ):
        self.revoked = np.asarray(revoked, dtype=np.int64)
        self.held_out = None if held_out is None else held_out.tocsr()
        self.never_seen = NegativeSampler(train)
        every_revoked = np.union1d(self.revoked, np.asarray([] if excluded is None else excluded, dtype=np.int64))
        self.cold = NegativeSampler(train, cold_pool(retain_train, every_revoked, pool_size)) if len(self.revoked) else None
        self._retain_users = retain_train.tocoo().row.astype(np.int64)

    def judged_by(self, held_out: sp.csr_matrix | None) -> "ReferenceSampler":
        """This sampler with erasures referenced by ``held_out`` interactions (None: never-seen items); the rest shared."""
        other = copy.copy(self)
        other.held_out = None if held_out is None else held_out.tocsr()
        return other

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
        """Reference items int64 ``[s]`` for forgotten pairs ``(users, items)`` (int64 ``[s]``): held-out items of the
        user (a never-seen item for a user without one, and for everyone without ``held_out``); cold items for revoked items
        (NegGrad's pairs; MMRecUN and the criterion use :meth:`revocation_triples`)."""
        reference = self.never_seen.sample(users, rng)
        if self.held_out is not None and self.held_out.nnz:
            start, count = self.held_out.indptr[users], np.diff(self.held_out.indptr)[users]
            has = count > 0
            offset = (rng.random(int(has.sum())) * count[has]).astype(np.int64)
            reference[has] = self.held_out.indices[start[has] + offset]
        if self.cold is not None:
            hit = self.is_revoked(items)
            reference[hit] = self.cold.sample(users[hit], rng)
        return reference


@dataclass(frozen=True)
class Probe:
    """A fixed sample of forgotten and reference items: int64 ``[s]`` each; ``revoked``: bool ``[s]``, whether the
    row is a revocation triple (the two kinds of request are judged separately, see :func:`criterion_aucs`)."""

    users: np.ndarray
    forgotten: np.ndarray
    reference: np.ndarray
    revoked: np.ndarray

    @classmethod
    def draw(cls, users: np.ndarray, items: np.ndarray, sampler: ReferenceSampler, rng: np.random.Generator, size: int) -> "Probe":
        """Up to ``size`` of the forgotten pairs ``(users, items)`` (int64 ``[f]``) of items still in the catalogue,
        without replacement, with their references; and ``size`` revocation triples
        when some of the pairs is of a revoked item."""
        revoked = sampler.is_revoked(items)
        erased = np.flatnonzero(~revoked)
        pick = rng.choice(erased, min(size, len(erased)), replace=False)
        u, f = users[pick], items[pick]
        parts = [(u, f, sampler.sample(u, f, rng))]
        if revoked.any():
            parts.append(sampler.revocation_triples(size, rng))
        u, f, r = (np.concatenate(a) for a in zip(*parts, strict=True))
        return cls(u, f, r, sampler.is_revoked(f))


def paired_auc(member: np.ndarray, reference: np.ndarray) -> float:
    """``mean(1[member > reference] + ½ 1[member == reference])`` over paired scores ``[s]``; NaN if empty.

    The share of forgotten pairs a membership attacker comparing each with its reference would call
    "seen": 0.5 = no trace left, 1.0 = every one recognisable.
    """
    if len(member) == 0:
        return float("nan")
    return float(np.mean((member > reference) + 0.5 * (member == reference)))


@torch.no_grad()
def criterion_aucs(model: GraphRecommender, graphs: GraphBundle, probe: Probe) -> dict[str, float]:
    """:func:`paired_auc` of ``s(u, forgotten)`` against ``s(u, reference)`` on ``probe`` under ``model``, per kind:
    ``revocations`` (the revocation triples) and ``erasures`` (the others), each present when the probe has such rows.

    The kinds are judged apart because their references differ and one kind's pairs must not hide the other's.
    """
    was_training = model.training
    model.eval()
    emb = model.propagate(graphs)
    model.train(was_training)
    member, reference = emb.pair_scores(probe.users, probe.forgotten), emb.pair_scores(probe.users, probe.reference)
    kinds = {"erasures": ~probe.revoked, "revocations": probe.revoked}
    return {kind: paired_auc(member[mask], reference[mask]) for kind, mask in kinds.items() if mask.any()}
