"""Interaction data: id maps, splits, feature alignment and the errors of bad input."""

import numpy as np
import pytest

from mmrecun_core.data import DataError, align_features, build_interaction_data, chronological_split


def test_ids_are_mapped_in_sorted_order_and_cold_users_are_not_evaluated():
    users = np.array(["b", "a", "a", "c", "c"])
    items = np.array([10, 30, 20, 10, 30])
    split = np.array([0, 0, 2, 1, 2], dtype=np.int8)  # user "c" has no training interaction
    d = build_interaction_data(users, items, split)
    assert d.user_ids.tolist() == ["a", "b", "c"] and d.item_ids.tolist() == [10, 20, 30]
    assert d.train.toarray().tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    assert d.eval_users("test").tolist() == [0]  # "a" only: "c" is cold-start
    assert d.eval_users("valid").tolist() == []


def test_chronological_split_is_8_1_1_per_user():
    users = np.array([0] * 10 + [1] * 2)
    ts = np.array(list(range(10, 0, -1)) + [5, 1])
    s = chronological_split(users, ts)
    # user 0: the 8 earliest (ts 1..8) train, ts 9 valid, ts 10 test
    assert s[:10].tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    # user 1: floor(1.6) = 1 train (earliest), floor(0.2) = 0 valid, rest test
    assert s[10:].tolist() == [2, 0]


def test_missing_features_get_the_modality_mean_and_are_flagged():
    f = align_features("image", np.array([1, 2, 3]), np.array([3, 1, 99]), np.array([[2.0, 0], [4.0, 2], [9, 9]], dtype=np.float32))
    np.testing.assert_allclose(f.matrix, [[4, 2], [3, 1], [2, 0]])
    assert f.missing.tolist() == [False, True, False]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(split=np.array([1, 2], dtype=np.int8)), "training split is empty"),
        (dict(split=np.array([0, 7], dtype=np.int8)), "split other than"),
        (dict(features={"image": (np.array([1]), np.array([[np.nan, 1.0]]))}), "NaN or inf"),
        (dict(features={"audio": (np.array([1]), np.array([[np.inf, 1.0]]))}), "item_features/audio"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    args = dict(user_ids=np.array([1, 2]), item_ids=np.array([1, 2]), split=np.array([0, 0], dtype=np.int8))
    with pytest.raises(DataError, match=match):
        build_interaction_data(**{**args, **kwargs})


def test_training_without_validation_users_is_refused():

    from mmrecun_core.graphs import build_graphs
    from mmrecun_core.models import LightGCN
    from mmrecun_core.trainer import TrainConfig, fit

    d = build_interaction_data(np.array([1, 1, 2]), np.array([1, 2, 2]), np.array([0, 2, 0], dtype=np.int8))
    with pytest.raises(DataError, match="no user has both a training and a validation interaction"):
        fit(LightGCN(d.n_users, d.n_items), build_graphs(d.train, {}, "cpu"), d, TrainConfig(max_epochs=1))
