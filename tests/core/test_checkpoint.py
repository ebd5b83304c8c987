"""A checkpoint round trip gives identical weights and the same scores; a tampered or incomplete directory is refused."""

import json

import numpy as np
import pytest
import torch

from mmrecun_core.checkpoint import ModelBundle, load_model, save_model
from mmrecun_core.graphs import build_graphs, knn_graph
from mmrecun_core.model_files import CheckpointError
from mmrecun_core.models import MGCN, LightGCN, MGCNConfig


def _bundle(data, kind):
    feats = {m: torch.from_numpy(f.matrix) for m, f in data.features.items()}
    knn = {m: knn_graph(f, 10) for m, f in feats.items()} if kind == "mgcn" else {}
    torch.manual_seed(3)
    model = (
        MGCN(data.n_users, data.n_items, feats, MGCNConfig(embedding_dim=16)) if kind == "mgcn" else LightGCN(data.n_users, data.n_items)
    )
    return ModelBundle(model, data.train, knn, data.user_ids, data.item_ids, {"model": kind})


@pytest.mark.parametrize("kind", ["mgcn", "lightgcn"])
def test_round_trip_gives_identical_weights_and_the_same_scores(slice_data, tmp_path, kind):
    bundle = _bundle(slice_data, kind)
    save_model(bundle, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    users = torch.arange(50)
    with torch.no_grad():
        before = bundle.model.score(bundle.model.propagate(build_graphs(slice_data.train, bundle.knn, "cpu")), users)
        after = loaded.model.score(loaded.model.propagate(loaded.graphs("cpu")), users)
    saved, restored = bundle.model.state_dict(), loaded.model.state_dict()
    assert saved.keys() == restored.keys() and all(torch.equal(saved[k], restored[k]) for k in saved)  # bit for bit
    # the scores: equal up to the order of float sums, which two propagations on CPU threads need not share
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-8)
    assert np.array_equal(loaded.user_ids, slice_data.user_ids) and np.array_equal(loaded.item_ids, slice_data.item_ids)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"] == kind


def test_tampered_weights_are_refused(slice_data, tmp_path):
    save_model(_bundle(slice_data, "lightgcn"), tmp_path / "m")
    with open(tmp_path / "m" / "model.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(CheckpointError, match="does not match the manifest"):
        load_model(tmp_path / "m")


def test_incomplete_or_missing_directory_is_refused(slice_data, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nothing")
    save_model(_bundle(slice_data, "lightgcn"), tmp_path / "m")
    (tmp_path / "m" / "id_maps.json").unlink()
    with pytest.raises(CheckpointError, match="missing id_maps.json"):
        load_model(tmp_path / "m")
