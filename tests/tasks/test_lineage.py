"""Lineage-safe promotion: two runs made from one parent race for CURRENT; purges, rollback and verify-ledger.

The runs are real pipeline runs (the steps the DAGs call) on the TikTok slice: a base model, then run A
erasing users X and run B erasing users Y, both from the base. Whichever publishes second is SUPERSEDED;
a new run then applies its requests to the winner, and CURRENT ends having applied both.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from tasks.pipeline import steps
from tasks.storage import ledger
from tasks.storage.registry import LineageError, Superseded, current_version, rollback, version_manifest
from tasks.storage.store import LocalStore, S3Store

CUTOFF = "2026-03-01T00:00:00+00:00"
FAST = {
    "max_epochs": 2,
    "train_epochs": 2,
    "device": "cpu",
    "gate_retain_ratio": 1e-9,
    "gate_forget_recall_max": 1.0,
    "gate_erasure_margin": 1.0,
    "gate_revoked_exposure_max": 1e3,
    "gate_content_tolerance": 1.0,
}


def run_pipeline(workspace, run_id: str, kind: str, data, store_uri: str, requests=None, endpoint=None) -> str:
    """One run through the steps the DAGs call; returns its run directory (published only by the caller)."""
    fast = {k: v for k, v in FAST.items() if k != ("max_epochs" if kind == "train" else "train_epochs")}  # each kind's own
    params = {"data": str(data), "store": store_uri, "endpoint_url": endpoint, "cutoff": CUTOFF, **fast}
    if requests is not None:
        params["requests"] = str(requests)
    run_dir = steps.begin(workspace, run_id, kind, params)
    order = (
        ["ingest", "validate", "train", "evaluate", "report"]
        if kind == "train"
        else ["ingest", "validate", "fetch_parent", "forget_set", "unlearn", "evaluate", "report"]
    )
    for name in order:
        getattr(steps, name)(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def request_sets(slice_data, tmp_path_factory):
    """Erasure requests split into X and Y (disjoint users), and XY (the whole, cumulative table)."""
    from tasks.inputs.requests import make_requests

    root = tmp_path_factory.mktemp("lineage_requests")
    make_requests(slice_data, "users", 0.04, 3, root / "XY")
    table = pq.read_table(root / "XY" / "erasure_requests.parquet")
    half = table.num_rows // 2
    for name, part in (("X", table.slice(0, half)), ("Y", table.slice(half))):
        (root / name).mkdir()
        pq.write_table(part, root / name / "erasure_requests.parquet")
    return {name: root / name for name in ("X", "Y", "XY")}


@pytest.fixture(scope="module")
def raced(catalogue_dir, request_sets, tmp_path_factory):
    """A base model published in a scratch store, and runs A (requests X) and B (requests Y) made from it."""
    root = tmp_path_factory.mktemp("lineage")
    scratch = LocalStore(root / "scratch-store")
    base = run_pipeline(root / "runs", "base-run", "train", catalogue_dir, scratch.uri())
    steps.publish(base)
    runs = {
        name: run_pipeline(root / "runs", f"run-{name}", "unlearn", catalogue_dir, scratch.uri(), request_sets[rs])
        for name, rs in (("A", "X"), ("B", "Y"))
    }
    return {"base": base, **runs, "root": root}


def fresh_store(kind: str, tmp_path, request):
    if kind == "local":
        return LocalStore(tmp_path / "store")
    client, bucket = request.getfixturevalue("s3_bucket")
    return S3Store(f"s3://{bucket}/prod", client=client)


def applied_users(store, name: str = "mgcn") -> set[str]:
    return set(version_manifest(store, name, current_version(store, name))["requests_applied"])


@pytest.mark.parametrize("kind,first", [("local", "A"), ("local", "B"), ("s3", "A"), ("s3", "B")])
def test_one_of_two_runs_from_the_same_parent_is_promoted_the_other_is_superseded(
    raced, catalogue_dir, request_sets, kind, first, tmp_path, request, s3_endpoint
):
    from tasks.storage.publish import publish

    store = fresh_store(kind, tmp_path, request)
    runs = {n: shutil.copytree(raced[n], tmp_path / n) for n in ("base", "A", "B")}
    publish(runs["base"], store)
    base = current_version(store, "mgcn")
    second = "B" if first == "A" else "A"
    won = publish(runs[first], store)
    assert won["current_moved"] and current_version(store, "mgcn") == won["version"]
    assert won["purged"] == [base] and store.list(f"models/mgcn/{base}") == [f"models/mgcn/{base}/TOMBSTONE.json"]
    pointer = store.get_bytes("models/mgcn/CURRENT")
    lost_version = steps.load_run(runs[second])["version"]
    with pytest.raises(Superseded, match=f"CURRENT of 'mgcn' is '{won['version']}', no longer '{base}'"):
        publish(runs[second], store)
    assert store.get_bytes("models/mgcn/CURRENT") == pointer  # untouched
    assert store.list(f"models/mgcn/{lost_version}") == []  # its model, which never forgot the winner's requests, is not kept
    lost_run = steps.load_run(runs[second])["run_id"]
    report = json.loads(store.get_bytes(f"reports/{lost_run}/report.json"))
    assert report["status"] == "SUPERSEDED" and won["version"] in report["verdict"] and base in report["verdict"]
    assert ledger.find_run(store, lost_run)["current_moved"] is False
    assert ledger.verify(store).ok

    # the loser's requests are still pending: a new run applies them to the winner, with the cumulative request table
    endpoint = s3_endpoint if kind == "s3" else None
    again = run_pipeline(tmp_path / "runs", f"run-{second}-again", "unlearn", catalogue_dir, store.uri(), request_sets["XY"], endpoint)
    assert steps.load_run(again)["parent"]["version"] == won["version"]
    out = publish(again, store)
    assert out["current_moved"] and out["purged"] == [won["version"]]
    every = set(pq.read_table(request_sets["XY"] / "erasure_requests.parquet").column("request_id").to_pylist())
    assert {key.split(":")[1] for key in applied_users(store)} == every
    assert ledger.verify(store).ok


def test_verify_ledger_catches_a_promotion_whose_applied_requests_shrink(raced, tmp_path):
    from tasks.storage.publish import publish

    store = LocalStore(tmp_path / "store")
    run_a = shutil.copytree(raced["A"], tmp_path / "A")
    publish(shutil.copytree(raced["base"], tmp_path / "base"), store)
    publish(run_a, store)
    assert ledger.verify(store).ok
    # a writer that ignores the rule: a later entry moves CURRENT to a version that applied nothing
    ledger.append(
        store,
        {
            "kind": "unlearn",
            "run_id": "rogue",
            "model": "mgcn",
            "version": "rogue",
            "current_moved": True,
            "requests_added": [],
            "requests_applied_sha256": ledger.requests_sha256([]),
            "artifacts": {},
        },
    )
    problems = ledger.verify(store).problems
    assert len(problems) == 1 and "CURRENT of mgcn moved to rogue" in problems[0] and "a request was dropped" in problems[0]


def test_verify_ledger_catches_a_purged_version_that_still_has_weights(raced, tmp_path):
    from tasks.storage.publish import publish

    store = LocalStore(tmp_path / "store")
    base_dir = shutil.copytree(raced["base"], tmp_path / "base")
    publish(base_dir, store)
    base = current_version(store, "mgcn")
    publish(shutil.copytree(raced["A"], tmp_path / "A"), store)
    assert ledger.verify(store).ok
    store.put_file(f"models/mgcn/{base}/model.pt", base_dir / "model" / "model.pt")  # a copy put back
    problems = ledger.verify(store).problems
    assert problems == [f"ledger/00000003.json: purge of mgcn/{base}, but the store still holds ['models/mgcn/{base}/model.pt']"]


def test_rollback_only_to_a_version_that_applied_every_request_current_applied(raced, tmp_path, capsys):
    from tasks.cli import main
    from tasks.storage.publish import publish

    store = LocalStore(tmp_path / "store")
    publish(shutil.copytree(raced["base"], tmp_path / "base"), store)
    base = current_version(store, "mgcn")
    publish(shutil.copytree(raced["A"], tmp_path / "A"), store)
    current = current_version(store, "mgcn")
    with pytest.raises(LineageError, match="not a complete version"):  # purged: nothing left to serve
        rollback(store, "mgcn", base)
    # a copy of CURRENT under another name applied the same requests: rolling back to it is allowed
    for key in store.list(f"models/mgcn/{current}"):
        store.put_bytes(key.replace(current, "same-requests"), store.get_bytes(key))
    assert main(["-q", "rollback", "--model", "mgcn", "--to", "same-requests", "--store", str(store.root)]) == 0
    assert current_version(store, "mgcn") == "same-requests" and ledger.verify(store).ok
    # one that applied fewer is refused with one line, and CURRENT stays
    manifest = json.loads(store.get_bytes(f"models/mgcn/{current}/manifest.json"))
    store.put_bytes("models/mgcn/fewer/manifest.json", json.dumps({**manifest, "requests_applied": []}).encode())
    assert main(["-q", "rollback", "--model", "mgcn", "--to", "fewer", "--store", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert "rolling back to 'fewer' would drop" in err and err.count("\n") == 1
    assert current_version(store, "mgcn") == "same-requests"


def test_a_run_whose_request_tables_dropped_what_the_parent_applied_is_refused(raced, catalogue_dir, request_sets, tmp_path):
    """Requests are cumulative: a later run reading tables without X cannot rebuild what X forgot, so it stops."""
    from schemas.errors import ContractError
    from tasks.storage.publish import publish

    store = LocalStore(tmp_path / "store")
    publish(shutil.copytree(raced["base"], tmp_path / "base"), store)
    publish(shutil.copytree(raced["A"], tmp_path / "A"), store)  # applied X
    with pytest.raises(ContractError, match=r"request\(s\) the parent model applied are not effective in these tables"):
        run_pipeline(tmp_path / "runs", "run-Y-only", "unlearn", catalogue_dir, store.uri(), request_sets["Y"])
