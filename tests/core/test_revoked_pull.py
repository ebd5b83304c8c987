"""Withdrawing the revoked items' pull from the users' rows: the first-order share of a revoked item in a user's row."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrecun_core.models import LightGCN
from mmrecun_core.unlearning.config import UnlearnConfig
from mmrecun_core.unlearning.forget import ForgetSet, retain_data
from mmrecun_core.unlearning.loop import unlearn
from mmrecun_core.unlearning.rows import TrainedOn, withdraw_revoked_pull
from tests.conftest import graphs_of


def test_rows_that_are_their_items_mean_lose_exactly_the_revoked_share():
    """Users whose rows are exactly k times the mean of their items' embeddings: ``c`` is k (a held user's fresh row does
    not enter the fit), and each row becomes k times the kept items' sum over the user's whole degree; held users and
    users without a revoked item keep their rows."""
    rng = np.random.default_rng(0)
    n_u, n_i, k = 30, 12, 0.7
    model = LightGCN(n_u, n_i)
    d = model.config.embedding_dim
    dense = rng.random((n_u, n_i)) < 0.4
    dense[0] = False  # a user without interactions
    fitted = sp.csr_matrix(dense.astype(np.float32))
    items = torch.from_numpy(rng.standard_normal((n_i, d)).astype(np.float32))
    degree = np.maximum(np.asarray(fitted.sum(axis=1)), 1)
    with torch.no_grad():
        model.user_embedding.weight.copy_(torch.from_numpy(k * (fitted @ items.numpy()) / degree))
        model.user_embedding.weight[3] = torch.randn(d) * 5  # a held user's fresh draw: no part of the fit
    before = model.user_embedding.weight.detach().clone()
    revoked, held = np.array([2, 5]), np.array([3])
    facts = withdraw_revoked_pull(model, TrainedOn(fitted, items), revoked, held)
    kept = fitted.multiply(~np.isin(np.arange(n_i), revoked)).tocsr()
    expected = torch.from_numpy(k * (kept @ items.numpy()) / degree)
    touches = np.asarray(fitted[:, revoked].sum(axis=1)).ravel() > 0
    moved = touches & ~np.isin(np.arange(n_u), held)
    after = model.user_embedding.weight.detach()
    assert facts["c"] == pytest.approx(k, rel=1e-5) and facts["users"] == moved.sum() > 0 and facts["mean_shift"] > 0
    torch.testing.assert_close(after[moved], expected[moved])
    assert torch.equal(after[~moved], before[~moved])


def test_mmrecun_withdraws_the_pull_of_revoked_items_only_with_what_the_parent_was_trained_on(parent, slice_data):
    degree = np.asarray(slice_data.train.sum(axis=0)).ravel()
    forget = ForgetSet.of(users=[1, 2], items=np.argsort(-degree, kind="stable")[3:40:4])
    retain = retain_data(slice_data, forget)
    config = UnlearnConfig(max_epochs=1)
    with pytest.raises(ValueError, match="trained_on"):
        unlearn(copy.deepcopy(parent), slice_data, forget, retain, graphs_of(retain), config)
    model = copy.deepcopy(parent)
    with torch.no_grad():
        trained_on = TrainedOn(slice_data.train, parent.propagate(graphs_of(slice_data)).items)
    short = TrainedOn(slice_data.train[:-1], trained_on.items)  # another catalogue's interactions: refused, nothing moved
    with pytest.raises(ValueError, match=r"trained_on.*got \[%d, %d\]" % (slice_data.n_users - 1, slice_data.n_items)):
        unlearn(model, slice_data, forget, retain, graphs_of(retain), config, trained_on=short)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), parent.state_dict().values(), strict=True))
    result = unlearn(model, slice_data, forget, retain, graphs_of(retain), config, trained_on=trained_on)
    touched = np.flatnonzero(np.asarray(slice_data.train[:, forget.items].sum(axis=1)).ravel() > 0)
    moved = np.setdiff1d(touched, forget.users)  # the erased users' rows are fresh draws, left as drawn
    assert result.pull["users"] == len(moved) > 0 and 0 < result.pull["c"]
    changed = (model.user_embedding.weight != parent.user_embedding.weight).any(1).numpy()
    assert set(np.flatnonzero(changed)) == set(moved) | set(forget.users)
    # the paper's form withdraws nothing and needs no parent embeddings
    paper = unlearn(copy.deepcopy(parent), slice_data, forget, retain, graphs_of(retain), UnlearnConfig("mmrecun-paper", max_epochs=1))
    assert paper.pull is None
