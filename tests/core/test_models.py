"""MGCN / LightGCN on tiny random graphs: shapes, subset propagation, loss identities, learning."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmrecun_core.graphs import build_graphs, knn_graph
from mmrecun_core.losses import info_nce
from mmrecun_core.models import MGCN, LightGCN, MGCNConfig
from mmrecun_core.models.base import Batch
from mmrecun_core.sampling import NegativeSampler

N_USERS, N_ITEMS = 30, 20


def tiny(modalities: dict[str, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    dense = (rng.random((N_USERS, N_ITEMS)) < 0.2).astype(np.float32)
    dense[np.arange(N_USERS), rng.integers(0, N_ITEMS, N_USERS)] = 1
    train = sp.csr_matrix(dense)
    feats = {m: torch.from_numpy(rng.normal(size=(N_ITEMS, d)).astype(np.float32)) for m, d in modalities.items()}
    graphs = build_graphs(train, {m: knn_graph(f, 4) for m, f in feats.items()}, "cpu")
    return train, feats, graphs


@pytest.mark.parametrize("modalities", [{"image": 6}, {"image": 6, "audio": 5}, {"video": 3, "text": 7, "audio_clip": 4}])
def test_mgcn_forward_shapes_for_any_modalities(modalities):
    train, feats, graphs = tiny(modalities)
    torch.manual_seed(0)
    model = MGCN(N_USERS, N_ITEMS, feats, MGCNConfig(embedding_dim=8))
    emb = model.propagate(graphs)
    assert emb.users.shape == (N_USERS, 8) and emb.items.shape == (N_ITEMS, 8)
    assert emb.side.shape == emb.content.shape == (N_USERS + N_ITEMS, 8)
    assert model.score(emb, torch.tensor([0, 3])).shape == (2, N_ITEMS)
    assert torch.isfinite(emb.users).all() and torch.isfinite(emb.items).all()


def test_subset_propagation_equals_rows_of_full_propagation():
    _, feats, graphs = tiny({"image": 6, "audio": 5})
    torch.manual_seed(0)
    model = MGCN(N_USERS, N_ITEMS, feats, MGCNConfig(embedding_dim=8))
    full = model.propagate(graphs)
    users, items = torch.tensor([4, 0, 17]), torch.tensor([19, 2])
    part = model.propagate(graphs, users, items)
    torch.testing.assert_close(part.users, full.users[users])
    torch.testing.assert_close(part.items, full.items[items])
    torch.testing.assert_close(part.side, torch.cat([full.side[users], full.side[N_USERS + items]]))


def test_purifier_gate_equals_two_step_mmrec_form():
    _, feats, _ = tiny({"image": 6})
    model = MGCN(N_USERS, N_ITEMS, feats, MGCNConfig(embedding_dim=8))
    two_step = model.purifiers["image"](model.projections["image"](model.features["image"]))
    torch.testing.assert_close(model._purifier_gate("image"), two_step)


def test_stacked_preference_gates_equal_each_modality_gate():
    _, feats, _ = tiny({"image": 6, "audio": 5, "text": 3})
    model = MGCN(N_USERS, N_ITEMS, feats, MGCNConfig(embedding_dim=8))
    content = torch.randn(11, 8)
    each = torch.stack([model.preference_gates[m](content) for m in model.modalities], dim=1)
    torch.testing.assert_close(model._preference_gates(content), each)


def test_weighted_info_nce_equals_duplicated_batch():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    rows = torch.tensor([0, 0, 1, 3, 3, 3, 5])
    unique, counts = torch.unique(rows, return_counts=True)
    torch.testing.assert_close(info_nce(a[unique], b[unique], 0.2, counts), info_nce(a[rows], b[rows], 0.2))
    # the plain form is MMRec's -log(exp(pos / t) / sum exp(all / t))
    an, bn = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    mmrec = -torch.log(torch.exp((an * bn).sum(1) / 0.2) / torch.exp(an @ bn.T / 0.2).sum(1)).mean()
    torch.testing.assert_close(info_nce(a, b, 0.2), mmrec)


def test_info_nce_gradient_equals_autograd_of_mmrec_form():
    g = torch.Generator().manual_seed(2)
    a, b = (torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    rows = torch.tensor([0, 0, 1, 2, 3, 3, 3, 4, 5, 6, 6])
    unique, counts = torch.unique(rows, return_counts=True)
    (info_nce(a[unique], b[unique], 0.2, counts) * 3).backward()
    fast = a.grad.clone(), b.grad.clone()
    a.grad, b.grad = None, None
    an, bn = torch.nn.functional.normalize(a[rows], dim=1), torch.nn.functional.normalize(b[rows], dim=1)
    (3 * -torch.log_softmax(an @ bn.T / 0.2, dim=1).diagonal().mean()).backward()
    torch.testing.assert_close(fast, (a.grad, b.grad))


def test_info_nce_refuses_a_temperature_that_would_underflow():
    with pytest.raises(ValueError, match="temperature 0.01"):
        info_nce(torch.randn(3, 2), torch.randn(3, 2), 0.01)


@pytest.mark.parametrize("kind", ["mgcn", "lightgcn"])
def test_a_few_adam_steps_lower_the_bpr_loss(kind):
    train, feats, graphs = tiny({"image": 6, "audio": 5})
    torch.manual_seed(0)
    model = MGCN(N_USERS, N_ITEMS, feats, MGCNConfig(embedding_dim=16)) if kind == "mgcn" else LightGCN(N_USERS, N_ITEMS)
    coo = train.tocoo()
    users, pos = torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))
    neg = torch.from_numpy(NegativeSampler(train).sample(coo.row.astype(np.int64), np.random.default_rng(0)))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        parts = model.batch_loss(graphs, users, pos, neg)
        losses.append(parts["bpr"].item())
        opt.zero_grad()
        parts["total"].backward()
        opt.step()
    assert losses[-1] < losses[0] - 0.05


def test_batch_maps_triples_to_unique_rows():
    b = Batch.from_triples(torch.tensor([5, 2, 5]), torch.tensor([1, 9, 1]), torch.tensor([9, 3, 4]))
    assert b.users.tolist() == [2, 5] and b.items.tolist() == [1, 3, 4, 9]
    assert b.users[b.user].tolist() == [5, 2, 5]
    assert b.items[b.pos].tolist() == [1, 9, 1] and b.items[b.neg].tolist() == [9, 3, 4]


def test_negative_sampler_never_returns_a_positive_and_covers_the_rest():
    train, _, _ = tiny({})
    users = np.repeat(np.arange(N_USERS), 200)
    neg = NegativeSampler(train).sample(users, np.random.default_rng(0))
    dense = train.toarray() > 0
    assert not dense[users, neg].any()
    # every allowed item of user 0 shows up among 200 draws (each has prob >= 1/20)
    assert set(neg[users == 0]) == set(np.flatnonzero(~dense[0]))


def test_negative_sampler_rejects_users_with_every_item():
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(sp.csr_matrix(np.ones((2, 3), dtype=np.float32)))
