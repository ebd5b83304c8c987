"""The bad-input catalogue of the data contracts: each kind is refused by ingest or by a GX suite,
with a message that names table, expectation and examples, and nothing downstream is written."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from schemas.contracts import ContractError
from schemas.personal import hash_id
from tasks.inputs.requests import make_requests
from tasks.pipeline.forget_set import build_forget_set
from tasks.pipeline.ingest import ingest
from tasks.pipeline.validate import ValidationFailed, validate

CUTOFF = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def valid_inputs(catalogue_dir, slice_data, tmp_path_factory) -> Path:
    """A valid catalogue (the TikTok slice) and requests of both kinds, with one interaction erasure."""
    root = tmp_path_factory.mktemp("valid")
    shutil.copytree(catalogue_dir, root / "data")
    make_requests(slice_data, "both", 0.05, 0, root / "requests")
    return root


@pytest.fixture
def inputs(valid_inputs, tmp_path) -> Path:
    shutil.copytree(valid_inputs, tmp_path / "in")
    return tmp_path / "in"


def run_steps(root: Path) -> dict:
    """ingest -> validate -> forget set, as a run chains them; returns the validation summary."""
    workspace = root / "workspace"
    ingest(root / "data", workspace, root / "requests")
    summary = validate(workspace, cutoff=CUTOFF)
    build_forget_set(workspace / "inputs" / "data", workspace / "inputs" / "requests", cutoff=CUTOFF, out_dir=workspace / "forget_set")
    return summary


def rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def with_nulls(column: pa.ChunkedArray, rows: list[int]) -> pa.Array:
    mask = np.zeros(len(column), bool)
    mask[rows] = True
    return pa.array(column.to_numpy(zero_copy_only=False), type=column.type, mask=mask)


def ts(text: str, n: int) -> pa.Array:
    return pa.array([datetime.fromisoformat(text)] * n, pa.timestamp("us", tz="UTC"))


def test_valid_inputs_pass_and_reach_the_forget_set(inputs):
    summary = run_steps(inputs)
    assert summary["success"] and set(summary["tables"]) == {
        "interactions",
        "item_features/image",
        "item_features/audio",
        "licence_revocations",
        "erasure_requests",
    }
    assert all(t["expectations"] >= 8 and not t["warnings"] for t in summary["tables"].values())
    ws = inputs / "workspace"
    assert (ws / "validation" / "docs" / "index.html").is_file()
    assert (ws / "validation" / "interactions.data.json").is_file()
    assert (ws / "forget_set" / "summary.json").is_file()


def test_relative_workspace_works_and_leaves_no_temporary_files(inputs, tmp_path, monkeypatch):
    """The CLI's default workspace is relative, and a nightly run must not leave a folder behind in /tmp each time."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(inputs)
    ingest(Path("data"), Path("ws"), Path("requests"))
    assert validate(Path("ws"), cutoff=CUTOFF)["success"]
    assert (inputs / "ws" / "validation" / "docs" / "index.html").is_file()
    assert list(scratch.iterdir()) == []


def features(root: Path, modality: str = "image") -> Path:
    return root / "data" / "item_features" / f"{modality}.parquet"


def inter(root: Path) -> Path:
    return root / "data" / "interactions.parquet"


def float_embeddings(table: pa.Table, rows: list[int], value: float) -> pa.Table:
    matrix = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    matrix[rows, 0] = value
    return set_column(table, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1]))


def ragged_embeddings(table: pa.Table) -> pa.Table:
    rows = [list(v) for v in table.column("embedding").to_pylist()]
    rows[3] = rows[3][:-5]
    rows[7] = rows[7][:-5]
    return set_column(table, "embedding", pa.array(rows, pa.list_(pa.float32())))


