"""The held-out interactions an erasure is measured against: what retraining never trained on, drawn to look like
what was erased.

A retrained model scores an erased interaction ``(u, f)`` as it scores choices it never trained on; the parent shows
how it scores those on the held-out (validation) interactions. How high a model scores an item depends first on how
popular it is, and the erased items are not a uniform draw of the held-out ones (on TikTok an erasure of the users'
oldest interactions names items with a median of 21.5 to 29 retain interactions, the held-out split's 16 to 17). So
the level sample is drawn from every user's held-out interactions, each with a probability that gives its item's
retain training degree the distribution of the erased items' (:func:`popularity_matched`). Read from all users it
rests on thousands of interactions instead of the erasing users' few (81 to 109 on TikTok's forget sets).

Why: docs/decisions/005-forgetting-criterion-references.md ("The level sample").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

DEGREE_BINS = 10  # deciles: the level moves by less than 0.01 between 5, 10 and 20 bins on TikTok (decision 005)


def item_degree(retain_train: sp.spmatrix) -> np.ndarray:
    """Retain training interactions per item, int64 ``[n_i]`` (``retain_train``: ``[n_u, n_i]``, one entry per interaction)."""
    return np.asarray((retain_train != 0).sum(axis=0)).ravel().astype(np.int64)


def popularity_matched(
    held_out: sp.spmatrix,
    erased_items: np.ndarray,
    degree: np.ndarray,
    size: int,
    rng: np.random.Generator,
    bins: int = DEGREE_BINS,
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` held-out interactions ``(users, items)`` (int64 ``[size]`` each; empty when ``held_out`` or
    ``erased_items`` is), drawn with replacement from ``held_out`` (CSR ``[n_u, n_i]``) so that their items' ``degree``
    (int ``[n_i]``, :func:`item_degree`) follows that of ``erased_items`` (int64 ``[f]``, one per erased pair, repeats
    counting): the erased items' degrees, from their least to their greatest, cut into ``bins`` quantile bins (fewer
    where quantiles tie), each held-out interaction of an item in that range drawn with probability
    ``p_erased(bin) / p_held_out(bin)``, the others never. A bin with no held-out interaction is left out and the
    others' shares renormalised; none left, the sample is empty."""
    coo = held_out.tocoo()
    users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
    erased_items = np.asarray(erased_items, dtype=np.int64)
    if len(users) == 0 or len(erased_items) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    edges = np.unique(np.quantile(degree[erased_items], np.linspace(0, 1, bins + 1)))[1:-1]  # inner edges
    erased_bin = np.searchsorted(edges, degree[erased_items], side="right")
    held_bin = np.searchsorted(edges, degree[items], side="right")
    n_bins = len(edges) + 1
    want = np.bincount(erased_bin, minlength=n_bins) / len(erased_bin)
    inside = np.flatnonzero((degree[items] >= degree[erased_items].min()) & (degree[items] <= degree[erased_items].max()))
    have = np.bincount(held_bin[inside], minlength=n_bins) / max(len(inside), 1)
    weight = np.zeros(len(items))
    weight[inside] = want[held_bin[inside]] / have[held_bin[inside]]  # an occupied bin: have > 0
    if weight.sum() == 0:  # no held-out item is as popular as any erased one
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pick = rng.choice(len(users), size, p=weight / weight.sum())
    return users[pick], items[pick]
