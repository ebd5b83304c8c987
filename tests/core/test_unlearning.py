"""The MMRecUN objective: one step lowers the scores of forgotten pairs (the sign test)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrecun_core.graphs import build_graphs, knn_graph
from mmrecun_core.losses import bpr_loss, reverse_bpr_loss
from mmrecun_core.models import MGCN, LightGCN, MGCNConfig
from mmrecun_core.models.base import Embeddings
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.unlearning.criterion import TopCutoffs
from mmrecun_core.unlearning.forget import ForgetSet, retain_data
from mmrecun_core.unlearning.objective import MMRecUNConfig, anchor_l2, mmrecun_loss, parent_snapshot


def pretrain(model, graphs, data, rng, steps=40):
    """A parent that has learned its training data (forgotten pairs included), as unlearning starts from."""
    users, items = data.train_pairs()
    sampler = NegativeSampler(data.train)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        pick = rng.choice(len(users), 2048, replace=False)
        u, p, n = (torch.from_numpy(a) for a in (users[pick], items[pick], sampler.sample(users[pick], rng)))
        loss = model.batch_loss(graphs, u, p, n)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()


def setup(kind, slice_data):
    forget = ForgetSet.of(users=np.arange(0, slice_data.n_users, 10))
    retain = retain_data(slice_data, forget)
    knn = {m: knn_graph(torch.from_numpy(f.matrix), 10) for m, f in retain.features.items()}
    graphs = build_graphs(retain.train, knn, "cpu")
    torch.manual_seed(0)
    feats = {m: torch.from_numpy(f.matrix) for m, f in retain.features.items()}
    model = (
        MGCN(slice_data.n_users, slice_data.n_items, feats, MGCNConfig(embedding_dim=32))
        if kind == "mgcn"
        else LightGCN(slice_data.n_users, slice_data.n_items)
    )
    rng = np.random.default_rng(0)
    pretrain(model, build_graphs(slice_data.train, knn, "cpu"), slice_data, rng)
    f_mask = forget.forgotten_mask(slice_data.train).tocoo()
    fu, fi = f_mask.row.astype(np.int64), f_mask.col.astype(np.int64)
    fn = NegativeSampler(slice_data.train).sample(fu, rng)
    ru, ri = (a.astype(np.int64) for a in (retain.train.tocoo().row, retain.train.tocoo().col))
    pick = rng.choice(len(ru), 2048, replace=False)
    rn = NegativeSampler(retain.train).sample(ru[pick], rng)

    def t(*a):
        return tuple(torch.from_numpy(x) for x in a)

    return model, graphs, t(fu, fi, fn), t(ru[pick], ri[pick], rn)


def forgotten_scores(model, graphs, forget):
    with torch.no_grad():
        emb = model.propagate(graphs)
        return (emb.users[forget[0]] * emb.items[forget[1]]).sum(1)


@pytest.mark.parametrize("kind", ["mgcn", "lightgcn"])
def test_one_step_lowers_the_scores_of_forgotten_pairs(kind, slice_data):
    model, graphs, forget, retain = setup(kind, slice_data)
    parent = parent_snapshot(model)
    before = forgotten_scores(model, graphs, forget)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = mmrecun_loss(model, graphs, forget, retain, parent)
    opt.zero_grad()
    loss["total"].backward()
    opt.step()
    after = forgotten_scores(model, graphs, forget)
    assert (after - before).mean() < 0, "a step of MMRecUN raised the forgotten pairs' scores: sign slip"
    assert (after < before).float().mean() > 0.75  # a sign slip leaves well under half lowered


def test_reverse_bpr_is_bpr_with_roles_swapped():
    g = torch.Generator().manual_seed(0)
    u, f, n = (torch.randn(5, 4, generator=g) for _ in range(3))
    torch.testing.assert_close(reverse_bpr_loss(u, f, n), bpr_loss(u, n, f))
    # low when the forgotten item scores far below the never-seen one
    assert reverse_bpr_loss(u, -10 * u, 10 * u) < 1e-6


def test_held_rows_of_reverse_bpr_move_only_the_user():
    g = torch.Generator().manual_seed(0)
    u, f, n = (torch.randn(4, 3, generator=g).requires_grad_() for _ in range(3))
    held = torch.tensor([True, False, True, False])
    loss = reverse_bpr_loss(u, f, n, held)
    torch.testing.assert_close(loss, reverse_bpr_loss(u, f, n))  # the same value: only the gradients differ
    loss.backward()
    assert (f.grad[held] == 0).all() and (n.grad[held] == 0).all()
    assert (f.grad[~held] != 0).all() and (n.grad[~held] != 0).all() and (u.grad != 0).all()
    # a held row's user is pushed away from the forgotten item only: its gradient is the forgotten item's direction
    expected = torch.sigmoid((u[0] * (f[0] - n[0])).sum()) * f[0] / 4
    torch.testing.assert_close(u.grad[0], expected.detach())


def test_anchor_is_zero_at_the_parent_and_grows_away_from_it(slice_data):
    model = LightGCN(slice_data.n_users, slice_data.n_items)
    parent = parent_snapshot(model)
    assert anchor_l2(model, parent).item() == 0.0
    with torch.no_grad():
        model.user_embedding.weight[0, 0] += 3.0
    assert anchor_l2(model, parent).item() == pytest.approx(9.0)


def test_config_is_checked():
    with pytest.raises(ValueError, match="alpha"):
        MMRecUNConfig(alpha=1.5)
    with pytest.raises(ValueError, match="beta"):
        MMRecUNConfig(beta=-1)


def test_an_erased_pair_goes_below_the_first_item_out_of_its_users_top_k_unless_the_list_holds_every_item():
    scores = np.array([[6.0, 5, 4, 3, 2, 1], [6.0, 5, 4, 3, 2, 1]])
    emb = Embeddings(torch.tensor(scores, dtype=torch.float32), torch.eye(6), None, None)
    # user 1 has trained on items 2 to 5: two items are left to rank, no third to go below
    mask = sp.csr_matrix((np.ones(5, np.float32), ([0, 1, 1, 1, 1], [5, 2, 3, 4, 5])), shape=(2, 6))
    users = np.array([0, 0, 1])
    in_top, reference = TopCutoffs.rank(emb, users, mask, 2).leaving(emb, users, np.array([1, 3, 0]))
    assert in_top.tolist() == [True, False, False] and reference[:2].tolist() == [2, 2]
    users = np.array([0, 1])
    assert not TopCutoffs.rank(emb, users, sp.csr_matrix((2, 6)), 6).leaving(emb, users, np.array([1, 0]))[0].any()  # k >= the catalogue
