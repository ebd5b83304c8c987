"""What a run must forget, in the indices of one catalogue, and the retain data that remains.

docs/design.md, "From requests to a forget set": an item revocation forgets every interaction with the
item and deletes its content in every modality; a modality revocation deletes that modality's
content of the item only; a user erasure forgets every interaction of the user; an interaction
erasure forgets those interactions. Indices stay as they are (the model's rows keep their
meaning); forgotten edges leave every split, deleted content is replaced as a missing feature is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from mmrecun_core.data import DataError, InteractionData, ModalityFeatures


def _index_array(values) -> np.ndarray:
    return np.unique(np.asarray(values, dtype=np.int64).reshape(-1))


@dataclass(frozen=True)
class ForgetSet:
    """Forget requests resolved to indices.

    ``users``: erased user indices (int64, sorted, unique); ``items``: revoked item indices;
    ``pairs``: int64 ``[f, 2]`` (user, item) interactions erased one by one;
    ``modality_items``: modality -> item indices whose content in that modality is deleted.
    """

    users: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pairs: np.ndarray = field(default_factory=lambda: np.empty((0, 2), np.int64))
    modality_items: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, users=(), items=(), pairs=(), modality_items: dict | None = None) -> "ForgetSet":
        """Build from any integer sequences; duplicates are dropped."""
        pair_array = np.unique(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=0)
        return cls(
            _index_array(users),
            _index_array(items),
            pair_array,
            {m: _index_array(v) for m, v in sorted((modality_items or {}).items()) if len(v)},
        )

    @property
    def is_empty(self) -> bool:
        return not (len(self.users) or len(self.items) or len(self.pairs) or self.modality_items)

    def forgotten_mask(self, m: sp.csr_matrix) -> sp.csr_matrix:
        """The entries of ``m`` ``[n_u, n_i]`` that this set forgets, as a binary CSR of the same shape."""
        coo = m.tocoo()
        hit = np.isin(coo.row, self.users) | np.isin(coo.col, self.items)
        if len(self.pairs):
            keys = coo.row.astype(np.int64) * m.shape[1] + coo.col
            hit |= np.isin(keys, self.pairs[:, 0] * m.shape[1] + self.pairs[:, 1])
        out = sp.csr_matrix((np.ones(int(hit.sum()), np.float32), (coo.row[hit], coo.col[hit])), shape=m.shape)
        return out

    def without_revoked(self, mask: sp.csr_matrix) -> sp.csr_matrix:
        """``mask`` (binary CSR ``[n_u, n_i]``, e.g. :meth:`forgotten_mask`) without the columns of the items this set
        revokes: the erased interactions of items still served."""
        kept = sp.diags((~np.isin(np.arange(mask.shape[1]), self.items)).astype(np.float32))
        out = (mask @ kept).tocsr()
        out.eliminate_zeros()
        return out

    @property
    def content_items(self) -> np.ndarray:
        """Items that stay but lose content in some modality (int64, sorted): every modality deletion not of a revoked item."""
        deleted = np.unique(np.concatenate([np.empty(0, np.int64), *self.modality_items.values()]))
        return np.setdiff1d(deleted, self.items)

    def deleted_content(self, modality: str) -> np.ndarray:
        """Item indices whose ``modality`` content must go: revoked items and that modality's deletions."""
        return np.union1d(self.items, self.modality_items.get(modality, np.empty(0, np.int64)))


def delete_content(features: ModalityFeatures, items: np.ndarray) -> ModalityFeatures:
    """Delete the rows of ``items`` and refill every missing row with the mean of the rows that remain.

    Returns new :class:`ModalityFeatures` ``[n_i, d]``: deleted rows hold the new mean and are flagged
    missing; the mean itself no longer carries any deleted row.
    """
    missing = features.missing.copy()
    missing[items] = True
    if missing.all():
        raise DataError("deleting this content leaves the modality with no known row to take a mean from")
    matrix = features.matrix.copy()
    matrix[missing] = matrix[~missing].mean(axis=0)
    return ModalityFeatures(matrix, missing)


def retain_data(data: InteractionData, forget: ForgetSet) -> InteractionData:
    """The data that remains after ``forget``: forgotten interactions leave train, valid and test;
    deleted content is replaced as missing content is. Users and items keep their indices."""
    n_users, n_items = data.train.shape
    bad_users = forget.users[(forget.users < 0) | (forget.users >= n_users)]
    bad_items = forget.items[(forget.items < 0) | (forget.items >= n_items)]
    if len(bad_users) or len(bad_items):
        raise IndexError(f"forget set names indices outside the catalogue: users {bad_users[:5].tolist()}, items {bad_items[:5].tolist()}")
    unknown = sorted(set(forget.modality_items) - set(data.features))
    if unknown:
        raise KeyError(f"forget set deletes content of modalities the catalogue does not have: {unknown}")

    def keep(m: sp.csr_matrix) -> sp.csr_matrix:
        kept = (m - forget.forgotten_mask(m)).tocsr()
        kept.eliminate_zeros()
        return kept

    features = {m: delete_content(f, forget.deleted_content(m)) for m, f in data.features.items()}
    return dataclasses.replace(data, train=keep(data.train), valid=keep(data.valid), test=keep(data.test), features=features)
