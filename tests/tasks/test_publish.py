"""The publish protocol against S3 (moto's server mode over HTTP): gates, idempotent reruns, faults mid-publish."""

from __future__ import annotations

import json

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from tasks.pipeline.run import load_run
from tasks.reporting.gates import Gates
from tasks.reporting.report import build_report
from tasks.storage import ledger
from tasks.storage.objects import PublishError
from tasks.storage.publish import publish
from tasks.storage.registry import current_version, fetch_current
from tasks.storage.s3 import StorageError
from tasks.storage.store import LocalStore, Retention, S3Store


@pytest.fixture
def s3_store(s3_endpoint, request):
    """A store on a fresh bucket whose client does not retry (a fault surfaces at once)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    bucket = f"pub-{abs(hash(request.node.name)) % 10**8}"
    client.create_bucket(Bucket=bucket)
    return S3Store(f"s3://{bucket}/prod", client=client)


def passed(run_dir) -> dict:
    """Report with gates every run here meets (an absolute forget-recall ceiling instead of the criterion)."""
    report = build_report(
        run_dir, gates=Gates(retain_ratio=0.0, erasure_margin=1.0, revoked_exposure_max=1e3, content_tolerance=1.0, forget_recall_max=1.0)
    )
    assert report["status"] == "PASSED", report["gates"]
    return report


def keys_of_version(store, run_dir) -> list[str]:
    run = load_run(run_dir)
    return store.list(f"models/{run['model_name']}/{run['version']}")


def test_a_passed_run_publishes_moves_current_and_appends_the_ledger(run_copy, s3_store):
    passed(run_copy)
    out = publish(run_copy, s3_store)
    run = load_run(run_copy)
    assert current_version(s3_store, "mgcn") == run["version"] and out["current_moved"]
    assert set(keys_of_version(s3_store, run_copy)) == {
        f"models/mgcn/{run['version']}/{f}" for f in ("model.pt", "config.json", "id_maps.json", "manifest.json", "evidence.json")
    }
    assert f"reports/{run['run_id']}/report.pdf" in s3_store.list("reports")
    entry = ledger.find_run(s3_store, run["run_id"])
    assert entry["status"] == "PASSED" and entry["parent_version"] == "base" and entry["requests_new"]
    assert ledger.verify(s3_store).ok
    fetched = fetch_current(s3_store, "mgcn", run_copy / "fetched")
    assert fetched["version"] == run["version"]
    from mmrecun_core.checkpoint import load_model

    assert load_model(fetched["model_dir"]).manifest["method"] == "mmrecun"  # every file matches its manifest


def test_a_failed_gate_publishes_the_failed_report_but_not_current(run_copy, s3_store):
    build_report(run_copy, gates=Gates(retain_ratio=10.0))
    out = publish(run_copy, s3_store)
    assert out["status"] == "FAILED" and not out["current_moved"] and current_version(s3_store, "mgcn") is None
    run = load_run(run_copy)
    assert json.loads(s3_store.get_bytes(f"reports/{run['run_id']}/report.json"))["status"] == "FAILED"
    assert ledger.find_run(s3_store, run["run_id"])["current_moved"] is False


def test_rerunning_the_same_run_publishes_nothing_twice(run_copy, s3_store):
    build_report(run_copy, gates=Gates(retain_ratio=10.0))
    first = publish(run_copy, s3_store)
    before = {k: s3_store.sha256_of(k) for k in s3_store.list("")}
    again = publish(run_copy, s3_store)
    assert again["already_published"] and again["ledger_seq"] == first["ledger_seq"]
    assert {k: s3_store.sha256_of(k) for k in s3_store.list("")} == before
    assert len(ledger.entries(s3_store)) == 1


def test_the_endpoint_failing_mid_publish_leaves_current_and_a_rerun_completes(run_copy, unlearn_run, tmp_path, s3_store):
    # the run's parent version, "base", is CURRENT
    import shutil

    earlier = tmp_path / "earlier"
    shutil.copytree(unlearn_run, earlier)
    run_file = earlier / "run.json"
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "run_id": "earlier-run", "version": "base"}))
    passed(earlier)
    publish(earlier, s3_store)
    assert current_version(s3_store, "mgcn") == "base"
    current_bytes = s3_store.get_bytes("models/mgcn/CURRENT")

    passed(run_copy)
    calls = {"n": 0}

    def endpoint_down_after_three(request, **_):
        calls["n"] += 1
        if calls["n"] > 3:
            raise EndpointConnectionError(endpoint_url=request.url)

    events = s3_store.client.meta.events
    events.register("before-send.s3.PutObject", endpoint_down_after_three)
    try:
        with pytest.raises(StorageError, match="Could not connect"):
            publish(run_copy, s3_store)
    finally:
        events.unregister("before-send.s3.PutObject", endpoint_down_after_three)
    run = load_run(run_copy)
    assert s3_store.get_bytes("models/mgcn/CURRENT") == current_bytes  # untouched
    partial = keys_of_version(s3_store, run_copy)
    assert len(partial) == 3 and not any(k.endswith("manifest.json") for k in partial)  # incomplete: never served
    assert ledger.find_run(s3_store, run["run_id"]) is None

    out = publish(run_copy, s3_store)  # the endpoint is back
    assert not out["already_published"] and current_version(s3_store, "mgcn") == run["version"]
    assert len(keys_of_version(s3_store, run_copy)) == 5 and len(ledger.entries(s3_store)) == 2
    assert ledger.verify(s3_store).ok
    assert s3_store.list("models/mgcn/base") and current_version(s3_store, "mgcn") != "base"  # same requests: kept


def test_a_key_holding_other_bytes_is_refused(run_copy, s3_store):
    build_report(run_copy, gates=Gates(retain_ratio=10.0))
    run = load_run(run_copy)
    s3_store.put_bytes(f"models/mgcn/{run['version']}/config.json", b"{}")
    with pytest.raises(PublishError, match="already holds other bytes"):
        publish(run_copy, s3_store)
    assert current_version(s3_store, "mgcn") is None


def test_reports_and_ledger_entries_are_retained_under_object_lock(run_copy, s3_endpoint):
    from tasks.storage.s3 import s3_client

    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="audit-locked", ObjectLockEnabledForBucket=True)
    store = S3Store("s3://audit-locked", client=client)
    build_report(run_copy, gates=Gates(retain_ratio=10.0))
    publish(run_copy, store, Retention("COMPLIANCE", 7))
    run = load_run(run_copy)
    for key in (f"reports/{run['run_id']}/report.pdf", "ledger/00000001.json"):
        assert client.head_object(Bucket="audit-locked", Key=key)["ObjectLockMode"] == "COMPLIANCE"
    assert "ObjectLockMode" not in client.head_object(Bucket="audit-locked", Key=f"models/mgcn/{run['version']}/model.pt")


def test_publish_to_a_local_folder_through_the_cli(run_copy, tmp_path, capsys):
    from tasks.cli import main

    build_report(run_copy, gates=Gates(retain_ratio=10.0))
    assert main(["-q", "publish", "--run", str(run_copy), "--store", str(tmp_path / "store")]) == 0
    assert "CURRENT unchanged; ledger entry 1" in capsys.readouterr().out
    assert main(["-q", "publish", "--run", str(run_copy), "--store", str(tmp_path / "store")]) == 0
    assert "already published" in capsys.readouterr().out
    assert ledger.verify(LocalStore(tmp_path / "store")).ok
    index = (tmp_path / "store" / "reports" / "index.html").read_text()
    assert load_run(run_copy)["run_id"] in index and "FAILED" in index


def test_a_rejected_report_is_published_as_rejected_and_current_stays(run_copy, tmp_path):
    from tasks.pipeline.steps import record_approval

    passed(run_copy)
    record_approval(str(run_copy), False, "compliance.officer", "2026-03-02T09:00:00+00:00")
    store = LocalStore(tmp_path / "store")
    out = publish(run_copy, store)
    assert out["status"] == "REJECTED" and not out["current_moved"] and current_version(store, "mgcn") is None
    run = load_run(run_copy)
    report = json.loads(store.get_bytes(f"reports/{run['run_id']}/report.json"))
    assert report["status"] == "REJECTED" and "compliance.officer rejected the report" in report["verdict"]
    entry = ledger.find_run(store, run["run_id"])
    assert entry["approval"] == {"approved": False, "by": "compliance.officer", "at": "2026-03-02T09:00:00+00:00"}


def test_a_run_that_requires_approval_does_not_move_current_without_one(run_copy, tmp_path):
    from tasks.storage.publish import ApprovalMissing

    passed(run_copy)
    run_file = run_copy / "run.json"
    run = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**run, "params": {**run["params"], "require_approval": True}}))
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ApprovalMissing, match="requires a person's approval"):
        publish(run_copy, store)
    assert store.list("") == []
