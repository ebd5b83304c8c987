"""The unlearning loop end to end on the TikTok slice: forgetting happens, utility stays."""

import copy

import numpy as np
import pytest
import torch

from mmrecun_core.graphs import build_graphs, knn_graph
from mmrecun_core.models import MGCN, LightGCN
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.trainer import TrainConfig, fit, seed_everything
from mmrecun_core.unlearning import loop as unlearner
from mmrecun_core.unlearning.config import UnlearnConfig
from mmrecun_core.unlearning.criterion import ReferenceSampler, paired_auc
from mmrecun_core.unlearning.evidence import forget_recall
from mmrecun_core.unlearning.forget import ForgetSet, retain_data
from mmrecun_core.unlearning.loop import unlearn
from mmrecun_core.unlearning.replay import ReplaySchedule, replay_rows
from mmrecun_core.unlearning.rows import erase_user_rows, frozen_rows, reset_own_rows
from tests.conftest import graphs_of


def measures(model, scenario):
    """Forget Recall@20, and the model's hold on what it keeps: the paired AUC of retained training interactions against
    never-seen items of the same users (the slice's valid split, a few hundred interactions, is too thin to judge by)."""
    forget, retain, graphs, forgotten = scenario
    with torch.no_grad():
        emb = model.propagate(graphs)
    users, items = retain.train_pairs()
    never_seen = NegativeSampler(retain.train).sample(users, np.random.default_rng(0))
    return forget_recall(emb, forgotten, retain.train), paired_auc(emb.pair_scores(users, items), emb.pair_scores(users, never_seen))


def test_revoked_items_leave_every_retained_embedding(slice_data):
    """On the retain graphs a revoked item has no user-item edge and no content neighbour: no retained user's or item's
    final embedding depends on its parameters, whatever they hold."""
    revoked = np.arange(3, slice_data.n_items, 17)
    retain = retain_data(slice_data, ForgetSet.of(items=revoked))
    graphs = graphs_of(retain)
    seed_everything(1)
    model = MGCN(retain.n_users, retain.n_items, {m: torch.from_numpy(f.matrix) for m, f in retain.features.items()})
    kept = torch.from_numpy(np.setdiff1d(np.arange(retain.n_items), revoked))
    with torch.no_grad():
        before = model.propagate(graphs)
        model.item_embedding.weight[torch.from_numpy(revoked)] = torch.randn(len(revoked), model.config.embedding_dim) * 10
        after = model.propagate(graphs)
    assert torch.equal(before.users, after.users) and torch.equal(before.items[kept], after.items[kept])
    rev = torch.from_numpy(revoked)
    assert not torch.equal(before.items[rev], after.items[rev])
    with torch.no_grad():  # and their own embeddings need no propagation
        torch.testing.assert_close(model.local_items(graphs, rev)(model.item_embedding.weight[rev]), after.items[rev])
        lightgcn = LightGCN(retain.n_users, retain.n_items)
        torch.testing.assert_close(
            lightgcn.local_items(graphs, rev)(lightgcn.item_embedding.weight[rev]), lightgcn.propagate(graphs).items[rev]
        )


