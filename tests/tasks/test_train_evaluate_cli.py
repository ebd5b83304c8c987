"""The CLI end to end on the TikTok slice: train, evaluate, manifest, and clear errors."""

import json

import pytest

from tasks.cli import main

MANIFEST_KEYS = {"model", "seed", "best_epoch", "epochs_run", "seconds_per_epoch", "train_seconds", "data_sha256", "valid", "test"}
METRIC_KEYS = {"recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50", "precision@20", "hit@20"}


def train(data, model: str, out, *options: str) -> int:
    """``mmrecun -q train`` of ``model`` on the catalogue ``data`` into ``out``, on the CPU."""
    return main(["-q", "train", "--data", str(data), "--model", model, "--out", str(out), *options, "--device", "cpu"])


@pytest.fixture(scope="module")
def trained(catalogue_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "mgcn"
    assert train(catalogue_dir, "mgcn", out, "--epochs", "12", "--patience", "3") == 0
    return out


def test_manifest_has_the_keys_other_tools_read(trained):
    manifest = json.loads((trained / "manifest.json").read_text())
    assert MANIFEST_KEYS <= manifest.keys()
    assert METRIC_KEYS <= manifest["valid"].keys() and METRIC_KEYS <= manifest["test"].keys()
    assert manifest["epochs_run"] <= 12 and 0 <= manifest["best_epoch"] < manifest["epochs_run"]
    assert manifest["seconds_per_epoch"] > 0 and manifest["train_seconds"] >= manifest["seconds_per_epoch"]
    # the best epoch is the one with the highest validation recall in the history
    history = manifest["history"]
    assert max(history, key=lambda h: h["recall@20"])["epoch"] == manifest["best_epoch"]
    assert manifest["valid"]["recall@20"] == pytest.approx(history[manifest["best_epoch"]]["recall@20"])


def test_training_learns_something(trained, slice_data):
    manifest = json.loads((trained / "manifest.json").read_text())
    # validation recall grew over the epochs, and test recall is well above a random ranking's 20 / n_items
    assert manifest["valid"]["recall@20"] > manifest["history"][0]["recall@20"]
    assert manifest["test"]["recall@20"] > 3 * 20 / slice_data.n_items


def test_evaluate_reproduces_the_manifest(trained, catalogue_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["-q", "evaluate", "--data", str(catalogue_dir), "--model", str(trained), "--json", str(out), "--device", "cpu"]) == 0
    result = json.loads(out.read_text())
    manifest = json.loads((trained / "manifest.json").read_text())
    for split in ("valid", "test"):
        for key in METRIC_KEYS:
            assert result[split][key] == pytest.approx(manifest[split][key], abs=1e-9)
    assert "recall@20" in capsys.readouterr().out


def test_lightgcn_trains_without_features(catalogue_dir, tmp_path):
    out = tmp_path / "lg"
    assert train(catalogue_dir, "lightgcn", out, "--epochs", "2") == 0
    assert json.loads((out / "manifest.json").read_text())["model"] == "lightgcn"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--data", "/nonexistent/catalogue", "--out", "{tmp}/m"], "catalogue folder /nonexistent/catalogue does not exist"),
        (["convert-mmrec", "/nonexistent/mmrec", "{tmp}/c"], "MMRec folder /nonexistent/mmrec does not exist"),
        (["evaluate", "--data", "/nonexistent/catalogue", "--model", "{tmp}"], "incomplete: missing model.pt"),
    ],
)
def test_errors_exit_2_with_a_message_and_write_nothing(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_same_seed_same_run(catalogue_dir, tmp_path):
    """A run is reproducible from its manifest: the same seed gives the same epochs and scores."""
    runs = []
    for name in ("a", "b"):
        assert train(catalogue_dir, "mgcn", tmp_path / name, "--epochs", "2", "--seed", "7") == 0
        m = json.loads((tmp_path / name / "manifest.json").read_text())
        runs.append(([(h["loss"], h["recall@20"]) for h in m["history"]], m["test"]))
    assert runs[0] == runs[1]
