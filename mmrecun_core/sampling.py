"""Vectorised uniform negative sampling (no Python loop per sample)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class NegativeSampler:
    """Draws, for each given user, an item uniformly among the items the user has no training interaction with.

    ``train``: CSR ``[n_u, n_i]``. Collisions with positives are redrawn, vectorised, until none is left.
    """

    def __init__(self, train: sp.csr_matrix):
        coo = train.tocoo()
        self.n_items = train.shape[1]
        self._keys = np.sort(coo.row.astype(np.int64) * self.n_items + coo.col)
        full = np.flatnonzero(np.diff(train.indptr) >= self.n_items)
        if full.size:
            raise ValueError(f"{full.size} users interacted with every item: no negative exists for them (e.g. user index {full[:5].tolist()})")

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        return self._keys[pos] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return int64 ``[len(users)]`` negatives for int64 ``users``."""
        neg = rng.integers(0, self.n_items, size=len(users))
        redo = np.flatnonzero(self._is_positive(users, neg))
        while redo.size:
            neg[redo] = rng.integers(0, self.n_items, size=redo.size)
            redo = redo[self._is_positive(users[redo], neg[redo])]
        return neg
