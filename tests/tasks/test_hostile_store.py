"""Hostile and careless input against the store, publishing and the registry: no key escapes its prefix, no
check can be switched off or fooled, a missing store is an error. Each case leaves a sentinel tree untouched."""

from __future__ import annotations

import json

import pytest

from mmrecun_core.checkpoint import load_model
from mmrecun_core.model_files import CheckpointError
from tasks.storage.registry import current_version, fetch_version
from tasks.storage.store import BadKey, ChecksumMismatch, LocalStore, StoreMissing, open_store

BAD_KEYS = ["../escape", "models/../../escape", "/etc/passwd", "models//x", "models/./x", "models\\x", "models/a\x00b", ""]


def sentinel(tmp_path):
    """A tree around the store: a sibling file and folder whose contents must never change."""
    (tmp_path / "sibling").mkdir(exist_ok=True)
    (tmp_path / "sibling" / "keep.txt").write_text("keep")
    (tmp_path / "escape").write_text("untouched")
    return lambda: (
        (tmp_path / "sibling" / "keep.txt").read_text() == "keep"
        and (tmp_path / "escape").read_text() == "untouched"
        and sorted(p.name for p in tmp_path.iterdir() if p.name not in ("store", "run", "dest", "fetched")) == ["escape", "sibling"]
    )


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_key_that_could_leave_the_store_is_refused_by_every_operation(store, key, tmp_path):
    intact = sentinel(tmp_path)
    for operation in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.sha256_of(key),
        lambda: store.get_tagged(key),
    ):
        with pytest.raises(BadKey):
            operation()
    assert store.list("") == [] and intact()


@pytest.mark.parametrize(
    "field,value", [("run_id", "../../escape"), ("run_id", "x/../../../escape"), ("model_name", "../escape"), ("model_name", "a//b")]
)
def test_publish_refuses_a_run_id_or_model_name_that_would_leave_its_prefix(run_copy, tmp_path, field, value):
    from tasks.reporting.gates import Gates
    from tasks.reporting.report import build_report
    from tasks.storage.publish import publish

    intact = sentinel(tmp_path)
    build_report(
        run_copy, gates=Gates(retain_ratio=0.0, erasure_margin=1.0, revoked_exposure_max=1e3, content_tolerance=1.0, forget_recall_max=1.0)
    )
    run_file = run_copy / "run.json"
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), field: value}))
    store = LocalStore(tmp_path / "store")
    with pytest.raises(BadKey):
        publish(run_copy, store)
    assert store.list("") == [] and intact()


def test_publish_refuses_a_model_whose_bytes_changed_after_its_manifest(run_copy, tmp_path):
    from tasks.reporting.gates import Gates
    from tasks.reporting.report import build_report
    from tasks.storage.publish import publish

    build_report(
        run_copy, gates=Gates(retain_ratio=0.0, erasure_margin=1.0, revoked_exposure_max=1e3, content_tolerance=1.0, forget_recall_max=1.0)
    )
    with open(run_copy / "model" / "model.pt", "ab") as f:
        f.write(b"tampered")
    store = LocalStore(tmp_path / "store")
    with pytest.raises(CheckpointError, match="model.pt: sha256 .* does not match the manifest"):
        publish(run_copy, store)
    assert store.list("") == [] and current_version(store, "mgcn") is None


@pytest.mark.parametrize(
    "change",
    [
        lambda m: {k: v for k, v in m.items() if k != "files"},
        lambda m: {**m, "files": {}},
        lambda m: {**m, "files": {k: v for k, v in m["files"].items() if k != "model.pt"}},
        lambda m: {**m, "files": {**m["files"], "../run.json": m["files"]["model.pt"]}},
    ],
)
def test_a_manifest_cannot_switch_the_file_check_off(run_copy, change):
    path = run_copy / "model" / "manifest.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match="manifest.json"):
        load_model(run_copy / "model")


