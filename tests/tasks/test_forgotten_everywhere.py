"""After a version that applied the requests is promoted, nothing the pipeline wrote keeps what it forgot.

A whole pipeline (the steps the DAGs call) on the slice with string user ids: a base model, then an
unlearn run erasing users and revoking items, each ending with the workspace cleanup. Every file under
the store's ``models/`` and ``reports/`` and under the workspace is scanned (:mod:`tests.forgotten`).
"""

from __future__ import annotations

import json

import pytest

from tasks.pipeline import steps
from tasks.pipeline.staging import finish
from tasks.storage import ledger
from tasks.storage.registry import current_version
from tasks.storage.store import LocalStore
from tests.forgotten import forgotten, scan
from tests.tasks.test_lineage import CUTOFF, run_pipeline


@pytest.fixture(scope="module")
def pipeline(member_catalogue, tmp_path_factory):
    from tasks.inputs.catalogue import load_catalogue
    from tasks.inputs.requests import make_requests

    root = tmp_path_factory.mktemp("everywhere")
    make_requests(load_catalogue(member_catalogue).data, "both", 0.05, 0, root / "requests")
    store = LocalStore(root / "store")
    base = run_pipeline(root / "runs", "base-run", "train", member_catalogue, store.uri())
    steps.publish(base)
    unlearned = run_pipeline(root / "runs", "unlearn-run", "unlearn", member_catalogue, store.uri(), root / "requests")
    before = scan([root / "runs"], forgotten(member_catalogue, root / "requests", CUTOFF))
    steps.publish(unlearned)
    for run_dir in (base, unlearned):
        finish(str(root / "runs"), steps.load_run(run_dir)["run_id"])
    return {"root": root, "store": store, "data": member_catalogue, "before": before, "base": steps.load_run(base)["version"]}


def test_the_scan_finds_what_the_workspace_held_before_the_cleanup(pipeline):
    before = "\n".join(pipeline["before"])
    assert "erased user id(s) in column user_id" in before and "training edges of erased users" in before
    assert "forget-set arrays left behind" in before


def test_nothing_forgotten_is_left_in_the_store_or_the_workspace(pipeline):
    root, store = pipeline["root"], pipeline["store"]
    findings = scan(
        [root / "store" / "models", root / "store" / "reports", root / "runs"], forgotten(pipeline["data"], root / "requests", CUTOFF)
    )
    assert findings == []
    assert store.list(f"models/mgcn/{pipeline['base']}") == [f"models/mgcn/{pipeline['base']}/TOMBSTONE.json"]
    ids = json.loads(store.get_bytes(f"models/mgcn/{current_version(store, 'mgcn')}/id_maps.json"))["user_ids"]
    assert None in ids and all(u is None or u.startswith("member-") for u in ids)  # tombstones keep the indices
    assert ledger.verify(store).ok


def test_the_workspace_keeps_only_the_record_of_each_run(pipeline):
    for run_dir in (pipeline["root"] / "runs").iterdir():
        assert sorted(p.name for p in run_dir.iterdir()) == ["cleanup.json", "evaluation.json", "report", "run.json"]
        record = json.loads((run_dir / "cleanup.json").read_text())
        assert "inputs" in record["removed"] and record["removed_at"] and record["expires_at"] is None


def test_kept_days_leave_the_parts_until_gc_removes_them(pipeline, tmp_path, capsys):
    import datetime as dt
    import shutil

    from tasks.cli import main
    from tasks.pipeline.run import clean_run, collect_garbage

    run_dir = tmp_path / "runs" / "kept"
    run_dir.mkdir(parents=True)
    shutil.copy(pipeline["root"] / "runs" / "unlearn-run" / "run.json", run_dir)
    (run_dir / "inputs").mkdir()
    (run_dir / "inputs" / "x.parquet").write_bytes(b"rows")
    now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    record = clean_run(run_dir, days=3, now=now)
    assert record["removed"] == [] and (run_dir / "inputs").is_dir()
    assert collect_garbage(tmp_path / "runs", now=now + dt.timedelta(days=2)) == []
    assert main(["-q", "gc", "--workspace", str(tmp_path / "runs")]) == 0  # now is far past the three days
    assert "removed the personal parts of 1 run(s)" in capsys.readouterr().out and not (run_dir / "inputs").exists()
