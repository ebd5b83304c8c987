"""Hostile and careless inputs, by class: each is refused with exit status 2 and one line, and nothing is written.

Classes: writes that would escape their folder; outputs that would replace an input; requests that could
be lost silently; personal data in failure records; validation gaps; tracebacks instead of errors.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE, erasure_requests_schema, licence_revocations_schema
from schemas.errors import (
    BadModalityName,
    ContractError,
    IdTypeMismatch,
    NonFiniteValues,
    NothingRetained,
    OutputOverlapsInput,
    PathError,
    PathEscape,
    RequestIdConflict,
    UserError,
)
from schemas.personal import hash_id, pseudonymise, scrub
from tasks.cli import main
from tasks.inputs.request_tables import request_id_of, request_key
from tasks.paths import check_output, confined, replacing_folder
from tasks.pipeline.forget_set import plan_forget

CUTOFF = datetime(2026, 6, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------- helpers


def refused(capsys, argv: list) -> str:
    """Run the CLI; assert exit status 2 with exactly one line on stderr; return that line."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def usage_error(capsys, argv: list) -> str:
    """Run the CLI on a bad argument value: argparse exits 2; return its error line."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed) with its kind, bytes and mtime: any change shows."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        if path.is_symlink():
            content = os.readlink(path)
        else:
            content = path.read_bytes() if path.is_file() else None
        out[str(path.relative_to(root))] = (stat.st_mode, content, stat.st_mtime_ns)
    return out


@pytest.fixture
def tree(tmp_path) -> Path:
    """A sentinel tree around the inputs and outputs of every command: inputs, siblings, files in the parents."""
    t = tmp_path / "tree"
    files = {
        "parent.txt": "a file beside the inputs",
        "sibling/keep.txt": "a sibling folder",
        "data/interactions.parquet": "catalogue",
        "data/item_features/image.parquet": "features",
        "requests/erasure_requests.parquet": "requests",
        "model/manifest.json": "{}",
        "model/model.pt": "weights",
        "run/run.json": "{}",
        "run/model/manifest.json": "{}",
        "run/inputs/ingest.json": "{}",
        "run/report/report.json": "{}",
        "mmrec/x.inter": "userID\titemID\tx_label\n",
    }
    for name, text in files.items():
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_text(text)
    (t / "link").symlink_to(t / "data", target_is_directory=True)
    (t / "mmrec_dir" / "y.inter").mkdir(parents=True)
    return t


def write_erasures(folder: Path, rows: list[tuple], id_type: pa.DataType = pa.int64()) -> None:
    """``rows``: (request_id, user_id, item_id or None, effective day)."""
    folder.mkdir(parents=True, exist_ok=True)
    day = [datetime.fromisoformat(r[3]).replace(tzinfo=timezone.utc) for r in rows]
    pq.write_table(
        pa.table(
            {
                "request_id": [r[0] for r in rows],
                "user_id": pa.array([r[1] for r in rows], id_type),
                "item_id": pa.array([r[2] for r in rows], id_type),
                "received_at": pa.array(day, pa.timestamp("us", "UTC")),
                "effective_at": pa.array(day, pa.timestamp("us", "UTC")),
                "legal_basis": ["GDPR Art. 17"] * len(rows),
            },
            schema=erasure_requests_schema(id_type),
        ),
        folder / ERASURES_FILE,
    )


def write_revocations(folder: Path, rows: list[tuple]) -> None:
    """``rows``: (revocation_id, item_id, scope, effective day)."""
    folder.mkdir(parents=True, exist_ok=True)
    day = [datetime.fromisoformat(r[3]).replace(tzinfo=timezone.utc) for r in rows]
    pq.write_table(
        pa.table(
            {
                "revocation_id": [r[0] for r in rows],
                "item_id": pa.array([r[1] for r in rows], pa.int64()),
                "licence_id": ["LIC-1"] * len(rows),
                "scope": [r[2] for r in rows],
                "effective_at": pa.array(day, pa.timestamp("us", "UTC")),
                "reason": ["expired"] * len(rows),
            },
            schema=licence_revocations_schema(),
        ),
        folder / REVOCATIONS_FILE,
    )


@pytest.fixture
def data(catalogue_dir, tmp_path) -> Path:
    """A private copy of the TikTok slice catalogue (int64 ids)."""
    shutil.copytree(catalogue_dir, tmp_path / "data")
    return tmp_path / "data"


def validation_error(capsys, data: Path, workspace: Path, requests: Path | None = None) -> str:
    """``mmrecun validate`` on ``data`` (and ``requests``); assert it failed with status 2; return stderr."""
    argv = ["-q", "validate", "--data", data, "--workspace", workspace, "--cutoff", CUTOFF.isoformat()]
    assert main([str(a) for a in argv + (["--requests", requests] if requests else [])]) == 2
    return capsys.readouterr().err


def rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


# ---------------------------------------------------------------- writes escape their folder


@pytest.mark.parametrize("part", ["../x", "/etc/passwd", "a/../../b", "", ".", "a//b", "a\\b", "x\0y", "a/"])
def test_confined_refuses_names_that_could_leave_the_root(tmp_path, part):
    with pytest.raises(PathEscape):
        confined(tmp_path, part)


def test_confined_follows_symlinks_and_refuses_one_leaving_the_root(tmp_path):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "inside").symlink_to(tmp_path / "root" / "sub")
    (tmp_path / "root" / "outside").symlink_to(tmp_path)
    assert confined(tmp_path / "root", "inside", "f.parquet") == tmp_path / "root" / "inside" / "f.parquet"
    with pytest.raises(PathEscape, match="outside"):
        confined(tmp_path / "root", "outside", "f.parquet")


@pytest.mark.parametrize("modality", ["../evil", "a/b", "/tmp/evil", "item", "Image", "x" * 65])
def test_make_synthetic_refuses_modality_names_that_are_not_plain_names(tree, capsys, modality):
    before = snapshot(tree)
    line = refused(capsys, ["make-synthetic", tree / "sibling" / "syn", "--users", "20", "--items", "20", "--modalities", modality])
    assert "item_features/" in line and repr(modality)[1:-1][:20] in line
    assert snapshot(tree) == before


def test_write_catalogue_refuses_a_bad_modality_before_writing_anything(tmp_path):
    from tasks.inputs.catalogue import write_catalogue

    (tmp_path / "out").mkdir()
    with pytest.raises(BadModalityName):
        write_catalogue(tmp_path / "out", pa.table({"x": [1]}), {"ok": pa.table({"x": [1]}), "../escape": pa.table({"x": [1]})})
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "escape.parquet").exists()


def test_a_feature_file_symlinked_outside_the_catalogue_is_refused_by_load_and_ingest(data, tmp_path):
    from tasks.inputs.catalogue import load_catalogue
    from tasks.pipeline.ingest import ingest

    secret = tmp_path / "elsewhere.parquet"
    shutil.move(data / "item_features" / "image.parquet", secret)
    (data / "item_features" / "image.parquet").symlink_to(secret)
    with pytest.raises(PathEscape, match="image.parquet resolves to .*elsewhere.parquet, outside"):
        load_catalogue(data)
    with pytest.raises(PathEscape, match="elsewhere.parquet, outside"):
        ingest(data, tmp_path / "ws")
    assert not (tmp_path / "ws" / "inputs").exists()


def test_a_request_table_symlinked_outside_the_requests_folder_is_refused(slice_data, tmp_path):
    write_erasures(tmp_path / "elsewhere", [("ER-1", int(slice_data.user_ids[0]), None, "2026-01-01")])
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / ERASURES_FILE).symlink_to(tmp_path / "elsewhere" / ERASURES_FILE)
    with pytest.raises(PathEscape):
        plan_forget(tmp_path / "requests", slice_data, CUTOFF)


def test_a_symlink_inside_the_catalogue_is_followed(data, tmp_path):
    from tasks.inputs.catalogue import load_catalogue

    shutil.move(data / "item_features" / "image.parquet", data / "image-v2.parquet")
    (data / "item_features" / "image.parquet").symlink_to(data / "image-v2.parquet")
    assert "image" in load_catalogue(data).data.features


def test_convert_mmrec_refuses_a_feature_file_named_after_the_item_scope(mmrec_slice, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(mmrec_slice, src)
    shutil.copy(next(src.glob("*_feat.npy")), src / "item_feat.npy")
    assert "'item' is reserved" in refused(capsys, ["convert-mmrec", src, tmp_path / "out"])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- outputs replace inputs

OVERLAPS = [
    ("convert-mmrec into its source", ["convert-mmrec", "{t}/mmrec", "{t}/mmrec"]),
    ("convert-mmrec inside its source", ["convert-mmrec", "{t}/mmrec", "{t}/mmrec/out"]),
    ("convert-mmrec above its source", ["convert-mmrec", "{t}/mmrec", "{t}"]),
    ("train over the catalogue", ["train", "--data", "{t}/data", "--out", "{t}/data"]),
    ("train inside the catalogue", ["train", "--data", "{t}/data", "--out", "{t}/data/item_features"]),
    ("train above the catalogue", ["train", "--data", "{t}/data", "--out", "{t}"]),
    ("train over a symlink to the catalogue", ["train", "--data", "{t}/data", "--out", "{t}/link"]),
    (
        "make-requests over the catalogue",
        ["make-requests", "--data", "{t}/data", "--scenario", "users", "--out", "{t}/data"],
    ),
    (
        "forget-set over the requests",
        ["forget-set", "--data", "{t}/data", "--requests", "{t}/requests", "--out", "{t}/requests"],
    ),
    (
        "forget-set over the parent",
        [
            "forget-set",
            "--data",
            "{t}/data",
            "--requests",
            "{t}/requests",
            "--parent",
            "{t}/model",
            "--out",
            "{t}/model",
        ],
    ),
    (
        "unlearn over the parent model",
        ["unlearn", "--data", "{t}/data", "--model", "{t}/model", "--forget", "{t}/requests", "--out", "{t}/model"],
    ),
    (
        "unlearn inside the requests",
        [
            "unlearn",
            "--data",
            "{t}/data",
            "--model",
            "{t}/model",
            "--forget",
            "{t}/requests",
            "--out",
            "{t}/requests/new",
        ],
    ),
    (
        "evaluate --json inside the model",
        ["evaluate", "--data", "{t}/data", "--model", "{t}/model", "--json", "{t}/model/m.json"],
    ),
    (
        "evaluate --json over a table",
        ["evaluate", "--data", "{t}/data", "--model", "{t}/model", "--json", "{t}/data/interactions.parquet"],
    ),
    ("validate into the catalogue", ["validate", "--data", "{t}/data", "--workspace", "{t}/data"]),
    (
        "validate above the requests",
        ["validate", "--data", "{t}/data", "--requests", "{t}/requests", "--workspace", "{t}"],
    ),
    ("report over the run", ["report", "--run", "{t}/run", "--out", "{t}/run"]),
    ("report over the run's model", ["report", "--run", "{t}/run", "--out", "{t}/run/model"]),
    ("report above the run", ["report", "--run", "{t}/run", "--out", "{t}"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in OVERLAPS], ids=[c[0] for c in OVERLAPS])
def test_an_output_that_would_replace_an_input_is_refused_and_the_tree_is_untouched(tree, capsys, argv):
    before = snapshot(tree)
    line = refused(capsys, [a.replace("{t}", str(tree)) for a in argv])
    assert "output" in line and "input" in line and "writing it would replace that input" in line
    assert snapshot(tree) == before


def test_check_output_names_the_relation_and_skips_remote_inputs(tmp_path):
    data = tmp_path / "data"
    for out, words in ((data, "is the input"), (data / "x", "lies inside the input"), (tmp_path, "contains the input")):
        with pytest.raises(OutputOverlapsInput, match=words):
            check_output(out, [None, "s3://bucket/data", data])
    assert check_output(tmp_path / "model", ["s3://bucket/data", data, None]) == tmp_path / "model"


def test_the_default_report_folder_inside_the_run_is_allowed(tree):
    from tasks.cli import _run_records

    assert check_output(tree / "run" / "report", _run_records(str(tree / "run"))) == tree / "run" / "report"


def test_replacing_folder_refuses_to_replace_a_file(tmp_path):
    (tmp_path / "out").write_text("keep me")
    with pytest.raises(PathError, match="is a file, not a folder"):
        with replacing_folder(tmp_path / "out"):
            raise AssertionError("the block must not run")
    assert (tmp_path / "out").read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---------------------------------------------------------------- a request can be lost silently


def test_two_erasures_sharing_an_id_are_refused_by_plan_forget(slice_data, tmp_path):
    u = slice_data.user_ids
    write_erasures(tmp_path / "r", [("ER-1", int(u[0]), None, "2026-01-01"), ("ER-1", int(u[1]), None, "2026-01-02")])
    with pytest.raises(RequestIdConflict, match=r"erasure_requests.request_id: 1 request id.*'ER-1' \(2 rows of erasure_requests\)"):
        plan_forget(tmp_path / "r", slice_data, CUTOFF)


def test_a_revocation_sharing_an_erasure_id_is_refused_by_plan_forget_and_the_cli(slice_data, catalogue_dir, tmp_path, capsys):
    write_erasures(tmp_path / "r", [("REQ-7", int(slice_data.user_ids[0]), None, "2026-01-01")])
    write_revocations(tmp_path / "r", [("REQ-7", int(slice_data.item_ids[3]), "item", "2026-01-01")])
    with pytest.raises(RequestIdConflict, match="1 rows of erasure_requests, 1 rows of licence_revocations"):
        plan_forget(tmp_path / "r", slice_data, CUTOFF)
    line = refused(capsys, ["forget-set", "--data", catalogue_dir, "--requests", tmp_path / "r", "--out", tmp_path / "fs"])
    assert "REQ-7" in line and not (tmp_path / "fs").exists()


def test_validation_refuses_ids_repeated_within_and_across_the_request_tables(data, slice_data, tmp_path, capsys):
    u, i = slice_data.user_ids, slice_data.item_ids
    write_erasures(
        tmp_path / "r",
        [
            ("REQ-1", int(u[0]), None, "2026-01-01"),
            ("REQ-2", int(u[1]), None, "2026-01-01"),
            ("REQ-2", int(u[2]), None, "2026-01-01"),
        ],
    )
    write_revocations(tmp_path / "r", [("REQ-1", int(i[3]), "item", "2026-01-01")])
    err = validation_error(capsys, data, tmp_path / "ws", tmp_path / "r")
    assert "request_id values are unique: 2 of 3 rows, e.g. ['REQ-2']" in err
    assert "request_id is not also the id of a request in the other request table: 1 of 3 rows, e.g. ['REQ-1']" in err
    assert "revocation_id is not also the id of a request in the other request table: 1 of 1 rows, e.g. ['REQ-1']" in err


def test_a_reused_id_with_other_content_is_a_new_request_and_the_same_content_is_not(slice_data, tmp_path):
    u = slice_data.user_ids
    write_erasures(tmp_path / "r", [("ER-1", int(u[0]), None, "2026-01-01")])
    first = plan_forget(tmp_path / "r", slice_data, CUTOFF)
    assert plan_forget(tmp_path / "r", slice_data, CUTOFF, applied=first.request_ids).nothing_to_forget
    write_erasures(tmp_path / "r", [("ER-1", int(u[5]), None, "2026-01-01")])  # the same id, another user
    second = plan_forget(tmp_path / "r", slice_data, CUTOFF)
    assert second.request_ids != first.request_ids and [request_id_of(k) for k in second.request_ids] == ["ER-1"]
    # never counted as applied: the parent's ER-1 (user 0) is gone from the table, so the plan is refused
    with pytest.raises(ContractError, match=r"1 request\(s\) the parent model applied are not effective.*'ER-1'"):
        plan_forget(tmp_path / "r", slice_data, CUTOFF, applied=first.request_ids)


def test_a_plain_id_in_a_parent_manifest_does_not_count_as_applied(slice_data, tmp_path):
    write_erasures(tmp_path / "r", [("ER-1", int(slice_data.user_ids[0]), None, "2026-01-01")])
    plan = plan_forget(tmp_path / "r", slice_data, CUTOFF, applied=["ER-1"])
    assert not plan.nothing_to_forget and plan.counts["already_applied"] == 0


def test_request_keys_are_sorted_strings_that_map_back_to_their_ids(slice_data, tmp_path):
    u, i = slice_data.user_ids, slice_data.item_ids
    write_erasures(tmp_path / "r", [("ER:odd:id", int(u[0]), None, "2026-01-01"), ("ER-2", int(u[1]), int(i[0]), "2026-01-01")])
    write_revocations(tmp_path / "r", [("RV-1", int(i[3]), "item", "2026-01-01")])
    plan = plan_forget(tmp_path / "r", slice_data, CUTOFF)
    assert plan.request_ids == sorted(plan.request_ids) and all(isinstance(k, str) for k in plan.request_ids)
    assert sorted(request_id_of(k) for k in plan.request_ids) == ["ER-2", "ER:odd:id", "RV-1"]
    assert all(k.startswith(("erasure_requests:", "licence_revocations:")) and len(k.rsplit(":", 1)[1]) == 16 for k in plan.request_ids)
    row = {"request_id": "ER-2", "user_id": 1, "item_id": None}
    assert request_key("erasure_requests", row, 7) == request_key("erasure_requests", {k: v for k, v in row.items() if v is not None}, 7)
    assert request_key("erasure_requests", row, 7) != request_key("erasure_requests", row, 8)
    assert request_key("erasure_requests", row, 7) == request_key("erasure_requests", {**row, "user_id": 2}, 7)  # index, not id


# ---------------------------------------------------------------- personal data in failure records


def test_duplicate_rows_of_named_users_reach_no_failure_record_in_clear(member_catalogue, tmp_path, capsys):
    from tasks.pipeline.ingest import ingest
    from tasks.pipeline.validate import ValidationFailed, validate

    data = tmp_path / "data"
    shutil.copytree(member_catalogue, data)
    rewrite(data / "interactions.parquet", lambda t: pa.concat_tables([t, t.slice(0, t.num_rows // 10)]))
    ingest(data, tmp_path / "ws")
    with pytest.raises(ValidationFailed) as info:
        validate(tmp_path / "ws", cutoff=CUTOFF)
    message = str(info.value)
    written = [
        message,
        *(p.read_text() for p in (tmp_path / "ws" / "validation").rglob("*") if p.suffix in (".json", ".html")),
    ]
    assert "repeat another row's (user_id, item_id, ts)" in message and not [text for text in written if "member-" in text]
    hashes = set(scrub("user_id", pq.read_table(data / "interactions.parquet").column("user_id").unique().to_pylist()))
    failed = json.loads((tmp_path / "ws" / "validation" / "summary.json").read_text())["tables"]["interactions"]["failed"]
    examples = [e["user_id"] for e in failed[0]["examples"]]
    assert examples and set(examples) <= hashes and all(e in message for e in examples)


def test_requests_for_unknown_users_are_recorded_as_hashes(member_catalogue, tmp_path):
    from tasks.pipeline.ingest import ingest
    from tasks.pipeline.validate import validate

    write_erasures(tmp_path / "r", [("ER-1", "member-999999-x", None, "2026-01-01")], pa.string())
    ingest(member_catalogue, tmp_path / "ws", tmp_path / "r")
    summary = validate(tmp_path / "ws", cutoff=CUTOFF)
    assert summary["tables"]["erasure_requests"]["warnings"][0]["examples"] == [hash_id("member-999999-x")]
    assert "member-999999-x" not in (tmp_path / "ws" / "validation" / "summary.json").read_text()


def test_hash_id_is_keyed_by_the_salt_and_stable_under_it(monkeypatch):
    monkeypatch.delenv("MMRECUN_ID_SALT", raising=False)
    process = hash_id("member-1")
    assert process == hash_id("member-1") and len(process) == 16 and int(process, 16) >= 0
    monkeypatch.setenv("MMRECUN_ID_SALT", "a")
    assert hash_id("member-1") == hash_id("member-1", salt="a") != process != hash_id("member-1", salt="b")


def test_scrub_hashes_personal_columns_rows_and_derived_columns_only():
    assert scrub("user_id", ["u1", None]) == [hash_id("u1"), None]
    assert scrub("unknown_user_id", [7]) == [hash_id(7)]
    assert scrub("item_id", [7]) == [7] and scrub(None, ["x"]) == ["x"]
    assert scrub(None, [{"user_id": "u1", "item_id": 3}]) == [{"user_id": hash_id("u1"), "item_id": 3}]


def test_pseudonymise_hashes_each_user_once_and_keeps_nulls():
    table = pa.table({"user_id": pa.array([5, None, 5, 6]), "item_id": [1, 2, 3, 4]})
    out = pseudonymise(table)
    assert out.column("user_id").to_pylist() == [hash_id(5), None, hash_id(5), hash_id(6)]
    assert out.column("item_id").to_pylist() == [1, 2, 3, 4]


def test_an_id_mismatch_between_model_and_catalogue_names_users_only_as_hashes():
    from tasks.pipeline.evaluate import check_same_ids

    with pytest.raises(ValueError) as info:
        check_same_ids("users", np.array(["member-1", "member-2"]), np.array(["member-1", "member-3"]))
    assert "member-" not in str(info.value) and hash_id("member-3") in str(info.value)
    with pytest.raises(ValueError, match="item-9"):
        check_same_ids("items", np.array(["item-1"]), np.array(["item-9"]))


def test_string_user_ids_in_requests_for_int_interactions_are_named_without_values(catalogue_dir, slice_data, tmp_path, capsys):
    write_erasures(tmp_path / "r", [("ER-1", "member-000001-x", None, "2026-01-01")], pa.string())
    with pytest.raises(IdTypeMismatch, match="the interactions' user_id values are int64"):
        plan_forget(tmp_path / "r", slice_data, CUTOFF)
    line = refused(capsys, ["forget-set", "--data", catalogue_dir, "--requests", tmp_path / "r"])
    assert "erasure_requests: column 'user_id' has type string" in line and "member-" not in line


# ---------------------------------------------------------------- validation gaps


@pytest.mark.parametrize("bad,words", [(np.nan, "weight is a number (never null or NaN): 1 of"), (np.inf, "weight is finite: 1 of")])
def test_a_non_finite_weight_fails_validation_and_loading(data, tmp_path, capsys, bad, words):
    from tasks.inputs.catalogue import load_catalogue

    def weights(n):
        return pa.array(np.r_[bad, np.ones(n - 1)], pa.float32())

    rewrite(data / "interactions.parquet", lambda t: t.append_column("weight", weights(t.num_rows)))
    assert words in validation_error(capsys, data, tmp_path / "ws")
    with pytest.raises(NonFiniteValues, match="interactions: column 'weight' holds 1 NaN or inf values"):
        load_catalogue(data)


def test_a_feature_table_named_item_is_refused_by_ingest_and_load(data, tmp_path):
    from tasks.inputs.catalogue import load_catalogue
    from tasks.pipeline.ingest import ingest

    shutil.move(data / "item_features" / "image.parquet", data / "item_features" / "item.parquet")
    with pytest.raises(BadModalityName, match="'item' is reserved"):
        ingest(data, tmp_path / "ws")
    with pytest.raises(BadModalityName, match="'item' is reserved"):
        load_catalogue(data)


def test_a_catalogue_without_train_rows_fails_validation(data, tmp_path, capsys):
    rewrite(
        data / "interactions.parquet",
        lambda t: t.set_column(
            t.column_names.index("split"),
            "split",
            pc.if_else(pc.equal(t.column("split"), "train"), "valid", t.column("split")),
        ),
    )
    err = validation_error(capsys, data, tmp_path / "ws")
    assert "interactions" in err and "the train split is not empty" in err


def test_features_naming_no_known_item_fail_validation(data, tmp_path, capsys):
    rewrite(
        data / "item_features" / "audio.parquet",
        lambda t: t.set_column(0, "item_id", pc.add(t.column("item_id"), 10**9)),
    )
    err = validation_error(capsys, data, tmp_path / "ws")
    assert "item_features/audio" in err and "some rows name an item of the interactions" in err


def test_erasing_every_user_stops_at_the_forget_set(catalogue_dir, slice_data, tmp_path, capsys):
    from tasks.inputs.requests import make_requests

    make_requests(slice_data, "users", 1.0, 0, tmp_path / "r")
    with pytest.raises(NothingRetained, match=r"erasure_requests: the requests .* forget all \d+ training interactions"):
        plan_forget(tmp_path / "r", slice_data, CUTOFF)
    argv = [
        "forget-set",
        "--data",
        catalogue_dir,
        "--requests",
        tmp_path / "r",
        "--cutoff",
        CUTOFF.isoformat(),
        "--out",
        tmp_path / "fs",
    ]
    assert "no user with a training interaction would be left" in refused(capsys, argv)
    assert not (tmp_path / "fs").exists()


def test_revoking_every_item_stops_at_the_forget_set(slice_data, tmp_path):
    write_revocations(tmp_path / "r", [(f"RV-{n}", int(i), "item", "2026-01-01") for n, i in enumerate(slice_data.item_ids)])
    with pytest.raises(NothingRetained, match="licence_revocations: "):
        plan_forget(tmp_path / "r", slice_data, CUTOFF)


# ---------------------------------------------------------------- tracebacks instead of errors

WRONG_KINDS = [  # (case, argv, words of the error line)
    ("data is a file", ["train", "--data", "{t}/parent.txt", "--out", "{t}/sibling/m"], ("catalogue folder", "is a file, not a folder")),
    ("MMRec source is a file", ["convert-mmrec", "{t}/parent.txt", "{t}/sibling/c"], ("MMRec folder", "is a file, not a folder")),
    ("a catalogue without interactions", ["train", "--data", "{t}/sibling", "--out", "{t}/new"], ("interactions: file", "does not exist")),
    ("an .inter folder", ["convert-mmrec", "{t}/mmrec_dir", "{t}/sibling/c"], ("MMRec interaction file", "is a folder, not a file")),
    ("out is a file", ["train", "--data", "{t}/data", "--out", "{t}/parent.txt"], ("output", "is a file, not a folder")),
    ("out below a file", ["train", "--data", "{t}/data", "--out", "{t}/parent.txt/m"], ("parent.txt is a file", "not a folder")),
    ("workspace is a file", ["validate", "--data", "{t}/data", "--workspace", "{t}/parent.txt"], ("output", "is a file, not a folder")),
    (
        "--json is a folder",
        ["evaluate", "--data", "{t}/data", "--model", "{t}/model", "--json", "{t}/sibling"],
        ("output", "is a folder, not a file"),
    ),
    (
        "synthetic over a file",
        ["make-synthetic", "{t}/parent.txt", "--users", "20", "--items", "20"],
        ("output", "is a file, not a folder"),
    ),
]


@pytest.mark.parametrize("argv,words", [c[1:] for c in WRONG_KINDS], ids=[c[0] for c in WRONG_KINDS])
def test_a_path_of_the_wrong_kind_is_one_line_and_writes_nothing(tree, capsys, argv, words):
    before = snapshot(tree)
    line = refused(capsys, [a.replace("{t}", str(tree)) for a in argv])
    assert all(word in line for word in words), line
    assert snapshot(tree) == before


def test_table_files_that_are_folders_and_a_requests_file_are_named(data, tmp_path, capsys):
    line = refused(capsys, ["forget-set", "--data", data, "--requests", data / "interactions.parquet"])
    assert "requests folder" in line and "is a file, not a folder" in line
    (tmp_path / "r" / ERASURES_FILE).mkdir(parents=True)
    line = refused(capsys, ["forget-set", "--data", data, "--requests", tmp_path / "r"])
    assert "erasure_requests: file" in line and "is a folder, not a file" in line
    (data / "item_features" / "audio.parquet").unlink()
    (data / "item_features" / "audio.parquet").mkdir()
    assert "item_features/audio: file" in refused(capsys, ["train", "--data", data, "--out", tmp_path / "m"])
    assert "item_features/audio: file" in refused(capsys, ["validate", "--data", data, "--workspace", tmp_path / "ws"])
    assert not (tmp_path / "m").exists() and not (tmp_path / "ws").exists()


BAD_ARGUMENTS = [
    (["train", "--data", "d", "--out", "o", "--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
    (["train", "--data", "d", "--out", "o", "--epochs", "-3"], "argument --epochs: must be an integer >= 1"),
    (["train", "--data", "d", "--out", "o", "--patience", "0"], "argument --patience: must be an integer >= 1"),
    (
        ["train", "--data", "d", "--out", "o", "--epochs", "ten"],
        "argument --epochs: must be an integer >= 1, got 'ten'",
    ),
    (["train", "--data", "d", "--out", "o", "--device", "tpu"], "argument --device: unknown device 'tpu'"),
    (["make-synthetic", "o", "--users", "0"], "argument --users: must be an integer >= 1"),
    (["make-synthetic", "o", "--items", "3"], "argument --items: must be an integer >= 10"),
    (
        ["make-requests", "--data", "d", "--scenario", "users", "--out", "o", "--fraction", "0"],
        "argument --fraction: must be a number in (0, 1]",
    ),
    (
        ["make-requests", "--data", "d", "--scenario", "users", "--out", "o", "--fraction", "1.5"],
        "argument --fraction: must be a number in (0, 1]",
    ),
    (
        ["make-requests", "--data", "d", "--scenario", "users", "--out", "o", "--fraction", "nan"],
        "argument --fraction: must be a number in (0, 1]",
    ),
    (
        ["make-requests", "--data", "d", "--scenario", "users", "--out", "o", "--seed", "-1"],
        "argument --seed: must be an integer >= 0",
    ),
    (
        ["unlearn", "--data", "d", "--model", "m", "--forget", "f", "--out", "o", "--max-epochs", "0"],
        "argument --max-epochs: must be an integer >= 1",
    ),
    (
        ["unlearn", "--data", "d", "--model", "m", "--forget", "f", "--out", "o", "--alpha", "2"],
        "argument --alpha: must be a number in [0, 1]",
    ),
    (
        ["validate", "--data", "d", "--duplicate-threshold", "1"],
        "argument --duplicate-threshold: must be a number in [0, 1)",
    ),
    (["report", "--run", "r", "--retain-ratio", "0"], "argument --retain-ratio: must be a number in (0, 1]"),
    (["publish", "--run", "r", "--store", "s", "--lock-days", "0"], "argument --lock-days: must be an integer >= 1"),
]


@pytest.mark.parametrize("argv,message", BAD_ARGUMENTS, ids=[" ".join(a[0][:1] + a[0][-2:]) for a in BAD_ARGUMENTS])
def test_bad_argument_values_are_argparse_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert message in usage_error(capsys, argv)
    assert list(tmp_path.iterdir()) == []


def test_a_defect_keeps_its_traceback_while_a_user_error_exits_2(monkeypatch, capsys):
    import tasks.cli_registry as cli

    def torch_failure(args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def user_failure(args):
        raise UserError("interactions: column 'user_id' is broken")

    monkeypatch.setattr(cli, "_runs", torch_failure)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        main(["runs", "--store", "nowhere"])
    monkeypatch.setattr(cli, "_runs", user_failure)
    assert "interactions: column 'user_id' is broken" in refused(capsys, ["runs", "--store", "nowhere"])


def test_every_user_error_is_a_value_error_for_callers_that_catch_those():
    import schemas.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, UserError) and c != UserError]
    assert len(classes) == 12 and all(issubclass(c, ValueError) for c in classes)
