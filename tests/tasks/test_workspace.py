"""The run workspace on object storage: steps stage what they read, hand back what they wrote, and share no disk."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tasks.pipeline import steps
from tasks.pipeline.workspace import INDEX_FILE, ObjectWorkspace, open_workspace
from tasks.storage.objects import ChecksumMismatch
from tasks.storage.store import S3Store


@pytest.fixture
def space(s3_bucket, s3_endpoint, tmp_path):
    client, bucket = s3_bucket
    return ObjectWorkspace(S3Store(f"s3://{bucket}/runs", client=client), scratch=tmp_path / "scratch")


def write(root, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


def test_begin_opens_an_s3_workspace_and_a_step_stages_only_what_it_reads(space, s3_endpoint, monkeypatch):
    monkeypatch.setenv("MMRECUN_S3_ENDPOINT", s3_endpoint)
    uri = steps.begin(space.store.uri(), "manual__2026-03-01T00:00:00+00:00", "unlearn", {"data": "s3://in/data", "dry_run": True})
    assert uri == space.uri("manual__2026-03-01T00:00:00+00:00") and uri.startswith("s3://")
    run = "manual__2026-03-01T00-00-00-00-00"
    assert isinstance(open_workspace(space.store.uri()), ObjectWorkspace)
    with space.staged(run) as local:
        write(local, "inputs/data/interactions.parquet", "rows")
        write(local, "inputs/ingest.json", "{}")
        write(local, "model/model.pt", "weights")
    index = json.loads(space.store.get_bytes(f"{run}/{INDEX_FILE}"))
    assert sorted(index) == ["inputs/data/interactions.parquet", "inputs/ingest.json", "model/model.pt", "run.json"]
    with space.staged(run, ("inputs/data",)) as local:
        staged = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        assert staged == ["inputs/data/interactions.parquet", "run.json"]
        assert json.loads((local / "run.json").read_text())["params"]["dry_run"] is True
    assert not local.exists() and list(space.scratch.iterdir()) == []  # the scratch folder goes with the step


def test_a_failed_step_hands_back_nothing_and_its_retry_starts_from_the_predecessor(space):
    with space.staged("r1") as local:
        write(local, "run.json", '{"run_id": "r1"}')
        write(local, "forget_set/summary.json", "planned")
    before = space.store.get_bytes(f"r1/{INDEX_FILE}")
    with pytest.raises(RuntimeError, match="worker died"):
        with space.staged("r1", ("forget_set",)) as local:
            write(local, "model/model.pt", "half")
            write(local, "forget_set/summary.json", "changed by an attempt that died")
            raise RuntimeError("worker died")
    assert space.store.get_bytes(f"r1/{INDEX_FILE}") == before and space.store.list("r1/model") == []
    space.store.put_bytes("r1/model/model.pt", b"half-uploaded by an attempt that died before its index")
    with space.staged("r1", ("forget_set", "model")) as local:
        assert (local / "forget_set/summary.json").read_text() == "planned" and not (local / "model").exists()


def test_bytes_changed_behind_the_index_are_refused(space):
    with space.staged("r1") as local:
        write(local, "run.json", "{}")
        write(local, "model/model.pt", "weights")
    space.store.put_bytes("r1/model/model.pt", b"other weights")
    with pytest.raises(ChecksumMismatch, match="model/model.pt"):
        with space.staged("r1", ("model",)):
            pass


def test_cleanup_deletes_the_personal_parts_from_the_store_and_gc_finds_the_runs_kept(space):
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    for run in ("kept", "done"):
        with space.staged(run) as local:
            write(local, "run.json", json.dumps({"run_id": run, "started_at": now.isoformat()}))
            write(local, "inputs/data/interactions.parquet", "rows")
            write(local, "parent/model.pt", "weights")
            write(local, "report/report.json", "{}")
    record = space.clean("done", 0, now)
    assert record["removed"] == ["inputs", "parent"] and space.store.list("done") == [
        "done/cleanup.json",
        "done/files.json",
        "done/report/report.json",
        "done/run.json",
    ]
    assert sorted(json.loads(space.store.get_bytes(f"done/{INDEX_FILE}"))) == ["cleanup.json", "report/report.json", "run.json"]
    assert space.clean("kept", 3, now)["expires_at"] and space.store.list("kept/inputs")
    assert space.collect_garbage(now + dt.timedelta(days=2)) == []
    assert space.collect_garbage(now + dt.timedelta(days=3)) == ["kept"] and space.store.list("kept/inputs") == []


def test_a_scratch_folder_left_by_a_killed_process_goes_at_the_next_step(space):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    left = space.scratch / f"r1.{dead.stdout.strip()}.abcd1234"
    (left / "inputs").mkdir(parents=True)
    (left / "inputs" / "interactions.parquet").write_text("personal rows of a task killed with its worker")
    mine = space.scratch / f"r2.{os.getpid()}.efgh5678"
    mine.mkdir()
    with space.staged("r1"):
        assert not left.exists() and mine.exists()  # a live process's folder stays


def test_a_staged_file_the_step_rewrites_is_handed_back_and_one_it_only_read_is_not(space):
    with space.staged("r1") as local:
        write(local, "run.json", "{}")
        write(local, "model/model.pt", "weights")
        write(local, "inputs/ingest.json", "{}")
    before = json.loads(space.store.get_bytes(f"r1/{INDEX_FILE}"))
    with space.staged("r1", ("model", "inputs")) as local:
        (local / "model" / "model.pt").write_text("weights after unlearning")
    after = json.loads(space.store.get_bytes(f"r1/{INDEX_FILE}"))
    assert after["model/model.pt"] != before["model/model.pt"] and after["inputs/ingest.json"] == before["inputs/ingest.json"]
    assert space.store.get_bytes("r1/model/model.pt") == b"weights after unlearning"
