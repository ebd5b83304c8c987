"""Each metric against values computed by hand."""

import numpy as np
import pytest

from mmrecun_core.metrics import hit_at_k, ndcg_at_k, precision_at_k, recall_at_k

# user 0: hits at ranks 1 and 3 of 4, 3 positives; user 1: hit at rank 2, 1 positive; user 2: none, 2 positives
HITS = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
N_POS = np.array([3, 1, 2])


def test_recall():
    assert recall_at_k(HITS, N_POS, 2) == pytest.approx([1 / 3, 1.0, 0.0])
    assert recall_at_k(HITS, N_POS, 4) == pytest.approx([2 / 3, 1.0, 0.0])


def test_precision():
    assert precision_at_k(HITS, N_POS, 2) == pytest.approx([0.5, 0.5, 0.0])
    assert precision_at_k(HITS, N_POS, 4) == pytest.approx([0.5, 0.25, 0.0])


def test_hit():
    assert hit_at_k(HITS, N_POS, 1) == pytest.approx([1.0, 0.0, 0.0])
    assert hit_at_k(HITS, N_POS, 2) == pytest.approx([1.0, 1.0, 0.0])


def test_ndcg():
    # user 0 @4: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (3 positives) = 1 + 1/log2(3) + 1/2
    # user 1 @4: DCG = 1/log2(3); IDCG = 1
    expected_u0 = 1.5 / (1 + 1 / np.log2(3) + 0.5)
    assert ndcg_at_k(HITS, N_POS, 4) == pytest.approx([expected_u0, 1 / np.log2(3), 0.0])
    # @1, user 0: ideal is one hit at rank 1 -> 1.0
    assert ndcg_at_k(HITS, N_POS, 1) == pytest.approx([1.0, 0.0, 0.0])


def test_perfect_ranking_scores_one():
    hits = np.array([[1, 1, 0]], dtype=bool)
    assert ndcg_at_k(hits, np.array([2]), 3) == pytest.approx([1.0])
    assert recall_at_k(hits, np.array([2]), 3) == pytest.approx([1.0])
