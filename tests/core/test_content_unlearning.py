"""Modality revocations on the TikTok slice: the local map, the replay of content-deleted rows, the loop, the trace."""

import copy

import numpy as np
import torch

from mmrecun_core.models import LightGCN
from mmrecun_core.unlearning import evidence
from mmrecun_core.unlearning.config import PAPER_EPOCHS, UnlearnConfig
from mmrecun_core.unlearning.evidence import behaviour_representation, content_trace
from mmrecun_core.unlearning.forget import ForgetSet, retain_data
from mmrecun_core.unlearning.loop import unlearn
from mmrecun_core.unlearning.replay import ReplaySchedule, replay_rows
from mmrecun_core.unlearning.row_adam import RowAdam
from mmrecun_core.unlearning.rows import reset_own_rows
from tests.conftest import graphs_of


def content_forget(data, step=9):
    items = np.arange(2, data.n_items, step)
    return ForgetSet.of(modality_items={data.modalities[0]: items}), items


def test_the_local_map_is_exact_in_each_items_own_row(slice_data, parent):
    forget, items = content_forget(slice_data)
    graphs = graphs_of(retain_data(slice_data, forget))
    index = torch.from_numpy(items)
    for model in (copy.deepcopy(parent), LightGCN(slice_data.n_users, slice_data.n_items)):
        final = model.local_items(graphs, index)
        with torch.no_grad():
            torch.testing.assert_close(final(model.item_embedding.weight[index]), model.propagate(graphs).items[index])
            moved = model.item_embedding.weight[index[:1]] + torch.randn(1, model.item_embedding.weight.shape[1])
            expected_by_map = final(moved, torch.tensor([0]))
            model.item_embedding.weight[index[:1]] = moved  # one row changed, every other held: the map is exact
            torch.testing.assert_close(expected_by_map, model.propagate(graphs).items[index[:1]], rtol=1e-4, atol=1e-5)


