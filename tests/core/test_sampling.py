"""Never-seen items of the same popularity (peers) as references of a membership attacker."""

import numpy as np
import scipy.sparse as sp

from mmrecun_core.sampling import NegativeSampler, PopularityPeerSampler


def test_peers_lie_around_the_item_in_popularity_and_are_never_seen():
    n_items = 200
    degree = np.arange(n_items)[::-1].copy()  # item 199 least popular, item 0 most
    train = sp.csr_matrix((np.ones(3), ([0, 0, 1], [95, 105, 0])), shape=(2, n_items))
    sampler = PopularityPeerSampler(NegativeSampler(train), degree, share=0.1)  # ±10 places
    users, items = np.zeros(2000, np.int64), np.full(2000, 100)
    peers = sampler.sample(users, items, np.random.default_rng(0))
    assert set(peers) == set(range(90, 111)) - {95, 100, 105}  # the window, less the item and the user's training items
    ends = sampler.sample(np.ones(500, np.int64), np.full(500, 199), np.random.default_rng(1))
    assert set(ends) == set(range(179, 199))  # the least popular item's window is shifted inward, not shortened
    again = sampler.sample(users, items, np.random.default_rng(0))
    np.testing.assert_array_equal(again, peers)


def test_a_user_with_every_peer_gets_a_uniformly_drawn_never_seen_item():
    n_items = 50
    degree = np.arange(n_items)
    window = np.arange(20, 41)  # item 30 and its 20 peers (±10 places, min_half)
    train = sp.csr_matrix((np.ones(len(window)), (np.zeros(len(window), int), window)), shape=(1, n_items))
    sampler = PopularityPeerSampler(NegativeSampler(train), degree, share=0.01)
    drawn = sampler.sample(np.zeros(300, np.int64), np.full(300, 30), np.random.default_rng(2))
    assert not np.isin(drawn, window).any() and len(set(drawn)) > 10
