"""Evidence measures on hand-made embeddings whose rankings are known."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrecun_core.evaluation import top_k_hits
from mmrecun_core.models.base import Embeddings
from mmrecun_core.sampling import NegativeSampler, PopularityPeerSampler
from mmrecun_core.unlearning.evidence import exposure, forget_recall, item_recall, score_divergence
from mmrecun_core.unlearning.membership import membership_auc, membership_scores


def emb(users, items):
    u, i = torch.tensor(users, dtype=torch.float32), torch.tensor(items, dtype=torch.float32)
    return Embeddings(u, i, u, i)


# 3 users, 4 items, 1-d: scores = user * item; items ranked 3 > 2 > 1 > 0 for positive users
E = emb([[1.0], [2.0], [-1.0]], [[0.0], [1.0], [2.0], [3.0]])


def csr(pairs, shape=(3, 4)):
    r, c = zip(*pairs, strict=True) if pairs else ((), ())
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=shape)


def test_forget_recall_masks_retained_items():
    # user 0 forgot item 2; item 3 (ranked first) is a retained training item, masked -> item 2 is top-1
    forgotten = csr([(0, 2)])
    assert forget_recall(E, forgotten, csr([(0, 3)]), k=1) == 1.0
    assert forget_recall(E, forgotten, csr([]), k=1) == 0.0  # unmasked, item 3 takes the only slot
    # user 2 (negative) ranks item 0 first: forgetting item 3 is at the bottom
    assert forget_recall(E, csr([(2, 3)]), csr([]), k=2) == 0.0
    assert np.isnan(forget_recall(E, csr([]), csr([])))


def test_item_recall_ranks_users_for_each_item():
    # item 3: users ranked 1 (score 6) > 0 (3) > 2 (-3); users 0 and 2 interacted with it
    interactions = csr([(0, 3), (2, 3), (1, 1)])
    got = item_recall(E, np.array([3]), interactions, ks=(1, 2, 3))
    assert got == {1: 0.0, 2: 0.5, 3: 1.0}
    # items nobody interacted with are left out of the mean
    assert item_recall(E, np.array([0, 3]), interactions, ks=(2,)) == {2: 0.5}


def test_exposure_counts_items_in_served_lists():
    users = np.array([0, 1, 2])
    # top-1: users 0 and 1 get item 3, user 2 gets item 0
    assert exposure(E, users, np.array([3]), csr([]), k=1) == 2
    # the serving filter excludes the revoked item for everybody: nothing is exposed
    assert exposure(E, users, np.array([3]), csr([(u, 3) for u in range(3)]), k=1) == 0
    assert exposure(E, users, np.array([0, 3]), csr([]), k=1) == 3
    assert exposure(E, users, np.array([3]), csr([]), k=1, served=True) == 0
    # a list that must take a masked item for want of others does not expose it
    assert exposure(E, users, np.array([0, 1, 2]), csr([(2, i) for i in (0, 1, 2)]), k=2) == 2  # item 2 for users 0 and 1


def test_score_divergence_is_the_mean_squared_score_difference():
    other = emb([[1.0], [2.0], [-1.0]], [[0.0], [1.0], [2.0], [4.0]])  # item 3 scores +1, +2, -1 apart
    assert score_divergence(E, other) == pytest.approx((1 + 4 + 1) / 12)
    assert score_divergence(E, E) == 0.0
    assert score_divergence(E, other, users=np.array([1])) == pytest.approx(4 / 4)


def test_membership_auc():
    assert membership_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert membership_auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert membership_auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert membership_auc(np.array([2.0]), np.array([2.0])) == 0.5  # a tie counts one half
    assert np.isnan(membership_auc(np.array([]), np.array([1.0])))


def test_membership_scores_pair_each_forgotten_interaction_with_a_never_seen_item():
    # user 0 trained on items 2 and 3 and forgot 3; user 1 trained on 0, 1, 2 and forgot 1
    train, forgotten = csr([(0, 2), (0, 3), (1, 0), (1, 1), (1, 2)]), csr([(0, 3), (1, 1)])
    member, non_member = membership_scores(E, forgotten, NegativeSampler(train), seed=4)
    # members are scored by their own items; user 1's only never-seen item is 3, user 0's are 0 and 1
    assert sorted(member.tolist()) == [2.0, 3.0]
    assert sorted(non_member.tolist()) in ([0.0, 6.0], [1.0, 6.0])
    np.testing.assert_array_equal(membership_scores(E, forgotten, NegativeSampler(train), seed=4)[1], non_member)  # same seed, same pairs
    assert len(membership_scores(E, forgotten, NegativeSampler(train), sample=1)[0]) == 1


def test_score_histograms_share_edges_and_sum_to_one():
    from mmrecun_core.unlearning.membership import score_histograms

    h = score_histograms(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0.0, 0.5]), bins=4)
    assert h["edges"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert h["forgotten"] == [0.25, 0.0, 0.5, 0.25] and h["never_seen"] == [0.5, 0.5, 0.0, 0.0]


def test_items_excluded_for_everyone_rank_as_if_masked_for_each_user():
    users, targets = np.arange(3), csr([(0, 2), (1, 1), (2, 0)])
    excluded = top_k_hits(E, users, targets, csr([(0, 1)]), k=2, excluded_items=np.array([3]))
    masked = top_k_hits(E, users, targets, csr([(0, 1), (0, 3), (1, 3), (2, 3)]), k=2)
    assert np.array_equal(excluded, masked)
    assert excluded.tolist() == [[True, False], [False, True], [True, False]]  # item 3 never takes a place


def test_an_attacker_with_peers_is_not_fooled_by_popularity():
    # the model scores every item by its popularity alone: erased interactions, mostly of popular items, beat uniformly
    # drawn never-seen items, but not never-seen items of their own popularity
    rng = np.random.default_rng(0)
    n_users, n_items = 300, 400
    popularity = rng.pareto(1.5, n_items) + 1
    r = rng.random((n_users, n_items)) < 0.05 * popularity / popularity.mean()
    train = sp.csr_matrix(r.astype(np.float32))
    degree = np.asarray(train.sum(0)).ravel()
    model = emb(np.ones((n_users, 1)), degree[:, None] + rng.random((n_items, 1)) * 0.1)  # ties broken at random
    erased = sp.csr_matrix(train.multiply(rng.random(train.shape) < 0.3))
    never_seen = NegativeSampler(train)
    peers = PopularityPeerSampler(never_seen, degree)
    assert membership_auc(*membership_scores(model, erased, never_seen)) > 0.75
    assert abs(membership_auc(*membership_scores(model, erased, never_seen, peers=peers)) - 0.5) < 0.08