def test_the_replay_relearns_content_deleted_rows_from_their_interactions_only(slice_data, parent):
    forget, items = content_forget(slice_data)
    retain = retain_data(slice_data, forget)
    graphs = graphs_of(retain)
    model = copy.deepcopy(parent)
    reset_own_rows(model, np.empty(0, np.int64), items, seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    users, own = retain.train_pairs()
    mine = np.isin(own, items)
    u, i = torch.from_numpy(users[mine]), torch.from_numpy(own[mine])

    def own_score():  # how the items' own users score them: retraining raises it from the fresh draw
        with torch.no_grad():
            e = model.propagate(graphs)
        return float((e.users[u] * e.items[i]).sum(1).mean())

    before = own_score()
    facts = replay_rows(
        model,
        graphs,
        retain.train,
        np.empty(0, np.int64),
        items,
        ReplaySchedule(epochs=5, batch_size=256, lr=1e-2),
        np.random.default_rng(0),
    )
    assert facts["triples"] > 0 and own_score() > before
    kept = np.setdiff1d(np.arange(slice_data.n_items), items)
    for name, value in model.state_dict().items():  # only the content-deleted rows moved
        if name == "item_embedding.weight":
            assert torch.equal(value[kept], state[name][kept]) and not torch.equal(value[items], state[name][items])
        else:
            assert torch.equal(value, state[name]), name


def test_a_content_only_forget_set_is_unlearned_by_every_mmrecun_form(slice_data, parent):
    forget, items = content_forget(slice_data)
    retain = retain_data(slice_data, forget)
    graphs = graphs_of(retain)
    m = slice_data.modalities[0]
    replay = ReplaySchedule(epochs=2, batch_size=256)
    model = copy.deepcopy(parent)
    result = unlearn(model, slice_data, forget, retain, graphs, UnlearnConfig(replay=replay))
    assert result.epochs_run == 0 and result.replay["steps"] > 0 and result.criterion_auc == {}
    torch.testing.assert_close(model.features[m][torch.from_numpy(items)], torch.from_numpy(retain.features[m].matrix[items]))
    assert not torch.equal(model.item_embedding.weight[torch.from_numpy(items)], parent.item_embedding.weight[torch.from_numpy(items)])
    paper = copy.deepcopy(parent)
    result = unlearn(paper, slice_data, forget, retain, graphs, UnlearnConfig(method="mmrecun-paper"))
    assert result.epochs_run == PAPER_EPOCHS and result.stopped_by == "epoch cap" and result.replay is None
    rows = paper.features[m][torch.from_numpy(items)].detach().numpy()  # trained on from the mean (MGCN trains its features)

    def gap(x: np.ndarray) -> float:
        return np.abs(rows - x).mean()

    assert gap(retain.features[m].matrix[items]) < 0.1 * gap(slice_data.features[m].matrix[items])


def test_the_paper_form_runs_its_fixed_epochs_on_erasures(slice_data, parent, scenario):
    model = copy.deepcopy(parent)
    result = unlearn(model, slice_data, scenario[0], scenario[1], scenario[2], UnlearnConfig(method="mmrecun-paper", max_epochs=3))
    assert result.epochs_run == 3 and result.stopped_by == "epoch cap"
    erased = torch.from_numpy(scenario[0].users)  # no redraw: the erased users' rows are trained on, not replaced
    assert not torch.equal(model.user_embedding.weight[erased], parent.user_embedding.weight[erased])
    config = UnlearnConfig(method="mmrecun-paper")
    assert not config.resets_own_rows and not config.stops and "fixed" in config.criterion


def test_row_adam_is_pytorchs_adam_on_the_rows_it_steps():
    torch.manual_seed(0)
    whole, table = torch.randn(5, 3), torch.randn(6, 3)
    chosen = torch.tensor([1, 4])
    before = table.clone()
    theirs, their_rows = whole.clone().requires_grad_(True), table[chosen].clone().requires_grad_(True)
    reference = torch.optim.Adam([theirs, their_rows], lr=1e-2)
    adam = RowAdam([(whole, None), (table, chosen)], 1e-2)
    for _ in range(20):
        grad, table_grad = torch.randn(5, 3), torch.randn(6, 3)
        theirs.grad, their_rows.grad = grad.clone(), table_grad[chosen].clone()
        whole.grad, table.grad = grad, table_grad
        reference.step()
        adam.step()
    torch.testing.assert_close(whole, theirs.detach())
    torch.testing.assert_close(table[chosen], their_rows.detach())
    others = torch.tensor([0, 2, 3, 5])
    assert torch.equal(table[others], before[others])  # their gradients were read by nobody
    adam.zero_grad()
    assert whole.grad is None and table.grad is None


def test_the_content_trace_reads_chance_and_certainty():
    rng = np.random.default_rng(0)
    content = rng.normal(size=(400, 12))
    known = np.ones(400, bool)
    affected = np.arange(0, 400, 4)
    certain = content @ rng.normal(size=(12, 16))  # embeddings that are a full-rank linear image of the content
    assert content_trace(certain, content, known, affected) > 0.99
    assert abs(content_trace(rng.normal(size=(400, 8)), content, known, affected) - 0.5) < 0.06
    assert np.isnan(content_trace(certain, content, known, affected[:1]))


def test_the_content_trace_is_the_same_in_blocks(monkeypatch):
    rng = np.random.default_rng(1)
    content, known, affected = rng.normal(size=(300, 6)), np.ones(300, bool), np.arange(0, 300, 3)
    embeddings = content @ rng.normal(size=(6, 8)) + rng.normal(size=(300, 8))  # partly identifying, some ties of rank
    whole = content_trace(embeddings, content, known, affected)
    monkeypatch.setattr(evidence, "_BLOCK", 7 * len(affected))  # 7 rows of the [100, 100] comparison at a time
    assert content_trace(embeddings, content, known, affected) == whole
    assert 0.6 < whole < 0.99


def test_the_reference_attacker_sees_the_retained_data_only(slice_data):
    forget, items = content_forget(slice_data)
    retain = retain_data(slice_data, forget)
    others = [f.matrix for o, f in retain.features.items() if o != slice_data.modalities[0]]
    rep = behaviour_representation(retain.train, others, 16)
    assert rep.shape[0] == slice_data.n_items and rep.shape[1] <= 32
    moved = retain.train.copy()
    moved.data[:] = 1.0
    np.testing.assert_allclose(behaviour_representation(moved, others, 16), rep, rtol=1e-4, atol=1e-5)  # seeded: repeatable
