"""The Gold-free criterion's parts on hand-made data: cold pool, reference sampling, paired AUC, the probe."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrecun_core.models.base import Embeddings
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.unlearning.criterion import (
    Probe,
    ReferenceSampler,
    TopCutoffs,
    cold_pool,
    criterion_aucs,
    criterion_levels,
    paired_auc,
    top_share,
)


def csr(pairs, shape):
    r, c = zip(*pairs, strict=True)
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=shape)


# 3 users x 6 items; item degrees 3, 2, 1, 1, 0, 0
TRAIN = csr([(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2), (2, 3)], (3, 6))


def test_cold_pool_takes_the_lowest_degrees_with_ties_and_never_a_revoked_item():
    assert cold_pool(TRAIN, np.array([], np.int64), 2).tolist() == [4, 5]
    assert cold_pool(TRAIN, np.array([4]), 2).tolist() == [2, 3, 5]  # degree 1 ties both enter
    assert cold_pool(TRAIN, np.array([0]), 50).tolist() == [1, 2, 3, 4, 5]  # never more than what is left
    with pytest.raises(ValueError, match="every item is revoked"):
        cold_pool(TRAIN, np.arange(6), 2)


def test_references_are_cold_for_revoked_items_and_never_a_training_item():
    revoked = np.array([0])
    sampler = ReferenceSampler(TRAIN, TRAIN, revoked, pool_size=2)
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(3), 200)
    items = np.tile([0, 1], 300)
    ref = sampler.sample(users, items, rng)
    assert set(ref[items == 0]) <= {4, 5}
    assert not TRAIN[users, ref].A1.any()
    assert len(set(ref[items == 1])) > 2  # never-seen items, drawn uniformly
    assert sampler.is_revoked(np.array([0, 1])).tolist() == [True, False]


def test_items_revoked_by_earlier_versions_never_enter_the_cold_pool():
    # item 4 was revoked by the parent's own parent: no retain interaction left, yet it is no cold item
    assert ReferenceSampler(TRAIN, TRAIN, np.array([3]), pool_size=2).cold.candidates.tolist() == [4, 5]
    sampler = ReferenceSampler(TRAIN, TRAIN, np.array([3]), pool_size=2, excluded=np.array([4]))
    assert sampler.cold.candidates.tolist() == [2, 5]  # degree 0 (5), then degree 1 (2); 3 is revoked now
    users = np.repeat(np.arange(3), 100)
    ref = sampler.sample(users, np.full(300, 3), np.random.default_rng(0))
    assert 4 not in set(ref) and not TRAIN[users, ref].A1.any()
    assert not sampler.is_revoked(np.array([4]))[0]  # already unlearned: not one of this run's revocations


def test_negative_sampler_draws_from_candidates_only():
    sampler = NegativeSampler(TRAIN, candidates=np.array([2, 3, 4]))
    users = np.repeat(np.arange(3), 100)
    neg = sampler.sample(users, np.random.default_rng(0))
    assert set(neg) <= {2, 3, 4} and not TRAIN[users, neg].A1.any()
    with pytest.raises(ValueError, match="every candidate item"):
        NegativeSampler(TRAIN, candidates=np.array([0]))


def test_paired_auc():
    assert paired_auc(np.array([2.0, 3.0]), np.array([1.0, 1.0])) == 1.0
    assert paired_auc(np.array([0.0, 3.0]), np.array([1.0, 1.0])) == 0.5
    assert paired_auc(np.array([1.0]), np.array([1.0])) == 0.5  # a tie counts one half
    assert np.isnan(paired_auc(np.array([]), np.array([])))


def test_revocation_triples_are_item_centric():
    # item 0 revoked: retain keeps the other 4 interactions; users 0, 0, 2, 2 (user 1 has none left)
    retain = csr([(0, 1), (0, 2), (2, 3), (2, 1)], (3, 6))
    sampler = ReferenceSampler(TRAIN, retain, np.array([0, 1]), pool_size=2)  # cold: 4, 5
    users, items, reference = sampler.revocation_triples(4000, np.random.default_rng(0))
    assert set(users) == {0, 2} and abs((users == 0).mean() - 0.5) < 0.05  # as often as their retain interactions
    assert set(items) == {0, 1} and abs((items == 0).mean() - 0.5) < 0.05  # revoked items uniformly
    assert set(reference) <= {4, 5} and not TRAIN[users, reference].A1.any()


def test_probe_samples_each_kind_of_request():
    sampler = ReferenceSampler(TRAIN, TRAIN, np.array([3]), pool_size=2)
    coo = TRAIN.tocoo()
    users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
    probe = Probe.draw(users, items, sampler, np.random.default_rng(0), size=2)
    # 6 erasure pairs -> 2 drawn, each with a never-seen reference; and 2 item-centric revocation triples
    assert probe.revoked.tolist() == [False, False, True, True] and (probe.forgotten[probe.revoked] == 3).all()
    assert set(probe.reference[probe.revoked]) <= {4, 5} and not np.isin(probe.forgotten[~probe.revoked], [3]).any()
    assert not TRAIN[probe.users[~probe.revoked], probe.reference[~probe.revoked]].A1.any()
    no_revocation = Probe.draw(users[items != 3], items[items != 3], sampler, np.random.default_rng(0), size=2)
    assert not no_revocation.revoked.any()  # no forgotten pair of a revoked item: no revocation triples


def test_erasures_are_referenced_by_never_seen_items_at_the_level_of_held_out_ones():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 0, 1]], dtype=np.float32))
    held_out = sp.csr_matrix(np.array([[0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 0, 1, 0, 0]], dtype=np.float32))
    sampler = ReferenceSampler(train, train, np.empty(0, np.int64), 1)
    probe = Probe.draw(np.array([0, 2]), np.array([0, 1]), sampler, np.random.default_rng(0), 10, held_out)
    assert sorted(probe.users.tolist()) == [0, 2]  # every pair is judged
    assert not train[probe.users, probe.reference].A1.any()  # against never-seen items
    # the level sample: 10 draws from every user's held-out interactions (user 1's too); both erased items have two
    # retain interactions, one degree bin, so every held-out interaction may be drawn
    held = set(zip(probe.level_users.tolist(), probe.level_items.tolist(), strict=True))
    assert len(probe.level_users) == 10 and held <= {(0, 3), (1, 4), (2, 0), (2, 2)}
    assert not train[probe.level_users, probe.level_reference].A1.any()
    without = Probe.draw(np.array([0, 2]), np.array([0, 1]), sampler, np.random.default_rng(0), 10)
    assert len(without.level_users) == 0


def _scored(scores: np.ndarray) -> Embeddings:
    """Embeddings whose scores are the fixed ``[n_u, n_i]`` table (user rows, one-hot item rows)."""
    return Embeddings(torch.tensor(scores, dtype=torch.float32), torch.eye(scores.shape[1]), None, None)


def test_the_erasure_level_is_the_parent_auc_of_held_out_interactions_against_never_seen_items():
    scores = np.array([[5.0, 0, 0, 2, 1], [5.0, 0, 0, 0, 1]])
    empty = np.empty(0, np.int64)
    erasure_and_revocation = (np.array([0, 1]), np.array([0, 0]), np.array([4, 4]), np.array([False, True]))
    # user 0: held-out item 3 above never-seen item 4; user 1: held-out item 2 below it
    probe = Probe(*erasure_and_revocation, np.array([0, 1]), np.array([3, 2]), np.array([4, 4]))
    assert criterion_levels(_scored(scores), probe) == {"erasures": 0.5, "revocations": 0.5}
    probe = Probe(*erasure_and_revocation, np.array([0]), np.array([3]), np.array([4]))
    assert criterion_levels(_scored(scores), probe)["erasures"] == 1.0
    probe = Probe(*erasure_and_revocation, empty, empty, empty)
    assert criterion_levels(_scored(scores), probe)["erasures"] == 0.5  # no held-out interaction: chance


def test_top_share_counts_pairs_in_their_users_top_k_per_user_then_over_users():
    scores = np.array([[6.0, 5, 4, 3, 2, 1], [1.0, 2, 3, 4, 5, 6]])
    served = csr([(0, 0), (1, 5)], (2, 6))  # each user's best item is a training item: not ranked
    emb = _scored(scores)
    # user 0's top 2 once item 0 is masked: items 1 and 2; user 1's: items 4 and 3
    users = np.array([0, 0, 1])
    assert top_share(emb, users, np.array([1, 3, 4]), TopCutoffs.rank(emb, users, served, 2)) == pytest.approx((1 / 2 + 1) / 2)
    back = TopCutoffs.rank(emb, np.array([0]), csr([(0, 5)], (2, 6)), 2)
    assert top_share(emb, np.array([0]), np.array([2]), back) == 0.0  # item 0 back in the list
    assert np.isnan(top_share(emb, np.empty(0, np.int64), np.empty(0, np.int64), back))
    with pytest.raises(ValueError, match="not computed"):  # cutoffs are read only for the users they ranked
        back.in_top(emb, np.array([1]), np.array([0]))


def test_the_top_of_the_ranking_is_judged_with_a_mask_and_a_level_sample():
    scores = np.array([[5.0, 0, 0, 2, 1], [5.0, 0, 0, 0, 1]])
    empty = np.empty(0, np.int64)
    erasures = (np.array([0, 1]), np.array([0, 0]), np.array([4, 4]), np.array([False, False]))
    probe = Probe(*erasures, np.array([0, 1]), np.array([3, 2]), np.array([4, 4]))
    mask = csr([(0, 1), (1, 1)], (2, 5))
    emb = _scored(scores)
    assert criterion_aucs(emb, probe) == {"erasures": 1.0}
    assert criterion_aucs(emb, probe, TopCutoffs.rank(emb, probe.users, mask, 1)) == {
        "erasures": 1.0,
        "erasures@top": 1.0,
    }  # item 0 is each user's best
    # the level: user 0's held-out item 3 is its best unmasked item but for item 0; user 1's item 2 ties at the bottom
    assert criterion_levels(emb, probe, mask, 2) == {"erasures": 0.5, "erasures@top": 0.5}
    no_split = Probe(*erasures, empty, empty, empty)
    assert "erasures@top" not in criterion_aucs(emb, no_split, TopCutoffs.rank(emb, probe.users, mask, 1))  # no held-out split
