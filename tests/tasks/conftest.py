"""A whole unlearning run on the TikTok slice, written the way the pipeline writes it.

User ids are remapped to distinctive strings (``member-000123-x``) so a test can prove that no raw
user id of the forget set reaches a report.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

CUTOFF = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def member_catalogue(catalogue_dir, tmp_path_factory) -> Path:
    """The slice with string ids: users ``member-<id>-x``, items ``item-<id>`` (the contract wants one id type)."""
    out = tmp_path_factory.mktemp("members") / "data"
    shutil.copytree(catalogue_dir, out)

    def named(column, prefix: str, suffix: str = ""):
        return pc.binary_join_element_wise(prefix, pc.utf8_lpad(column.cast(pa.string()), 6, "0"), suffix, "")

    def replace(table: pa.Table, column: str, values) -> pa.Table:
        return table.set_column(table.column_names.index(column), pa.field(column, pa.string(), nullable=False), values)

    table = pq.read_table(out / "interactions.parquet")
    table = replace(
        replace(table, "user_id", named(table.column("user_id"), "member-", "-x")), "item_id", named(table.column("item_id"), "item-")
    )
    pq.write_table(table, out / "interactions.parquet")
    for path in (out / "item_features").glob("*.parquet"):
        features = pq.read_table(path)
        pq.write_table(replace(features, "item_id", named(features.column("item_id"), "item-")), path)
    return out


@pytest.fixture(scope="session")
def member_parent(member_catalogue, tmp_path_factory) -> Path:
    from tasks.pipeline.train import train_model

    out = tmp_path_factory.mktemp("member_parent") / "mgcn"
    train_model(member_catalogue, "mgcn", out, max_epochs=3, device="cpu")
    return out


@pytest.fixture(scope="session")
def unlearn_run(member_catalogue, member_parent, tmp_path_factory) -> Path:
    """ingest -> validate -> forget set -> unlearn -> report, in one run directory (not published)."""
    from tasks.inputs.catalogue import load_catalogue
    from tasks.inputs.requests import make_requests
    from tasks.pipeline.forget_set import build_forget_set
    from tasks.pipeline.ingest import ingest
    from tasks.pipeline.run import start_run
    from tasks.pipeline.unlearn import unlearn_model
    from tasks.pipeline.validate import validate
    from tasks.reporting.report import build_report

    root = tmp_path_factory.mktemp("runs")
    make_requests(load_catalogue(member_catalogue).data, "both", 0.05, 0, root / "requests")
    run = start_run(
        root / "run",
        "manual__2026-03-01T00:00:00+00:00",
        "unlearn",
        "mgcn",
        {"method": "mmrecun", "max_epochs": 2},
        parent={"version": "base", "model_dir": str(member_parent)},
    )
    ingest(member_catalogue, run, root / "requests")
    validate(run, cutoff=CUTOFF)
    build_forget_set(run / "inputs" / "data", run / "inputs" / "requests", CUTOFF, member_parent, run / "forget_set")
    unlearn_model(
        run / "inputs" / "data", member_parent, run / "inputs" / "requests", run / "model", max_epochs=2, device="cpu", cutoff=CUTOFF
    )
    build_report(run)
    return run


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty artifact store: a local folder, or a prefix of a fresh bucket on the moto endpoint."""
    from tasks.storage.store import LocalStore, S3Store

    if request.param == "local":
        return LocalStore(tmp_path / "store")
    client, bucket = request.getfixturevalue("s3_bucket")
    return S3Store(f"s3://{bucket}/prod", client=client)


@pytest.fixture
def run_copy(unlearn_run, tmp_path) -> Path:
    """A private copy of the run directory (tests that publish or re-report change it)."""
    out = tmp_path / "run"
    shutil.copytree(unlearn_run, out)
    return out
