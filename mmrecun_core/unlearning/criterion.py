"""The Gold-free forgetting criterion: forgotten items must score like *reference* items.

A retrained model ("Gold") never saw the forgotten interactions, so the question is what Gold
would score them like. The reference item ``r`` answers it with what the unlearned model itself
provides, without Gold:

* user or interaction erasures (the item stays in the catalogue): for each forgotten pair
  ``(u, f)``, one of ``u``'s *held-out* items (the validation split), drawn uniformly. Gold never
  trained on ``(u, f)``, but ``u`` did choose ``f``: Gold scores it as it scores the user's other
  choices it never trained on, not as an item ``u`` never had (on TikTok, interaction erasures,
  Gold's membership AUC against never-seen items is 0.80; pushing the pairs to 0.5 against
  never-seen items overshoots, which is a trace of its own). A user without a held-out item, and
  every user without a held-out split (the paper's form and the baselines), is referenced by a
  never-seen item: such pairs are still judged, by the stricter reference.
* revocations: Gold has no interaction with a revoked item ``f`` and no content for it, so it
  trains ``f`` only as a sampled negative of *every* user (each as often as BPR meets that user:
  once per retain interaction and epoch), exactly as it trains a catalogue item that nobody
  interacted with. Revocations are therefore judged *item-centrically*, by triples ``(u, f, r)``:
  ``u`` the user of a uniformly drawn retain training interaction, ``f`` a uniformly drawn revoked
  item, ``r`` an item of the *cold pool*, the items not revoked (by this run or earlier ones) with
  the fewest retain training interactions (every item of the lowest degrees, at least
  ``pool_size`` of them; on TikTok the items with no training interaction at all). Pairing ``f``
  with its *former* users instead (the first version of this criterion) pushed a revoked item away
  from exactly those users, a trace of its own kind: on the validation forget set of seed 1 their
  item-centric Recall@500 fell to a third of Gold's (0.007 vs 0.020), while the item-centric
  triples end at 0.0225. A uniform never-seen item is the wrong reference here: it is mostly an
  item with interactions, which a revoked item in Gold scores far below.

The criterion is the paired membership AUC ``P(s(u, f) > s(u, r))`` (ties count one half) over a
fixed probe, for each kind of request apart (erasures, revocations); a kind is unlearned until its
AUC is ``<= 0.5 + tolerance``. The same triples are what MMRecUN's reverse BPR trains on, so the
objective pushes towards the state the criterion tests.

Known limit: the cold pool is only an upper bound on how a revoked item should score. On the
retain graphs a revoked item has no content neighbour (:mod:`mmrecun_core.graphs`), so its whole
final embedding reads its own row, which retraining pushes down at every negative draw, whereas
a cold item's side view reads its content neighbours' rows. Retrained models put revoked items
far below the cold pool (paired AUC 0.07 against it on TikTok, 5%, seed 0). MMRecUN therefore
replays retraining's treatment of revoked rows first (:mod:`mmrecun_core.unlearning.replay`), after which this
criterion holds with room to spare; it remains the stopping rule for erasures and the check for
revocations.
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
