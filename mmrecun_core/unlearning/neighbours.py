"""The reference of an erased interaction: the item most like it that the user never had.

A retrained model never saw an erased interaction ``(u, f)``: it scores ``f`` for ``u`` as it scores any item
``u`` never had, from what ``u`` and ``f`` share with the rest of the data. ``f``'s *neighbour* ``n(f)`` is the
item sharing the most retain users with ``f`` (co-occurrence in the retain training interactions) among those
``u`` never had; a model that has forgotten ``(u, f)`` ranks ``f`` against ``n(f)`` as it ranks a held-out
interaction ``x`` of ``u`` (an item ``u`` chose that no model saw) against ``n(x)``. The criterion compares the
two paired AUCs (:mod:`mmrecun_core.unlearning.criterion`); MMRecUN's reverse BPR pushes ``f`` below ``n(f)``.
Neighbours come from the retain training data only, so training on them reads no held-out split.

Why: docs/decisions/008-interaction-erasures-judged-against-neighbours.md
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mmrecun_core.sampling import NegativeSampler


class NeighbourReferences:
    """Co-occurrence neighbours of items, computed for the items asked for and kept.

    ``train``: the parent's training CSR ``[n_u, n_i]`` (a reference is never one of the user's training items,
    forgotten ones included); ``retain_train``: what remains, where co-occurrence is counted; ``width``: the
    neighbours kept per item, most shared users first, ties by item index (a user who had all of them gets
    ``fallback``).
    """

    def __init__(self, train: sp.csr_matrix, retain_train: sp.csr_matrix, width: int = 20):
        self.seen = NegativeSampler(train)
        self.retain = retain_train.tocsr()
        self.by_item = retain_train.tocsc()
        self.width = width
        self._table = np.full((train.shape[1], width), -1, dtype=np.int64)
        self._known = np.zeros(train.shape[1], dtype=bool)

    def neighbours(self, items: np.ndarray) -> np.ndarray:
        """int64 ``[len(items), width]``: each item's neighbours by shared retain users, most first; -1 pads."""
        todo = np.unique(items[~self._known[items]])
        if len(todo):
            shared = (self.by_item[:, todo].T @ self.retain).tocsr()  # [len(todo), n_i]: retain users shared
            for row, item in enumerate(todo):
                span = slice(shared.indptr[row], shared.indptr[row + 1])
                idx, count = shared.indices[span], shared.data[span]
                keep = idx != item
                top = idx[keep][np.lexsort((idx[keep], -count[keep]))[: self.width]]  # most shared first, ties by index
                self._table[item, : len(top)] = top
            self._known[todo] = True
        return self._table[items]

    def sample(self, users: np.ndarray, items: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """int64 ``[s]``: for each pair ``(users[i], items[i])`` the item's first neighbour the user never had;
        ``fallback[i]`` where every kept neighbour is one of the user's items (or the item has none)."""
        candidates = self.neighbours(items)
        usable = candidates >= 0
        usable[usable] = ~self.seen.is_positive(np.broadcast_to(users[:, None], candidates.shape)[usable], candidates[usable])
        first = usable.argmax(axis=1)
        found = usable.any(axis=1)
        out = np.asarray(fallback, dtype=np.int64).copy()
        out[found] = candidates[found, first[found]]
        return out
