"""The DAGs: they load, parse fast, reject bad params, and run end to end with dag.test() (SQLite, S3 on moto)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.dags.conftest import DAGS

EXPECTED = {"mmrecun_train", "mmrecun_unlearn", "mmrecun_nightly"}


def test_every_dag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED
    nightly = dagbag.get_dag("mmrecun_nightly")
    assert nightly.max_active_runs == 1 and not nightly.catchup and nightly.schedule == "0 2 * * *"
    assert all(dagbag.get_dag(d).schedule is None for d in ("mmrecun_train", "mmrecun_unlearn"))  # on demand
    unlearn = dagbag.get_dag("mmrecun_unlearn")
    assert unlearn.get_task("unlearn").queue == "gpu" and unlearn.get_task("unlearn").execution_timeout
    assert unlearn.get_task("validate").retries == 0 and unlearn.get_task("ingest").retries == 3
    assert [t.task_id for t in unlearn.topological_sort()] == [
        "begin",
        "ingest",
        "validate",
        "fetch_parent",
        "forget_set",
        "unlearn",
        "evaluate",
        "report",
        "approve",
        "publish",
        "cleanup",
    ]
    assert unlearn.get_task("cleanup").is_teardown and unlearn.get_task("publish").pool == "mmrecun_registry"
    assert all(len(t.upstream_task_ids) == (t.task_id != "begin") for t in unlearn.tasks)  # a plain chain in the graph view


@pytest.mark.parametrize("name", sorted(p.name for p in DAGS.glob("mmrecun_*.py")))
def test_each_dag_file_parses_in_under_two_seconds(name, airflow_db):
    """As the DAG processor parses it: Airflow already imported, the file run from scratch (heavy imports stay in tasks;
    of ``schemas`` only the standard-library run parameters' table loads)."""
    code = (
        f"import sys, time, runpy, airflow.sdk; sys.path.insert(0, {str(DAGS)!r}); before = set(sys.modules); "
        f"t = time.perf_counter(); runpy.run_path({str(DAGS / name)!r}); print(time.perf_counter() - t); "
        "print(sorted(m for m in ('torch', 'pandas', 'pyarrow', 'great_expectations', 'tasks', 'mmrecun_core', 'schemas.contracts', "
        "'schemas.suites') "
        "if m in set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.strip().splitlines()[-2:]
    assert float(seconds) < 2.0 and heavy == "[]"


@pytest.mark.parametrize(
    "conf,word",
    [
        ({"alpha": 2.0}, "alpha"),
        ({"method": "magic"}, "method"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"model_name": "Bad Name"}, "model_name"),
        ({"cutoff": "yesterday"}, "cutoff"),
    ],
)
def test_invalid_params_are_rejected_at_trigger_time(dagbag, conf, word):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match=word):
        dagbag.get_dag("mmrecun_unlearn").test(run_conf=conf)


def runs(store) -> list[dict]:
    """The ledger's entries of published runs (not purges or rollbacks)."""
    from tasks.storage import ledger

    return [e for e in ledger.entries(store) if e["kind"] in ("train", "unlearn")]


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def pipeline_inputs(catalogue_dir, slice_data, s3_endpoint, tmp_path_factory):
    """The TikTok slice and its requests on the moto S3 endpoint; a bucket for the store."""
    from tasks.inputs.requests import make_requests
    from tasks.storage.s3 import s3_client

    root = tmp_path_factory.mktemp("dag_inputs")
    make_requests(slice_data, "both", 0.03, 0, root / "requests")
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="dag-inputs")
    client.create_bucket(Bucket="dag-store")
    for folder, prefix in ((catalogue_dir, "data"), (root / "requests", "requests")):
        for path in sorted(folder.rglob("*.parquet")):
            client.upload_file(str(path), "dag-inputs", f"{prefix}/{path.relative_to(folder).as_posix()}")
    return {
        "data": "s3://dag-inputs/data",
        "requests": "s3://dag-inputs/requests",
        "store": "s3://dag-store/prod",
        "endpoint_url": s3_endpoint,
        "client": client,
        "local_data": catalogue_dir,
    }


