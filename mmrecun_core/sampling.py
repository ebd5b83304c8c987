"""Vectorised negative sampling (no Python loop per sample): uniform, and among items of equal popularity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mmrecun_core.data import DataError


class NegativeSampler:
    """Draws, for each given user, an item uniformly among the ``candidates`` the user has no training interaction with.

    ``train``: CSR ``[n_u, n_i]``; ``candidates``: int64 item indices to draw from (None = every item).
    Collisions with positives are redrawn, vectorised, until none is left. Raises :class:`~mmrecun_core.data.DataError` when
    some user interacted with every candidate (no negative exists for them).
    """

    def __init__(self, train: sp.csr_matrix, candidates: np.ndarray | None = None):
        coo = train.tocoo()
        self.n_items = train.shape[1]
        self.candidates = np.arange(self.n_items, dtype=np.int64) if candidates is None else np.asarray(candidates, dtype=np.int64)
        if len(self.candidates) == 0:
            raise DataError("no candidate item to sample negatives from")
        self._keys = np.sort(coo.row.astype(np.int64) * self.n_items + coo.col)
        covered = np.asarray(train[:, self.candidates].sum(axis=1)).ravel() if candidates is not None else np.diff(train.indptr)
        full = np.flatnonzero(covered >= len(self.candidates))
        if full.size:
            what = "item" if candidates is None else "candidate item"
            raise DataError(
                f"{full.size} users interacted with every {what}: no negative exists for them (e.g. user index {full[:5].tolist()})"
            )

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """bool ``[s]``: whether each pair ``(users, items)`` (int64 ``[s]``) is a training interaction."""
        keys = users * self.n_items + items
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        return self._keys[pos] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return int64 ``[len(users)]`` negatives for int64 ``users``."""
        neg = self.candidates[rng.integers(0, len(self.candidates), size=len(users))]
        redo = np.flatnonzero(self.is_positive(users, neg))
        while redo.size:
            neg[redo] = self.candidates[rng.integers(0, len(self.candidates), size=redo.size)]
            redo = redo[self.is_positive(users[redo], neg[redo])]
        return neg


class PopularityPeerSampler:
    """Draws, for each pair ``(u, i)``, an item of about ``i``'s popularity that ``u`` has no training interaction with: a
    never-seen *peer* of ``i``.

    ``uniform``: the :class:`NegativeSampler` of the training interactions (the user's items are never drawn; it
    draws the fallback below too, and is shared with a uniform attacker, not built twice); ``degree``: int ``[n_i]``,
    the popularity items are ordered by (ties by index); ``share``: the part of the catalogue a peer lies within
    (``±share / 2`` of ``i``'s place in that order, at least ``±min_half`` items; a window at an end of the order is
    shifted inward, not shortened). ``i`` itself is never drawn; a pair whose user has every peer of ``i`` (after ``rounds`` redraws) gets
    a uniformly drawn never-seen item instead. Why peers: docs/decisions/005-forgetting-criterion-references.md
    ("Peers of equal popularity").
    """

    def __init__(self, uniform: NegativeSampler, degree: np.ndarray, share: float = 0.05, min_half: int = 10, rounds: int = 20):
        n = uniform.n_items
        self.order = np.lexsort((np.arange(n), np.asarray(degree)))  # items, least popular first
        self.place = np.empty(n, np.int64)
        self.place[self.order] = np.arange(n)
        self.half = min(max(min_half, round(share * n / 2)), (n - 1) // 2)
        self.uniform = uniform
        self.rounds = rounds

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return int64 ``[len(users)]`` peers for the pairs ``(users, items)`` (int64 each)."""
        width = 2 * self.half + 1
        start = np.clip(self.place[items] - self.half, 0, len(self.order) - width)
        peer = np.empty(len(users), np.int64)
        redo = np.arange(len(users))
        for _ in range(self.rounds):
            peer[redo] = self.order[start[redo] + rng.integers(0, width, redo.size)]
            redo = redo[(peer[redo] == items[redo]) | self.uniform.is_positive(users[redo], peer[redo])]
            if not redo.size:
                return peer
        peer[redo] = self.uniform.sample(users[redo], rng)
        return peer
