"""Vectorised uniform negative sampling (no Python loop per sample)."""

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

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        return self._keys[pos] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return int64 ``[len(users)]`` negatives for int64 ``users``."""
        neg = self.candidates[rng.integers(0, len(self.candidates), size=len(users))]
        redo = np.flatnonzero(self._is_positive(users, neg))
        while redo.size:
            neg[redo] = self.candidates[rng.integers(0, len(self.candidates), size=redo.size)]
            redo = redo[self._is_positive(users[redo], neg[redo])]
        return neg
