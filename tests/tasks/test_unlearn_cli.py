"""make-requests and unlearn through the CLI on the TikTok slice."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tasks.cli import main

EVIDENCE_KEYS = {
    "wall_s",
    "retain_valid_recall@20",
    "retain_test_recall@20",
    "retain_test_ndcg@20",
    "forget_recall@20",
    "item_recall@500",
    "item_recall@1000",
    "item_recall@1500",
    "exposure@20",
    "bpr_div_parent",
    "bpr_div_gold",
    "mia_auc",
}


def unlearn(data, model, forget, out, *options: str) -> int:
    """``mmrecun unlearn`` of the requests in ``forget`` from the model ``model`` into ``out``, on the CPU: the exit status."""
    paths = ["--data", str(data), "--model", str(model), "--forget", str(forget), "--out", str(out)]
    return main(["unlearn", *paths, *options, "--device", "cpu"])


@pytest.fixture(scope="module")
def parent(catalogue_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("parent") / "mgcn"
    assert main(["-q", "train", "--data", str(catalogue_dir), "--out", str(out), "--epochs", "4", "--device", "cpu"]) == 0
    return out


def test_requests_are_realistic(catalogue_dir, tmp_path):
    assert (
        main(
            ["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "both", "--fraction", "0.05", "--out", str(tmp_path / "f")]
        )
        == 0
    )
    revocations = pq.read_table(tmp_path / "f" / "licence_revocations.parquet").to_pylist()
    erasures = pq.read_table(tmp_path / "f" / "erasure_requests.parquet").to_pylist()
    assert {r["scope"] for r in revocations} == {"item"}
    assert len({r["licence_id"] for r in revocations}) < len(revocations)  # licences group several items
    assert all(e["item_id"] is None and e["effective_at"] >= e["received_at"] for e in erasures)
    assert len({r["revocation_id"] for r in revocations}) == len(revocations)


def test_unlearn_items_writes_a_model_that_never_serves_revoked_items(catalogue_dir, parent, tmp_path):
    forget, out = tmp_path / "f", tmp_path / "unlearned"
    assert (
        main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "items", "--fraction", "0.05", "--out", str(forget)]) == 0
    )
    assert unlearn(catalogue_dir, parent, forget, out, "--max-epochs", "3") == 0
    evidence = json.loads((out / "evidence.json").read_text())
    assert EVIDENCE_KEYS <= evidence.keys()
    assert evidence["exposure@20"] == 0 and evidence["item_recall@500"] is not None
    manifest = json.loads((out / "manifest.json").read_text())
    revoked = pq.read_table(forget / "licence_revocations.parquet").column("item_id").to_pylist()
    assert sorted(manifest["excluded_items"]) == sorted(revoked)
    assert len(manifest["requests_applied"]) == len(revoked) and manifest["method"] == "mmrecun"
    # the new model's training graph holds no edge to a revoked item, and evaluating it works
    from mmrecun_core.checkpoint import load_model

    bundle = load_model(out)
    revoked_idx = np.flatnonzero(np.isin(bundle.item_ids, revoked))
    assert bundle.train[:, revoked_idx].nnz == 0 and len(revoked_idx) == len(revoked)
    for graph in bundle.knn.values():  # nor a content edge: a self-loop each, and nobody's neighbour
        assert (graph.index[revoked_idx] == torch.from_numpy(revoked_idx).unsqueeze(1)).all()
        assert not np.isin(np.delete(graph.index.numpy(), revoked_idx, axis=0), revoked_idx).any()
    parent_manifest = json.loads((parent / "manifest.json").read_text())
    replay = manifest["unlearn"]["replay"]  # retraining's steps on the revoked rows: (best epoch + 1) x batches
    assert manifest["training_schedule"]["epochs"] == parent_manifest["best_epoch"] + 1
    schedule = manifest["training_schedule"]
    assert replay["steps"] == schedule["epochs"] * -(-bundle.train.nnz // schedule["batch_size"]) and replay["triples"] > 0
    assert manifest["unlearn"]["pull"]["users"] > 0  # the revoked items' former users lost their pull towards them
    assert (
        main(["-q", "evaluate", "--data", str(catalogue_dir), "--model", str(out), "--json", str(tmp_path / "e.json"), "--device", "cpu"])
        == 0
    )


def test_without_the_parents_embeddings_run_method_unlearns_as_with_them(catalogue_dir, parent, tmp_path):
    """The benchmark's path (``run_method`` propagates the parent itself, inside the wall time) and a pipeline run's (the
    embeddings its evidence computed) give the same model and the same pull."""
    import copy
    import dataclasses

    from tasks.pipeline.unlearn import prepare, run_method

    forget = tmp_path / "f"
    assert (
        main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "items", "--fraction", "0.05", "--out", str(forget)]) == 0
    )
    bundle, data, requests, retain, knn, dev = prepare(catalogue_dir, parent, forget, "cpu")
    with torch.no_grad():
        emb = bundle.model.propagate(bundle.graphs(dev))
    runs = []
    for given in (emb, None):
        own = dataclasses.replace(bundle, model=copy.deepcopy(bundle.model))
        model, _, facts = run_method("mmrecun", own, data, requests, retain, knn, dev, max_epochs=2, parent_emb=given)
        runs.append((model.state_dict(), facts["pull"]))
    (with_emb, pull), (without, pull_without) = runs
    assert pull == pull_without and pull["users"] > 0
    assert all(torch.equal(with_emb[k], without[k]) for k in with_emb)


def test_nothing_to_forget_is_an_error_that_writes_nothing(catalogue_dir, parent, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert unlearn(catalogue_dir, parent, tmp_path / "empty", tmp_path / "out") == 2
    assert "holds neither" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_request_table_without_a_required_column_is_named(catalogue_dir, parent, tmp_path, capsys):
    forget = tmp_path / "f"
    assert main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "users", "--out", str(forget)]) == 0
    table = pq.read_table(forget / "erasure_requests.parquet").drop_columns(["effective_at"])
    pq.write_table(table, forget / "erasure_requests.parquet")
    assert unlearn(catalogue_dir, parent, forget, tmp_path / "out") == 2
    assert "erasure_requests: missing column(s) ['effective_at']" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_child_model_does_not_reapply_its_parents_requests_but_keeps_them(catalogue_dir, parent, tmp_path, capsys):
    import shutil

    from mmrecun_core.graphs import modality_knn
    from tasks.inputs.request_tables import request_id_of
    from tasks.pipeline.unlearn import prepare

    items, users, both = tmp_path / "items", tmp_path / "users", tmp_path / "both"
    assert (
        main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "items", "--fraction", "0.03", "--out", str(items)]) == 0
    )
    assert (
        main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "users", "--fraction", "0.03", "--out", str(users)]) == 0
    )
    shutil.copytree(items, both)
    shutil.copy(users / "erasure_requests.parquet", both)
    assert unlearn(catalogue_dir, parent, items, tmp_path / "v1", "--max-epochs", "2") == 0
    # the same requests again: nothing new since v1
    assert unlearn(catalogue_dir, tmp_path / "v1", items, tmp_path / "v1b", "--max-epochs", "2") == 2
    assert "nothing to forget" in capsys.readouterr().err and not (tmp_path / "v1b").exists()
    assert unlearn(catalogue_dir, tmp_path / "v1", both, tmp_path / "v2", "--max-epochs", "2") == 0
    v1 = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    v2 = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    erasure_ids = pq.read_table(users / "erasure_requests.parquet").column("request_id").to_pylist()
    assert sorted(request_id_of(k) for k in v2["new_requests"]) == sorted(erasure_ids)  # keys: table, id, content hash
    assert v2["requests_applied"] == sorted(v1["requests_applied"] + v2["new_requests"])
    assert v2["excluded_items"] == v1["excluded_items"] and v2["erased_users"] == len(erasure_ids)
    assert v2["training_schedule"] == v1["training_schedule"] is not None  # carried on for a later version's replay
    assert v1["unlearn"]["replay"]["steps"] > 0 and v2["unlearn"]["replay"] is None  # v2 revokes nothing new
    # v2 deletes no content: it keeps v1's kNN graphs, which are those of the content left after v1's revocations
    v1_model, _, _, v2_retain, v2_knn, _ = prepare(catalogue_dir, tmp_path / "v1", both, "cpu")
    for m, graph in v2_knn.items():
        assert graph is v1_model.knn[m]
        rebuilt = modality_knn(v2_retain.features[m], graph.index.shape[1])
        assert torch.equal(graph.index, rebuilt.index) and torch.equal(graph.sim, rebuilt.sim)
    parent_model, _, _, _, v1_knn, _ = prepare(catalogue_dir, parent, items, "cpu")
    assert all(not torch.equal(v1_knn[m].index, parent_model.knn[m].index) for m in v1_knn)  # v1 rebuilt them


def test_a_later_version_withdraws_the_pull_of_what_its_parent_was_trained_on_only(catalogue_dir, parent, tmp_path):
    """Users erased by an earlier version are no longer in its training interactions: revoking items they had moves
    only the users the parent version was trained with on those items."""
    import shutil

    from mmrecun_core.checkpoint import load_model
    from tasks.inputs.catalogue import load_catalogue

    users, items, both = tmp_path / "users", tmp_path / "items", tmp_path / "both"
    for scenario, out in (("users", users), ("items", items)):
        options = ["--scenario", scenario, "--fraction", "0.03", "--out", str(out)]
        assert main(["-q", "make-requests", "--data", str(catalogue_dir), *options]) == 0
    assert unlearn(catalogue_dir, parent, users, tmp_path / "v1", "--max-epochs", "1") == 0
    data = load_catalogue(catalogue_dir).data
    erased = np.flatnonzero(np.isin(data.user_ids, pq.read_table(users / "erasure_requests.parquet").column("user_id").to_pylist()))
    theirs = np.unique(data.train[erased].indices)  # items the erased users had
    table = pq.read_table(items / "licence_revocations.parquet")
    table = table.slice(0, min(len(table), len(theirs)))
    revoked = theirs[: len(table)]
    table = table.set_column(table.schema.get_field_index("item_id"), "item_id", pa.array(data.item_ids[revoked].tolist()))
    both.mkdir()
    shutil.copy(users / "erasure_requests.parquet", both)
    pq.write_table(table, both / "licence_revocations.parquet")
    assert unlearn(catalogue_dir, tmp_path / "v1", both, tmp_path / "v2", "--max-epochs", "1") == 0
    pull = json.loads((tmp_path / "v2" / "manifest.json").read_text())["unlearn"]["pull"]
    trained = load_model(tmp_path / "v1").train
    assert not trained[erased].nnz and data.train[erased][:, revoked].nnz  # the catalogue still has them, v1 does not
    assert pull["users"] == int((trained[:, revoked].getnnz(axis=1) > 0).sum()) > 0


def test_gold_unlearns_a_modality_revocation_by_retraining_without_the_content(catalogue_dir, parent, tmp_path):
    """The operator's choice where a licence demands no more content trace than retraining leaves (docs/operations.md)."""
    from mmrecun_core.checkpoint import load_model

    forget, out = tmp_path / "f", tmp_path / "gold"
    assert (
        main(["-q", "make-requests", "--data", str(catalogue_dir), "--scenario", "modality", "--fraction", "0.05", "--out", str(forget)])
        == 0
    )
    assert unlearn(catalogue_dir, parent, forget, out, "--method", "gold") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    evidence = json.loads((out / "evidence.json").read_text())
    revocations = pq.read_table(forget / "licence_revocations.parquet").to_pylist()
    assert manifest["method"] == "gold" and manifest["training_schedule"]["epochs"] >= 1
    assert len(manifest["requests_applied"]) == len(revocations) and manifest["excluded_items"] == []
    modalities = {r["scope"] for r in revocations}
    assert set(evidence["content_trace"]) == set(evidence["content_trace_reference"]) == modalities
    bundle = load_model(out)
    for m in modalities:  # the deleted content has no neighbour and is no one's: retrained on graphs without it
        items = np.flatnonzero(np.isin(bundle.item_ids, [r["item_id"] for r in revocations if r["scope"] == m]))
        index = bundle.knn[m].index.numpy()
        assert len(items) and (index[items] == items[:, None]).all()
        assert not np.isin(np.delete(index, items, axis=0), items).any()