def test_a_pickle_in_model_pt_is_one_line_error(run_copy, tmp_path):
    import pickle

    from mmrecun_core.model_files import sha256_file

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    model = run_copy / "model"
    (model / "model.pt").write_bytes(pickle.dumps({"state_dict": Payload()}))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["model.pt"] = sha256_file(model / "model.pt")
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="is not a plain-tensor checkpoint") as info:
        load_model(model)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("listed", ["../../escape", "sub/model.pt", "/tmp/abs", ".hidden"])
def test_fetching_a_version_writes_nothing_outside_its_folder_whatever_the_manifest_lists(run_copy, store, tmp_path, listed):
    intact = sentinel(tmp_path)
    manifest = json.loads((run_copy / "model" / "manifest.json").read_text())
    for name in manifest["files"]:
        store.put_file(f"models/mgcn/v1/{name}", run_copy / "model" / name)
    manifest["files"][listed] = manifest["files"]["model.pt"]
    store.put_bytes("models/mgcn/v1/manifest.json", json.dumps(manifest).encode())
    with pytest.raises((ChecksumMismatch, BadKey)):
        fetch_version(store, "mgcn", "v1", tmp_path / "dest" / "parent")
    assert not (tmp_path / "dest" / "parent").exists() and intact()


def test_a_fetched_file_whose_bytes_differ_from_the_manifest_is_refused(run_copy, store, tmp_path):
    manifest = json.loads((run_copy / "model" / "manifest.json").read_text())
    for name in manifest["files"]:
        store.put_file(f"models/mgcn/v1/{name}", run_copy / "model" / name)
    store.put_bytes("models/mgcn/v1/manifest.json", json.dumps(manifest).encode())
    store.put_bytes("models/mgcn/v1/config.json", b"{}")
    with pytest.raises(ChecksumMismatch, match="config.json: sha256 differs from the manifest"):
        fetch_version(store, "mgcn", "v1", tmp_path / "dest")


@pytest.mark.parametrize("command", ["verify-ledger", "runs"])
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_read_only_command_on_a_missing_store_is_an_error_and_creates_nothing(tmp_path, capsys, command, kind):
    from tasks.cli import main

    path = tmp_path / "typo-store"
    if kind == "file":
        path.write_text("not a store")
    assert main(["-q", command, "--store", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "typo-store" in err
    assert path.is_file() if kind == "file" else not path.exists()


def test_rollback_on_a_store_that_never_promoted_is_one_line(tmp_path, capsys):
    from tasks.cli import main

    (tmp_path / "store").mkdir()
    assert main(["-q", "rollback", "--model", "mgcn", "--to", "v1", "--store", str(tmp_path / "store")]) == 2
    assert "has no CURRENT version" in capsys.readouterr().err


def test_a_copied_run_keeps_its_model(run_copy, tmp_path):
    """Guard for the cases above: the unmodified copy loads and publishes (so each refusal is the change's doing)."""
    from tasks.reporting.gates import Gates
    from tasks.reporting.report import build_report
    from tasks.storage.publish import publish

    build_report(
        run_copy, gates=Gates(retain_ratio=0.0, erasure_margin=1.0, revoked_exposure_max=1e3, content_tolerance=1.0, forget_recall_max=1.0)
    )
    assert publish(run_copy, LocalStore(tmp_path / "store"))["current_moved"]


@pytest.mark.parametrize("command", [["runs", "--store"], ["gc", "--workspace"]])
def test_an_s3_location_whose_bucket_does_not_exist_is_one_line_and_no_retry(s3_endpoint, capsys, command):
    from tasks.cli import main

    assert main(["-q", *command, "s3://no-such-bucket/runs", "--endpoint-url", s3_endpoint]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s3://no-such-bucket: no such bucket" in err
    with pytest.raises(StoreMissing):  # a user error (exit 2; the DAGs do not retry it), not a StorageError
        open_store("s3://no-such-bucket/models", s3_endpoint)