def duplicate_rows(table: pa.Table) -> pa.Table:
    return pa.concat_tables([table, table.slice(0, table.num_rows // 20)])


def requests_table(root: Path, name: str) -> Path:
    return root / "requests" / f"{name}.parquet"


# (case, table path, change, words the message must hold): each a kind of bad input.
VALIDATION_CASES = [
    ("missing column", inter, lambda t: t.drop_columns(["item_id"]), ["interactions", "has the columns user_id, item_id, ts", "item_id"]),
    (
        "wrong type",
        inter,
        lambda t: set_column(t, "user_id", t.column("user_id").cast(pa.float64())),
        ["interactions", "column user_id has Arrow type int64 or string", "double"],
    ),
    (
        "null ids",
        inter,
        lambda t: set_column(t, "item_id", with_nulls(t.column("item_id"), [4, 9, 11])),
        ["interactions", "item_id is never null", "3 of"],
    ),
    ("duplicate interactions beyond the threshold", inter, duplicate_rows, ["interactions", "repeat another row's (user_id, item_id, ts)"]),
    (
        "timestamps in the future",
        inter,
        lambda t: set_column(t, "ts", pa.concat_arrays([ts("2031-03-01T00:00:00+00:00", 2), t.column("ts").combine_chunks()[2:]])),
        ["interactions", "ts lies between", "2031-03-01"],
    ),
    (
        "negative weights",
        inter,
        lambda t: set_column(t, "weight", pa.array(np.r_[-1.5, np.ones(t.num_rows - 1)], pa.float32())),
        ["interactions", "weight is not negative", "1 of", "-1.5"],
    ),
    (
        "unknown split",
        inter,
        lambda t: set_column(t, "split", pc.if_else(pc.equal(t.column("split"), "test"), "holdout", t.column("split"))),
        ["interactions", "split is train, valid or test", "holdout"],
    ),
    ("empty interactions table", inter, lambda t: t.slice(0, 0), ["interactions", "at least one row"]),
    ("embedding dimension varies", features, ragged_embeddings, ["item_features/image", "same dimension", "2 of"]),
    ("NaN/inf in embeddings", features, lambda t: float_embeddings(t, [1, 2], np.nan), ["item_features/image", "no NaN or inf", "2 of"]),
    ("feature table with zero rows", lambda r: features(r, "audio"), lambda t: t.slice(0, 0), ["item_features/audio", "at least one row"]),
    (
        "revocation with unknown scope",
        lambda r: requests_table(r, "licence_revocations"),
        lambda t: set_column(t, "scope", pa.array(["text"] + t.column("scope").to_pylist()[1:])),
        ["licence_revocations", "scope is 'item' or a modality", "text"],
    ),
    (
        "duplicate request ids",
        lambda r: requests_table(r, "erasure_requests"),
        lambda t: set_column(t, "request_id", pa.array(["ER-dup"] * 2 + t.column("request_id").to_pylist()[2:])),
        ["erasure_requests", "request_id values are unique", "ER-dup"],
    ),
    (
        "request without effective_at",
        lambda r: requests_table(r, "erasure_requests"),
        lambda t: set_column(t, "effective_at", with_nulls(t.column("effective_at"), [0])),
        ["erasure_requests", "effective_at is never null", "1 of"],
    ),
    (
        "effective before received",
        lambda r: requests_table(r, "erasure_requests"),
        lambda t: set_column(t, "received_at", ts("2026-03-01T00:00:00+00:00", t.num_rows)),
        ["erasure_requests", "no earlier than it was received"],
    ),
]


@pytest.mark.parametrize("case,path,change,words", VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_bad_input_is_refused_by_validation_with_a_specific_message(inputs, case, path, change, words):
    rewrite(path(inputs), change)
    with pytest.raises(ValidationFailed) as info:
        run_steps(inputs)
    message = str(info.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in:\n{message}"
    ws = inputs / "workspace"
    assert (ws / "validation" / "summary.json").is_file()  # the failure is recorded for the report
    assert not (ws / "forget_set").exists()  # and nothing downstream ran


def test_missing_interactions_file_is_refused_at_ingest(inputs):
    inter(inputs).unlink()
    with pytest.raises(ContractError, match=r"interactions: .*interactions.parquet does not exist"):
        run_steps(inputs)
    assert not (inputs / "workspace" / "inputs").exists()


def test_truncated_parquet_is_refused_at_ingest(inputs):
    path = features(inputs)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ContractError, match=r"item_features/image: .*image.parquet is not a readable Parquet file"):
        run_steps(inputs)
    assert not (inputs / "workspace" / "inputs").exists()


def test_requests_for_unknown_users_and_items_are_warnings_reported_as_not_applicable(inputs):
    rewrite(
        requests_table(inputs, "erasure_requests"),
        lambda t: set_column(t, "user_id", pa.array([10**9] + t.column("user_id").to_pylist()[1:])),
    )
    rewrite(
        requests_table(inputs, "licence_revocations"),
        lambda t: set_column(t, "item_id", pa.array([-7] + t.column("item_id").to_pylist()[1:])),
    )
    summary = run_steps(inputs)
    assert summary["success"]
    warned = {t: [(w["column"], w["examples"]) for w in s["warnings"]] for t, s in summary["tables"].items() if s["warnings"]}
    assert warned == {"erasure_requests": [("unknown_user_id", [hash_id(10**9)])], "licence_revocations": [("unknown_item_id", [-7])]}
    forget = (inputs / "workspace" / "forget_set" / "summary.json").read_text()
    assert '"unknown_user"' in forget and '"unknown_item"' in forget
