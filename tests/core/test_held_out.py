"""The erasures' level sample: held-out interactions drawn to match the erased items' popularity."""

import numpy as np
import scipy.sparse as sp

from mmrecun_core.unlearning.held_out import item_degree, popularity_matched


def test_item_degree_counts_retain_interactions():
    retain = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0]], dtype=np.float32))
    assert item_degree(retain).tolist() == [2, 1, 0]


def _held_out(n_users: int, items: np.ndarray) -> sp.csr_matrix:
    """One held-out interaction per user: user ``u`` with ``items[u]``."""
    return sp.csr_matrix((np.ones(n_users, np.float32), (np.arange(n_users), items)), shape=(n_users, 4))


def test_the_sample_takes_the_popularity_of_the_erased_items_not_of_the_held_out_split():
    degree = np.array([1, 2, 50, 60])  # items 0 and 1 rare, 2 and 3 popular
    held_out = _held_out(1000, np.where(np.arange(1000) < 900, 1, 2))  # 90% rare, 10% popular
    rng = np.random.default_rng(0)
    users, items = popularity_matched(held_out, np.array([1, 2]), degree, 20_000, rng)  # erased: half rare, half popular
    assert len(users) == len(items) == 20_000
    assert np.all(held_out[users, items].A1 == 1)  # only held-out interactions, with their own users
    assert abs(np.mean(items == 2) - 0.5) < 0.02  # popular held-out items drawn as often as the erasures name them
    _, popular = popularity_matched(held_out, np.array([2, 3]), degree, 2_000, rng)
    assert np.all(popular == 2)  # every erased item popular: a rare held-out item is never drawn


def test_an_empty_sample_when_there_is_nothing_to_match():
    degree = np.array([1, 2, 50, 60])
    rng = np.random.default_rng(0)
    empty = sp.csr_matrix((3, 4), dtype=np.float32)
    for held_out, erased in ((empty, np.array([2])), (_held_out(3, np.zeros(3, int)), np.empty(0, np.int64))):
        users, items = popularity_matched(held_out, erased, degree, 10, rng)
        assert len(users) == len(items) == 0
    users, _ = popularity_matched(_held_out(3, np.zeros(3, int)), np.array([2, 3]), degree, 10, rng)
    assert len(users) == 0  # no held-out item as popular as an erased one
