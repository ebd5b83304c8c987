"""The Gold-free forgetting criterion: forgotten pairs must score like *reference* pairs of the same users.

A retrained model ("Gold") never saw the forgotten interactions, so for each forgotten pair
``(u, f)`` the question is what Gold would score it like. The reference item ``r`` answers it
with what the unlearned model itself provides, without Gold:

* ``f`` still in the catalogue (user or interaction erasures): a never-seen item of ``u``, drawn
  uniformly. Gold learned nothing about ``(u, f)``, so it scores ``f`` as any item ``u`` never had.
* ``f`` revoked: an item of the *cold pool*, the non-revoked items with the fewest retain training
  interactions (every item of the lowest degrees, at least ``pool_size`` of them; on TikTok the
  items with no training interaction at all). Gold has no interaction with ``f`` and no content
  for it, so it trains ``f`` only as a sampled negative, exactly as it trains a catalogue item that
  nobody interacted with. A uniform never-seen item is the wrong reference here: it is mostly an
  item with interactions, which a revoked item in Gold scores far below.

The criterion is the paired membership AUC ``P(s(u, f) > s(u, r))`` (ties count one half) over a
fixed probe, for each kind of request apart (erasures, revocations); a kind is unlearned until its
AUC is ``<= 0.5 + tolerance``. The same reference items are the
negatives of MMRecUN's reverse BPR, so the objective pushes towards the state the criterion tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

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
        raise ValueError("every item is revoked: no reference item is left")
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

    def __init__(self, train: sp.csr_matrix, retain_train: sp.csr_matrix, revoked: np.ndarray, pool_size: int,
                 excluded: np.ndarray | None = None):
        self.revoked = np.asarray(revoked, dtype=np.int64)
        self.never_seen = NegativeSampler(train)
        every_revoked = np.union1d(self.revoked, np.asarray([] if excluded is None else excluded, dtype=np.int64))
        self.cold = NegativeSampler(train, cold_pool(retain_train, every_revoked, pool_size)) if len(self.revoked) else None

    def is_revoked(self, items: np.ndarray) -> np.ndarray:
        """bool ``[s]``: which of ``items`` are revoked (their reference is a cold item)."""
        return np.isin(items, self.revoked)

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Reference items int64 ``[s]`` for forgotten pairs ``(users, items)`` (int64 ``[s]``)."""
        reference = self.never_seen.sample(users, rng)
        if self.cold is not None:
            hit = self.is_revoked(items)
            reference[hit] = self.cold.sample(users[hit], rng)
        return reference


@dataclass(frozen=True)
class Probe:
    """A fixed sample of forgotten pairs and their reference items: int64 ``[s]`` each; ``revoked``: bool ``[s]``,
    whether the pair's item is revoked (the two kinds of request are judged separately, see :func:`criterion_aucs`)."""

    users: np.ndarray
    forgotten: np.ndarray
    reference: np.ndarray
    revoked: np.ndarray

    @classmethod
    def draw(cls, users: np.ndarray, items: np.ndarray, sampler: ReferenceSampler, rng: np.random.Generator, size: int) -> "Probe":
        """Up to ``size`` of the forgotten pairs ``(users, items)`` (int64 ``[f]``) of each kind, without replacement."""
        revoked = sampler.is_revoked(items)
        pick = np.concatenate([rng.choice(group, min(size, len(group)), replace=False)
                               for group in (np.flatnonzero(~revoked), np.flatnonzero(revoked))])
        u, f = users[pick], items[pick]
        return cls(u, f, sampler.sample(u, f, rng), sampler.is_revoked(f))


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
    ``revocations`` (pairs of revoked items) and ``erasures`` (the others), each present when the probe has such pairs.

    The kinds are judged apart because their references differ and one kind's pairs must not hide the other's.
    """
    was_training = model.training
    model.eval()
    emb = model.propagate(graphs)
    model.train(was_training)
    device = emb.users.device
    index = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    u = emb.users[index(probe.users)]
    score = lambda items: (u * emb.items[index(items)]).sum(1).cpu().numpy()  # noqa: E731
    member, reference = score(probe.forgotten), score(probe.reference)
    kinds = {"erasures": ~probe.revoked, "revocations": probe.revoked}
    return {kind: paired_auc(member[mask], reference[mask]) for kind, mask in kinds.items() if mask.any()}