@pytest.mark.parametrize("workspace", ["folder", "s3"])
def test_train_then_unlearn_then_nightly_end_to_end(dagbag, pipeline_inputs, workspace, monkeypatch, capsys, tmp_path):
    """The whole life of a model through the DAGs, with the run workspace in a folder and on S3 (workers sharing no disk)."""
    from tasks.cli import main
    from tasks.pipeline.workspace import open_workspace
    from tasks.storage import ledger
    from tasks.storage.registry import current_version
    from tasks.storage.store import open_store

    io = {k: pipeline_inputs[k] for k in ("data", "endpoint_url")} | {"store": f"{pipeline_inputs['store']}-{workspace}"}
    runs_at = str(tmp_path / "runs")
    if workspace == "s3":
        pipeline_inputs["client"].create_bucket(Bucket="dag-work")
        runs_at = "s3://dag-work/runs"
        monkeypatch.setenv("MMRECUN_S3_ENDPOINT", io["endpoint_url"])
        monkeypatch.setenv("MMRECUN_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setenv("MMRECUN_WORKSPACE", runs_at)
    trained = dagbag.get_dag("mmrecun_train").test(
        run_conf={**io, "train_epochs": 3, "device": "cpu"}, logical_date=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    )
    assert str(trained.state) == "success", states(trained)
    space = open_workspace(runs_at, io["endpoint_url"])
    assert space.load_run(trained.run_id)["kind"] == "train"  # the workspace holds the run
    store = open_store(io["store"], io["endpoint_url"])
    base = current_version(store, "mgcn")
    assert base is not None

    # gates every short run here meets, so the promoted path is the one tested (failed gates: tests/tasks/test_publish.py)
    # no endpoint in the params: it comes from the Airflow connection mmrecun_s3 (defined through the environment)
    conf = {
        **io,
        "endpoint_url": None,
        "requests": pipeline_inputs["requests"],
        "max_epochs": 3,
        "device": "cpu",
        "cutoff": "2026-03-01T00:00:00+00:00",
        "gate_retain_ratio": 1e-9,
        "gate_forget_recall_max": 1.0,
        "gate_erasure_margin": 1.0,
        "gate_revoked_exposure_max": 1e3,
        "gate_content_tolerance": 1.0,
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there: the connection must win
    monkeypatch.setenv(
        "AIRFLOW_CONN_MMRECUN_S3",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": io["endpoint_url"], "region_name": "us-east-1"},
            }
        ),
    )
    when = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    with answering("mmrecun_unlearn", "approve", "Approve", "compliance.officer"):  # a person signs the report off in the UI
        unlearned = dagbag.get_dag("mmrecun_unlearn").test(run_conf={**conf, "require_approval": True}, logical_date=when, run_after=when)
    run_states = states(unlearned)
    assert str(unlearned.state) == "success", run_states
    every = ledger.entries(store)
    assert [(e["kind"], e.get("version")) for e in every[2:]] == [("purge", base)]  # the base version held the erased data
    assert store.list(f"models/mgcn/{base}") == [f"models/mgcn/{base}/TOMBSTONE.json"]
    entries = runs(store)
    assert len(entries) == 2 and entries[1]["kind"] == "unlearn" and entries[1]["parent_version"] == base
    assert entries[1]["status"] == "PASSED" and current_version(store, "mgcn") == entries[1]["version"] != base
    assert entries[1]["requests_new"] and entries[1]["approval"]["approved"] and entries[1]["approval"]["by"] == "compliance.officer"
    assert f"reports/{entries[1]['run_id']}/report.pdf" in store.list("reports")
    assert ledger.verify(store).ok

    # rerunning the same run (same run id: its tasks cleared and run again) publishes nothing twice
    again = dagbag.get_dag("mmrecun_unlearn").test(run_conf={**conf, "require_approval": True}, logical_date=when, run_after=when)
    assert again.run_id == unlearned.run_id
    assert len(ledger.entries(store)) == 3 and states(again)["publish"] == run_states["publish"]
    assert len(store.list(f"models/mgcn/{entries[1]['version']}")) == 5

    # the nightly run with nothing new since CURRENT ends cleanly: no model, a report that says so, a ledger entry
    current, versions = current_version(store, "mgcn"), set(store.list("models/mgcn"))
    nightly = dagbag.get_dag("mmrecun_nightly").test(
        run_conf={**conf, "cutoff": None}, logical_date=dt.datetime(2026, 3, 3, 2, tzinfo=dt.timezone.utc)
    )
    s = states(nightly)
    assert str(nightly.state) == "success", s
    assert s["forget_set"] == "success" and s["unlearn"] == s["evaluate"] == "skipped" and s["report"] == s["publish"] == "success"
    entries = runs(store)
    assert len(entries) == 3 and entries[2]["status"] == "NOTHING TO FORGET" and entries[2]["version"] is None
    assert entries[2]["parent_version"] == current == current_version(store, "mgcn") and not entries[2]["requests_new"]
    report = json.loads(store.get_bytes(f"reports/{nightly.run_id}/report.json"))
    assert report["status"] == "NOTHING TO FORGET" and report["run"]["version"] is None
    assert report["requests"]["counts"]["already_applied"] > 0 and report["run"]["parent"]["version"] == current
    assert set(store.list("models/mgcn")) == versions
    assert "no new version" in store.get_bytes("reports/index.html").decode() and ledger.verify(store).ok
    main(["runs", "--store", io["store"], "--endpoint-url", io["endpoint_url"]])
    out = capsys.readouterr().out.splitlines()
    listed = out[next(i for i, line in enumerate(out) if line.split()[:2] == ["#", "status"]) + 1 :]
    assert listed[0].split()[:5] == ["4", "NOTHING", "TO", "FORGET", "unlearn"]  # entry 3 is the purge and "no new version" in listed[0]
    assert listed[1].split()[:3] == ["2*", "PASSED", "unlearn"]

    # a request received long ago reaches the nightly batch: the run applies and publishes it, then fails loudly
    late = add_late_erasure(pipeline_inputs, "requests-late")
    nightly = dagbag.get_dag("mmrecun_nightly").test(
        run_conf={**conf, "cutoff": None, "requests": late}, logical_date=dt.datetime(2026, 3, 4, 2, tzinfo=dt.timezone.utc)
    )
    s = states(nightly)
    assert str(nightly.state) == "failed" and s["check_deadlines"] == "failed", s
    assert s["publish"] == s["cleanup"] == "success" and current_version(store, "mgcn") != current
    report = json.loads(store.get_bytes(f"reports/{nightly.run_id}/report.json"))
    assert report["lifecycle"]["overdue"] == 1 and report["lifecycle"]["requests"][0]["request_id"] == "ER-LATE-1"
    assert "1 request(s) waited more than 30 days" in store.get_bytes(f"reports/{nightly.run_id}/report.html").decode()

    # nightly batches whose new requests are only modality revocations, then only interaction erasures, with default gates
    modality = add_requests(pipeline_inputs, late, "requests-modality", modality=True)
    interactions = add_requests(pipeline_inputs, modality, "requests-interactions", modality=False)
    for day, (requests, kind, gate) in enumerate(
        ((modality, "modality_revocations", "content forgotten"), (interactions, "interaction_erasures", "erasures forgotten")), start=5
    ):
        before = current_version(store, "mgcn")
        batch = {**io, "endpoint_url": io["endpoint_url"], "requests": requests, "device": "cpu", "cutoff": None}
        nightly = dagbag.get_dag("mmrecun_nightly").test(run_conf=batch, logical_date=dt.datetime(2026, 3, day, 2, tzinfo=dt.timezone.utc))
        s = states(nightly)
        assert str(nightly.state) == "success" and s["unlearn"] == "success", s
        report = json.loads(store.get_bytes(f"reports/{nightly.run_id}/report.json"))
        new = report["requests"]["counts"]
        assert new[kind] > 0 and sum(v for k, v in new.items() if k.endswith(("erasures", "revocations")) and k != kind) == 0
        assert report["status"] == "PASSED" and any(g["name"].endswith(gate) and g["passed"] for g in report["gates"]), report["gates"]
        assert current_version(store, "mgcn") != before and ledger.verify(store).ok

    # every run's workspace keeps only its record; a staged step leaves nothing in the worker's scratch folder
    kept = {key.split("/")[1] for key in (space.store.list("") if workspace == "s3" else [])}
    assert kept <= {"run.json", "cleanup.json", "files.json", "report", "evaluation.json"}
    assert workspace == "folder" or (kept and list((tmp_path / "scratch").iterdir()) == [])


