"""Forget sets: which interactions and content leave, and the retain data that remains."""

import numpy as np
import pytest
import torch

from mmrecun_core.data import build_interaction_data
from mmrecun_core.graphs import knn_graph, modality_knn
from mmrecun_core.unlearning.forget import ForgetSet, delete_content, retain_data


def small():
    users = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0, 1])
    items = np.array([0, 1, 2, 1, 3, 0, 2, 3, 3, 0])
    split = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2, 1], dtype=np.int8)
    feats = {
        "image": (np.arange(4), np.array([[1, 0], [0, 1], [1, 1], [3, 3]], dtype=np.float32)),
        "audio": (np.arange(4), np.array([[2, 0], [0, 2], [4, 4], [1, 0]], dtype=np.float32)),
    }
    return build_interaction_data(users, items, split, feats)


def edges(m):
    coo = m.tocoo()
    return sorted(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def test_each_request_kind_removes_its_interactions_from_every_split():
    d = small()
    r = retain_data(d, ForgetSet.of(users=[1], items=[2], pairs=[[2, 3]]))
    # user 1 (train (1,1),(1,3), valid (1,0)), item 2 ((0,2),(2,2)) and the pair (2,3) are gone
    assert edges(r.train) == [(0, 0), (0, 1), (2, 0)]
    assert edges(r.valid) == []
    assert edges(r.test) == [(0, 3)]
    assert r.train.shape == d.train.shape  # indices keep their meaning


def test_revoked_item_loses_content_in_every_modality_and_the_mean_forgets_it():
    r = retain_data(small(), ForgetSet.of(items=[3]))
    for m in ("image", "audio"):
        assert r.features[m].missing.tolist() == [False, False, False, True]
    np.testing.assert_allclose(r.features["image"].matrix[3], [2 / 3, 2 / 3])  # mean of rows 0..2 only
    np.testing.assert_allclose(r.features["audio"].matrix[3], [2.0, 2.0])


def test_modality_deletion_touches_that_modality_only_and_keeps_interactions():
    d = small()
    r = retain_data(d, ForgetSet.of(modality_items={"audio": [0]}))
    assert edges(r.train) == edges(d.train)
    np.testing.assert_array_equal(r.features["image"].matrix, d.features["image"].matrix)
    assert r.features["audio"].missing.tolist() == [True, False, False, False]
    np.testing.assert_allclose(r.features["audio"].matrix[0], [5 / 3, 2.0])


def test_rebuilt_knn_graph_no_longer_sees_the_deleted_content():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 8)).astype(np.float32)
    base[7] = base[3] * 2  # item 7's content is a copy of item 3's: its nearest neighbour
    d = build_interaction_data(np.zeros(40, int), np.arange(40), np.zeros(40, np.int8), {"image": (np.arange(40), base)})
    before = knn_graph(torch.from_numpy(d.features["image"].matrix), 3)
    assert 3 in before.index[7].tolist() and 7 in before.index[3].tolist()
    r = retain_data(d, ForgetSet.of(modality_items={"image": [7]}))
    after = modality_knn(r.features["image"], 3)
    assert after.index[7].tolist() == [7, 7, 7] and after.sim[7].tolist() == [1, 0, 0]  # no content, no content neighbours
    assert not (after.index[np.arange(40) != 7] == 7).any()
    mean = base[np.arange(40) != 7].mean(axis=0)
    np.testing.assert_allclose(r.features["image"].matrix[7], mean, rtol=1e-6)


def test_empty_and_invalid_forget_sets():
    d = small()
    assert ForgetSet.of().is_empty and not ForgetSet.of(pairs=[[0, 1]]).is_empty
    assert edges(retain_data(d, ForgetSet.of()).train) == edges(d.train)
    with pytest.raises(IndexError, match="outside the catalogue"):
        retain_data(d, ForgetSet.of(users=[99]))
    with pytest.raises(KeyError, match="text"):
        retain_data(d, ForgetSet.of(modality_items={"text": [1]}))
    with pytest.raises(ValueError, match="no known row"):
        delete_content(d.features["image"], np.arange(4))


def test_without_revoked_keeps_the_erased_interactions_of_items_still_served():
    data = small()
    forget = ForgetSet.of(users=[2], items=[1], pairs=[(0, 2)])
    forgotten = forget.forgotten_mask(data.train)
    # user 2's items 0, 2, 3; item 1 of users 0 and 1 (revoked); user 0's item 2
    assert edges(forgotten) == [(0, 1), (0, 2), (1, 1), (2, 0), (2, 2), (2, 3)]
    assert edges(forget.without_revoked(forgotten)) == [(0, 2), (2, 0), (2, 2), (2, 3)]
    assert forget.without_revoked(forgotten).nnz == 4  # the revoked entries are gone, not stored as zeros
