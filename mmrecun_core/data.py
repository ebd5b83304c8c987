"""Interaction data of one catalogue, in contiguous indices, ready for training and evaluation.

External user/item ids (strings or integers, as the data gives them) are mapped to contiguous
indices ``0..n-1`` in sorted order of the ids; the maps travel with every model (see
:mod:`mmrecun_core.checkpoint`). Items are the items of the interactions table (all splits);
users without a training interaction ("cold-start") stay in the index but are excluded from
evaluation, as MMRec does (``filter_out_cod_start_users``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """Input data that cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class ModalityFeatures:
    """Content features of one modality, aligned to item indices.

    ``matrix``: float32 ``[n_items, d]``; items without a row hold the modality's mean vector.
    ``missing``: bool ``[n_items]``, True where the mean was filled in.
    """

    matrix: np.ndarray
    missing: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


@dataclass(frozen=True)
class InteractionData:
    """One catalogue in contiguous indices.

    ``user_ids`` / ``item_ids``: external ids, position = index.
    ``train``: CSR ``[n_users, n_items]`` of training interactions (binary, float32).
    ``valid`` / ``test``: CSR ``[n_users, n_items]`` of held-out positives (binary).
    ``features``: modality name -> :class:`ModalityFeatures` (any number, any names).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    features: dict[str, ModalityFeatures] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    def train_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the training edges as ``(users [nnz], items [nnz])`` int64 arrays, row-major order."""
        coo = self.train.tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64)

    def eval_users(self, split: str) -> np.ndarray:
        """Return int64 indices of users with >= 1 positive in ``split`` and >= 1 training interaction."""
        held_out = {"valid": self.valid, "test": self.test}[split]
        has_pos = np.diff(held_out.indptr) > 0
        has_train = np.diff(self.train.indptr) > 0
        return np.flatnonzero(has_pos & has_train).astype(np.int64)


def _binary_csr(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def chronological_split(users: np.ndarray, ts: np.ndarray, ratios=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Per-user chronological split (MMRec's 8:1:1 by default).

    ``users``: int64 ``[n]`` user indices; ``ts``: int64 ``[n]`` timestamps.
    Returns int8 ``[n]`` with 0/1/2 = train/valid/test: each user's earliest ``ratios[0]`` share of
    interactions (at least one) is train, the next ``ratios[1]`` valid, the rest test.
    """
    n = len(users)
    order = np.lexsort((np.arange(n), ts, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    per_user = np.repeat(counts, counts)
    n_train = np.maximum(1, np.floor(per_user * ratios[0]).astype(np.int64))
    n_valid = np.floor(per_user * ratios[1]).astype(np.int64)
    label = np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2)).astype(np.int8)
    out = np.empty(n, dtype=np.int8)
    out[order] = label
    return out


def build_interaction_data(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    split: np.ndarray,
    features: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> InteractionData:
    """Build :class:`InteractionData` from column arrays of the ``interactions`` contract.

    ``user_ids`` / ``item_ids``: ``[n]`` external ids (int64 or str); ``split``: int8 ``[n]``
    0/1/2 = train/valid/test (see :func:`chronological_split` when the table has none).
    ``features``: modality -> ``(feature_item_ids [m], matrix float32 [m, d])``. Rows for items not
    in the interactions are ignored; items without a row get the modality mean and are flagged.
    Raises :class:`DataError` for an empty training split, non-finite features or a bad shape.
    """
    n = len(user_ids)
    if not (len(item_ids) == len(split) == n):
        raise DataError(f"interactions: column lengths differ (user_id {n}, item_id {len(item_ids)}, split {len(split)})")
    if n == 0:
        raise DataError("interactions: the table has no rows")
    bad_split = ~np.isin(split, (0, 1, 2))
    if bad_split.any():
        raise DataError(
            f"interactions: {int(bad_split.sum())} rows have a split other than train/valid/test, "
            f"e.g. {np.unique(split[bad_split])[:5].tolist()}"
        )
    if not (split == 0).any():
        raise DataError(f"interactions: the training split is empty ({n} rows, none labelled train)")

    uniq_users, u_idx = np.unique(user_ids, return_inverse=True)
    uniq_items, i_idx = np.unique(item_ids, return_inverse=True)
    shape = (len(uniq_users), len(uniq_items))
    parts = [_binary_csr(u_idx[split == s], i_idx[split == s], shape) for s in range(3)]

    feats: dict[str, ModalityFeatures] = {}
    for name, (f_ids, matrix) in (features or {}).items():
        feats[name] = align_features(name, uniq_items, f_ids, matrix)
    return InteractionData(uniq_users, uniq_items, *parts, features=feats)


def align_features(name: str, item_ids: np.ndarray, feature_item_ids: np.ndarray, matrix: np.ndarray) -> ModalityFeatures:
    """Align one modality's rows to ``item_ids`` (sorted external ids).

    Returns :class:`ModalityFeatures` with ``matrix`` float32 ``[len(item_ids), d]``; items
    without a row get the mean of the known rows (MMRec's convention) and ``missing`` True.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(feature_item_ids):
        raise DataError(
            f"item_features/{name}: expected a [rows, d] matrix with one row per item id, "
            f"got shape {matrix.shape} for {len(feature_item_ids)} ids"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = np.asarray(feature_item_ids)[~finite]
        raise DataError(f"item_features/{name}: {int((~finite).sum())} rows hold NaN or inf, e.g. item_id {bad[:5].tolist()}")
    pos = np.searchsorted(item_ids, feature_item_ids)
    pos = np.clip(pos, 0, len(item_ids) - 1)
    known = item_ids[pos] == feature_item_ids
    if not known.any():
        raise DataError(f"item_features/{name}: none of its {len(feature_item_ids)} rows names an item of the interactions")
    out = np.empty((len(item_ids), matrix.shape[1]), dtype=np.float32)
    missing = np.ones(len(item_ids), dtype=bool)
    out[pos[known]] = matrix[known]
    missing[pos[known]] = False
    out[missing] = matrix[known].mean(axis=0)
    return ModalityFeatures(out, missing)