def test_revocation_replay_pushes_revoked_items_down_and_touches_nothing_else(slice_data, parent):
    revoked = np.arange(5, slice_data.n_items, 23)
    retain = retain_data(slice_data, ForgetSet.of(items=revoked))
    graphs = graphs_of(retain)
    model = copy.deepcopy(parent)
    reset_own_rows(model, np.array([], dtype=np.int64), revoked, seed=0)
    rev = torch.from_numpy(revoked)
    with torch.no_grad():
        before = model.propagate(graphs)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    facts = replay_rows(
        model,
        graphs,
        retain.train,
        revoked,
        np.empty(0, np.int64),
        ReplaySchedule(epochs=5, batch_size=256, lr=1e-3),
        np.random.default_rng(0),
    )
    assert facts["steps"] == 5 * -(-retain.train.nnz // 256) and facts["triples"] > 0
    with torch.no_grad():
        after = model.propagate(graphs)
    kept = torch.from_numpy(np.setdiff1d(np.arange(slice_data.n_items), revoked))
    assert torch.equal(before.users, after.users) and torch.equal(before.items[kept], after.items[kept])
    for name, value in model.state_dict().items():  # only the revoked rows of the item embedding moved
        if name == "item_embedding.weight":
            assert torch.equal(value[kept], state[name][kept]) and not torch.equal(value[rev], state[name][rev])
        else:
            assert torch.equal(value, state[name]), name
    users, items = retain.train_pairs()
    drawn = rev[torch.from_numpy(np.random.default_rng(1).integers(0, len(rev), len(users)))]
    u = torch.from_numpy(users)

    def retraining_loss(e):  # what retraining minimises on a revoked item: BPR with it as the negative of a retain pair
        return float(-torch.nn.functional.logsigmoid((e.users[u] * (e.items[torch.from_numpy(items)] - e.items[drawn])).sum(1)).mean())

    assert retraining_loss(after) < retraining_loss(before)  # a sign slip would raise it (the slice parent is weak: small moves)
    assert float((after.users[u] * after.items[drawn]).sum(1).mean()) < float((before.users[u] * before.items[drawn]).sum(1).mean())
    with pytest.raises(ValueError, match="still have retain interactions"):
        replay_rows(model, graphs, slice_data.train, revoked, np.empty(0, np.int64), ReplaySchedule(epochs=1), np.random.default_rng(0))
    plain = build_graphs(retain.train, {m: knn_graph(torch.from_numpy(f.matrix), 10) for m, f in retain.features.items()}, "cpu")
    with pytest.raises(ValueError, match="not built with their content missing"):
        replay_rows(model, plain, retain.train, revoked, np.empty(0, np.int64), ReplaySchedule(epochs=1), np.random.default_rng(0))


def test_a_single_revoked_item_is_replayed_through_steps_that_draw_nothing(slice_data, parent):
    retain = retain_data(slice_data, ForgetSet.of(items=[7]))
    model = copy.deepcopy(parent)
    before = model.item_embedding.weight[7].detach().clone()
    facts = replay_rows(
        model,
        graphs_of(retain),
        retain.train,
        np.array([7]),
        np.empty(0, np.int64),
        ReplaySchedule(epochs=2, batch_size=256),
        np.random.default_rng(0),
    )
    assert 0 < facts["triples"] < facts["steps"]  # most steps draw no revoked item at this size
    assert not torch.equal(model.item_embedding.weight[7], before)


def test_mmrecun_forgets_and_keeps_utility(parent, slice_data, scenario):
    """Whole-user erasures are unlearned exactly by the reset of the users' rows (no step needed); single
    interactions of other users are unlearned by the loop until they score as the parent scores held-out ones."""
    whole = scenario[0]
    train = slice_data.train.tocoo()
    others = ~np.isin(train.row, whole.users)
    pairs = np.c_[train.row, train.col][others][::15]  # about 7% of the other users' interactions
    forget = ForgetSet.of(users=whole.users, pairs=pairs)
    retain = retain_data(slice_data, forget)
    graphs = graphs_of(retain)
    mixed = (forget, retain, graphs, forget.forgotten_mask(slice_data.train))
    only_pairs = (forget, retain, graphs, ForgetSet.of(pairs=pairs).forgotten_mask(slice_data.train))
    model = copy.deepcopy(parent)
    forget_before, retain_before = measures(model, mixed)
    pairs_before, _ = measures(model, only_pairs)
    result = unlearn(model, slice_data, forget, retain, graphs, UnlearnConfig(max_epochs=30))
    forget_after, retain_after = measures(model, mixed)
    pairs_after, _ = measures(model, only_pairs)
    # judged on the single interactions only: their AUC and their share of the users' top 20
    assert set(result.criterion_auc) == set(result.levels) == {"erasures", "erasures@top"}
    assert 0.5 < result.levels["erasures"] < result.initial_auc["erasures"] - 0.05 and result.epochs_run >= 1
    assert result.levels["erasures@top"] < result.initial_auc["erasures@top"] - 0.05
    assert result.stopped_by == "criterion"
    for key, value in result.criterion_auc.items():  # each at most the parent's level for held-out interactions + tolerance
        assert value <= result.levels[key] + UnlearnConfig().auc_tolerance
    assert forget_after < forget_before and pairs_after < pairs_before
    assert retain_after >= retain_before - 0.02
    # the erased users' rows were redrawn (not the parent's) and then left exactly as drawn
    fresh = copy.deepcopy(parent)
    reset_own_rows(fresh, whole.users, whole.items, UnlearnConfig().seed)
    rows = torch.from_numpy(whole.users)
    torch.testing.assert_close(model.user_embedding.weight[rows], fresh.user_embedding.weight[rows], rtol=0, atol=0)
    assert not torch.allclose(model.user_embedding.weight[rows], parent.user_embedding.weight[rows])


def test_whole_user_erasures_need_no_step(parent, slice_data, scenario):
    forget, retain, graphs, _ = scenario
    model = copy.deepcopy(parent)
    result = unlearn(model, slice_data, forget, retain, graphs, UnlearnConfig(max_epochs=30))
    assert result.epochs_run == 0 and result.criterion_auc == {} and result.stopped_by == "criterion"
    fresh = copy.deepcopy(parent)
    reset_own_rows(fresh, forget.users, forget.items, UnlearnConfig().seed)
    torch.testing.assert_close(model.state_dict(), fresh.state_dict(), rtol=0, atol=0)  # the reset, nothing else


def test_retraining_never_reads_an_erased_users_row(slice_data, scenario):
    """Retraining on the retain data leaves an erased user's initial row as drawn, and nothing else depends on it: a Gold
    whose erased rows were drawn differently is the same model outside those rows (what ``bench/unlearn.py``'s paired
    membership draws rest on)."""
    forget, retain, graphs, _ = scenario
    models = []
    for redraw in (False, True):
        seed_everything(3)
        model = MGCN(retain.n_users, retain.n_items, {m: torch.from_numpy(f.matrix) for m, f in retain.features.items()})
        if redraw:
            reset_own_rows(model, forget.users, np.empty(0, np.int64), seed=11)
        drawn = model.user_embedding.weight.detach()[torch.from_numpy(forget.users)].clone()
        fit(model, graphs, retain, TrainConfig(max_epochs=2, patience=2, seed=3))
        assert torch.equal(model.user_embedding.weight.detach()[torch.from_numpy(forget.users)], drawn)
        models.append((model, drawn))
    (a, drawn_a), (b, drawn_b) = models
    assert not torch.equal(drawn_a, drawn_b)
    kept = torch.from_numpy(np.setdiff1d(np.arange(retain.n_users), forget.users))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        if name == "user_embedding.weight":
            pa, pb = pa[kept], pb[kept]
        assert torch.equal(pa, pb), name


def test_revoked_items_are_pushed_to_the_cold_reference(parent, slice_data):
    degree = np.asarray(slice_data.train.sum(axis=0)).ravel()
    order = np.argsort(-degree, kind="stable")
    forget = ForgetSet.of(items=order[5:60:5])
    retain = retain_data(slice_data, forget)
    model = copy.deepcopy(parent)
    with torch.no_grad():
        # A revoked item's final embedding reads only its own row, so make one every user scores high: give the users
        # a common direction w (the 12-epoch slice parent's users have none to speak of) and the revoked rows w itself.
        w = torch.randn(model.config.embedding_dim, generator=torch.Generator().manual_seed(0))
        w /= w.norm()
        model.user_embedding.weight += model.user_embedding.weight.norm(dim=1).mean() * w
        planted = model.item_embedding.weight.norm(dim=1).max()
        model.item_embedding.weight[torch.from_numpy(forget.items)] = planted * w
    # Adam moves each coordinate by about lr a step, an epoch here is one or two steps, and only the revoked rows move (the
    # users keep w): lr a twenty-fifth of the planted rows' coordinate size lets a few dozen steps carry them past the
    # plant, whatever the data's embedding scale
    config = UnlearnConfig(
        max_epochs=50, reset_own_rows=False, withdraw_pull=False, lr=float(planted) / model.config.embedding_dim**0.5 / 25
    )
    result = unlearn(model, slice_data, forget, retain, graphs_of(retain), config)
    assert set(result.criterion_auc) == {"revocations"}
    assert result.initial_auc["revocations"] > 0.7 and result.epochs_run >= 1
    assert result.stopped_by == "criterion" and abs(result.criterion_auc["revocations"] - 0.5) <= 0.1


def test_items_revoked_by_an_earlier_version_are_never_reference_items(parent, slice_data, monkeypatch):
    degree = np.asarray(slice_data.train.sum(axis=0)).ravel()
    popular = np.argsort(-degree, kind="stable")
    earlier, now = popular[10:40:3], popular[11:40:3]  # the parent's parent revoked `earlier`; this run revokes `now`
    cumulative = ForgetSet.of(items=np.concatenate([earlier, now]))
    retain = retain_data(slice_data, cumulative)  # as tasks.pipeline.unlearn builds it: the cumulative set stays out
    built = []

    class Recording(ReferenceSampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(unlearner, "ReferenceSampler", Recording)
    config = UnlearnConfig(max_epochs=1, stop_on_criterion=False, withdraw_pull=False)  # the cold pool is what this reads
    for excluded in (None, cumulative.items):
        unlearn(copy.deepcopy(parent), slice_data, ForgetSet.of(items=now), retain, graphs_of(retain), config, excluded_items=excluded)
    unguarded, guarded = (sampler.cold.candidates for sampler in built)
    assert np.isin(earlier, unguarded).all()  # no retain interaction left: they would pass for the coldest items
    assert not np.isin(earlier, guarded).any() and not np.isin(now, guarded).any()


def test_frozen_rows_keep_their_values_under_adam():
    table = torch.nn.Embedding(4, 3)
    before = table.weight.detach().clone()
    opt = torch.optim.Adam(table.parameters(), lr=0.1)
    with frozen_rows(table.weight, np.array([1, 3])):
        for _ in range(3):
            opt.zero_grad()
            table.weight.sum().backward()
            opt.step()
    torch.testing.assert_close(table.weight[[1, 3]], before[[1, 3]])
    assert (table.weight[[0, 2]] < before[[0, 2]]).all()
    opt.zero_grad()
    table.weight.sum().backward()  # the hook is gone once outside
    assert (table.weight.grad[[1, 3]] == 1).all()


@pytest.mark.parametrize("make", [lambda: LightGCN(40, 30), lambda: MGCN(40, 30, {"audio": torch.randn(30, 6)})])
def test_redrawn_rows_are_the_initialisers_draw_and_nothing_else_moves(make):
    """The redraw gives the rows a fresh model seeded alike would have, changes no other row or parameter, and leaves
    the global RNG as it was."""
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    users, items = np.array([0, 7, 39]), np.array([2, 29])
    state = torch.get_rng_state()
    reset_own_rows(model, users, items, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    seeded = make()
    torch.manual_seed(5)
    seeded.reset_parameters()
    for name, drawn in (("user_embedding.weight", users), ("item_embedding.weight", items)):
        after, kept = model.state_dict()[name], np.setdiff1d(np.arange(len(before[name])), drawn)
        assert torch.equal(after[drawn], seeded.state_dict()[name][drawn])
        assert not torch.equal(after[drawn], before[name][drawn])
        assert torch.equal(after[kept], before[name][kept])
    for name, value in model.state_dict().items():
        if name not in ("user_embedding.weight", "item_embedding.weight"):
            assert torch.equal(value, before[name]), name


def test_finetune_runs_its_budget_and_neggrad_forgets(parent, slice_data, scenario):
    model = copy.deepcopy(parent)
    result = unlearn(
        model, slice_data, scenario[0], scenario[1], scenario[2], UnlearnConfig(method="finetune", max_epochs=3, stop_on_criterion=False)
    )
    assert result.epochs_run == 3 and result.stopped_by == "epoch cap"
    model = copy.deepcopy(parent)
    forget_before, _ = measures(model, scenario)
    unlearn(model, slice_data, scenario[0], scenario[1], scenario[2], UnlearnConfig(method="neggrad", max_epochs=3))
    assert measures(model, scenario)[0] < forget_before


def test_erased_users_rows_are_exactly_zero(parent, scenario):
    model = copy.deepcopy(parent)
    erased = scenario[0].users
    erase_user_rows(model, erased)
    assert torch.count_nonzero(model.user_embedding.weight[torch.from_numpy(erased)]) == 0
    with torch.no_grad():
        emb = model.propagate(scenario[2])  # the retain graph: erased users have no edge left
    assert torch.count_nonzero(model.score(emb, torch.from_numpy(erased))) == 0


def test_bad_settings_and_empty_forget_sets_are_refused(parent, slice_data, scenario):
    with pytest.raises(ValueError, match="unknown unlearning method"):
        UnlearnConfig(method="retrain")
    with pytest.raises(ValueError, match="no training interaction and deletes no content"):
        unlearn(copy.deepcopy(parent), slice_data, ForgetSet.of(), slice_data, scenario[2])