def add_requests(inputs: dict, source: str, prefix: str, modality: bool) -> str:
    """The request tables under ``source`` plus new requests of one kind, under ``s3://dag-inputs/<prefix>``: six
    modality revocations of items nobody revoked (``modality``), else erasures of single interactions of six users
    nobody erased; received and effective on 2026-02-20 (inside the deadline of the runs of early March)."""
    import io

    client = inputs["client"]
    catalogue = inputs["local_data"]
    interactions = pq.read_table(catalogue / "interactions.parquet").to_pylist()
    when = dt.datetime(2026, 2, 20, tzinfo=dt.timezone.utc)
    for key in ("licence_revocations.parquet", "erasure_requests.parquet"):
        bucket, old = source.removeprefix("s3://").split("/", 1)
        table = pq.read_table(io.BytesIO(client.get_object(Bucket=bucket, Key=f"{old}/{key}")["Body"].read()))
        rows = []
        if modality and key == "licence_revocations.parquet":
            revoked = set(table.column("item_id").to_pylist())
            items = sorted({r["item_id"] for r in interactions} - revoked)[:6]
            scope = sorted(p.stem for p in (catalogue / "item_features").glob("*.parquet"))[0]
            rows = [
                {
                    "revocation_id": f"RV-MOD-{i}",
                    "item_id": item,
                    "licence_id": "LIC-MOD",
                    "scope": scope,
                    "effective_at": when,
                    "reason": "content licence withdrawn",
                }
                for i, item in enumerate(items)
            ]
        if not modality and key == "erasure_requests.parquet":
            erased = set(table.column("user_id").to_pylist())
            picked, seen = [], set()
            for r in interactions:
                if r["split"] == "train" and r["user_id"] not in erased and r["user_id"] not in seen:
                    picked.append(r)
                    seen.add(r["user_id"])
                if len(picked) == 6:
                    break
            rows = [
                {
                    **table.slice(0, 1).to_pylist()[0],
                    "request_id": f"ER-INT-{i}",
                    "user_id": r["user_id"],
                    "item_id": r["item_id"],
                    "received_at": when,
                    "effective_at": when,
                }
                for i, r in enumerate(picked)
            ]
        if rows:
            table = pa.concat_tables([table, pa.Table.from_pylist(rows, schema=table.schema)])
        out = io.BytesIO()
        pq.write_table(table, out)
        client.put_object(Bucket="dag-inputs", Key=f"{prefix}/{key}", Body=out.getvalue())
    return f"s3://dag-inputs/{prefix}"


@contextlib.contextmanager
def answering(dag_id: str, task_id: str, option: str, user: str):
    """Answer the human-in-the-loop task ``task_id`` of ``dag_id`` once it waits, as the HITL API of an api-server
    sharing the metadata DB would (the same model updates and resume call), from a thread beside ``dag.test()``."""
    import threading
    import time

    from airflow._shared.timezones import timezone
    from airflow.models.hitl import HITLDetail, HITLUser
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    done = threading.Event()

    def respond() -> None:
        while not done.is_set():
            with create_session() as session:
                ti = (
                    session.query(TaskInstance)
                    .filter_by(dag_id=dag_id, task_id=task_id, state=TaskInstanceState.AWAITING_INPUT)
                    .one_or_none()
                )
                if ti is not None:
                    detail = session.query(HITLDetail).filter_by(ti_id=ti.id).one()
                    detail.responded_by = HITLUser(id=user, name=user)
                    detail.responded_at = timezone.utcnow()
                    detail.chosen_options = [option]
                    detail.params_input = {}
                    handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session)
                    return
            time.sleep(0.5)

    thread = threading.Thread(target=respond, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(10)


def add_late_erasure(inputs: dict, prefix: str) -> str:
    """The request tables of ``inputs`` plus one erasure received on 2025-11-01, under ``s3://dag-inputs/<prefix>``."""
    import io

    client = inputs["client"]
    for key in ("licence_revocations.parquet", "erasure_requests.parquet"):
        data = client.get_object(Bucket="dag-inputs", Key=f"requests/{key}")["Body"].read()
        table = pq.read_table(io.BytesIO(data))
        if key == "erasure_requests.parquet":
            used = set(table.column("user_id").to_pylist())
            user = next(
                u for u in pq.read_table(inputs["local_data"] / "interactions.parquet").column("user_id").to_pylist() if u not in used
            )
            row = {
                **table.slice(0, 1).to_pylist()[0],
                "request_id": "ER-LATE-1",
                "user_id": user,
                "received_at": dt.datetime(2025, 11, 1, tzinfo=dt.timezone.utc),
                "effective_at": dt.datetime(2025, 11, 2, tzinfo=dt.timezone.utc),
            }
            table = pa.concat_tables([table, pa.Table.from_pylist([row], schema=table.schema)])
        out = io.BytesIO()
        pq.write_table(table, out)
        client.put_object(Bucket="dag-inputs", Key=f"{prefix}/{key}", Body=out.getvalue())
    return f"s3://dag-inputs/{prefix}"


def test_bad_input_fails_at_validate_and_publishes_nothing(dagbag, pipeline_inputs, tmp_path, capsys):
    from tasks.storage.store import open_store

    bad = tmp_path / "bad"
    shutil.copytree(pipeline_inputs["local_data"], bad)
    table = pq.read_table(bad / "interactions.parquet")
    pq.write_table(table.append_column("weight", pa.array([-1.0] * table.num_rows, pa.float32())), bad / "interactions.parquet")
    store_dir = tmp_path / "store"
    run = dagbag.get_dag("mmrecun_train").test(
        run_conf={"data": str(bad), "store": str(store_dir), "train_epochs": 2, "device": "cpu"},
        logical_date=dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc),
    )
    s = states(run)
    assert (
        str(run.state) == "failed" and s["validate"] == "failed" and s["train"] == "upstream_failed" and s["publish"] == "upstream_failed"
    )
    store = open_store(store_dir)
    assert store.list("models") == [] and store.list("ledger") == []
    failure = [k for k in store.list("reports") if k.endswith("failure.json")]
    assert len(failure) == 1 and "weight is not negative" in json.loads(store.get_bytes(failure[0]))["error"]
    assert "validate" in store.get_bytes("reports/index.html").decode()
    from tasks.cli import main

    capsys.readouterr()  # Airflow's own log lines so far
    main(["-q", "runs", "--store", str(store_dir)])  # the run published nothing, and is listed all the same
    out = capsys.readouterr().out.splitlines()
    listed = out[next(i for i, line in enumerate(out) if line.split()[:2] == ["#", "status"]) + 1 :]
    assert listed[0].split()[:3] == ["-", "FAILED", "-"] and run.run_id in listed[0] and "failed at validate" in listed[0], out
