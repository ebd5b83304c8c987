"""The forget-set builder: cutoff, cumulative lineage, not-applicable requests, the empty outcome, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE, ContractError, erasure_requests_schema, licence_revocations_schema
from schemas.errors import PathError
from tasks.cli import main
from tasks.inputs.request_tables import request_id_of
from tasks.pipeline.forget_set import build_forget_set, load_plan, plan_forget


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


def ids(keys: list[str]) -> list[str]:
    """The request ids of applied-request keys."""
    return [request_id_of(k) for k in keys]


@pytest.fixture
def requests_dir(slice_data, tmp_path) -> Path:
    """Hand-written requests over a week: user erasures, an interaction erasure, item and modality revocations."""
    d = slice_data
    coo = d.train.tocoo()
    u = d.user_ids
    erasures = [
        ("ER-1", u[0], None, "2026-01-01"),
        ("ER-2", u[1], None, "2026-01-03"),
        ("ER-3", u[coo.row[100]], d.item_ids[coo.col[100]], "2026-01-03"),
        ("ER-4", 10**9, None, "2026-01-02"),
        ("ER-5", u[2], None, "2026-01-09"),
    ]
    revocations = [
        ("RV-1", d.item_ids[5], "LIC-1", "item", "2026-01-02"),
        ("RV-2", d.item_ids[6], "LIC-1", "item", "2026-01-05"),
        ("RV-3", d.item_ids[7], "LIC-2", "audio", "2026-01-04"),
        ("RV-4", d.item_ids[8], "LIC-3", "text", "2026-01-04"),
    ]

    def ts(days):
        return pa.array([utc(x) for x in days], pa.timestamp("us", tz="UTC"))

    out = tmp_path / "requests"
    out.mkdir()
    pq.write_table(
        pa.table(
            {
                "request_id": [r[0] for r in erasures],
                "user_id": pa.array([int(r[1]) for r in erasures]),
                "item_id": pa.array([None if r[2] is None else int(r[2]) for r in erasures], pa.int64()),
                "received_at": ts([r[3] for r in erasures]),
                "effective_at": ts([r[3] for r in erasures]),
                "legal_basis": ["GDPR Art. 17(1)(a)"] * len(erasures),
            },
            schema=erasure_requests_schema(),
        ),
        out / ERASURES_FILE,
    )
    pq.write_table(
        pa.table(
            {
                "revocation_id": [r[0] for r in revocations],
                "item_id": pa.array([int(r[1]) for r in revocations]),
                "licence_id": [r[2] for r in revocations],
                "scope": [r[3] for r in revocations],
                "effective_at": ts([r[4] for r in revocations]),
                "reason": ["licence expired"] * len(revocations),
            },
            schema=licence_revocations_schema(),
        ),
        out / REVOCATIONS_FILE,
    )
    return out


def test_cutoff_takes_what_is_effective_and_defers_the_rest(requests_dir, slice_data):
    plan = plan_forget(requests_dir, slice_data, utc("2026-01-03"))
    assert ids(plan.new_request_ids) == ["ER-1", "ER-2", "ER-3", "RV-1"]
    assert plan.deferred == ["ER-5", "RV-2", "RV-3", "RV-4"]
    assert plan.not_applicable == {"unknown_user": ["ER-4"]}
    assert plan.forget.users.tolist() == [0, 1] and plan.forget.items.tolist() == [5] and len(plan.forget.pairs) == 1
    assert plan.counts == {
        "user_erasures": 2,
        "interaction_erasures": 1,
        "item_revocations": 1,
        "modality_revocations": 0,
        "already_applied": 0,
        "deferred": 4,
        "not_applicable": 1,
    }


def test_requests_applied_by_the_parent_are_not_applied_again_but_stay_in_the_cumulative_set(requests_dir, slice_data):
    first = plan_forget(requests_dir, slice_data, utc("2026-01-03"))
    second = plan_forget(requests_dir, slice_data, utc("2026-01-10"), applied=first.request_ids)
    assert ids(second.new_request_ids) == ["ER-5", "RV-2", "RV-3"]
    assert second.forget.users.tolist() == [2] and second.forget.items.tolist() == [6]
    assert {m: v.tolist() for m, v in second.forget.modality_items.items()} == {"audio": [7]}
    assert second.cumulative.users.tolist() == [0, 1, 2] and second.cumulative.items.tolist() == [5, 6]
    assert second.request_ids == sorted(first.request_ids + second.new_request_ids)
    assert ids(second.request_ids) == ["ER-1", "ER-2", "ER-3", "ER-5", "RV-1", "RV-2", "RV-3"]
    assert second.counts["already_applied"] == 4
    assert second.not_applicable == {"unknown_user": ["ER-4"], "unknown_modality": ["RV-4"]}
    third = plan_forget(requests_dir, slice_data, utc("2026-01-10"), applied=second.request_ids)
    assert third.nothing_to_forget and third.cumulative.users.tolist() == [0, 1, 2]


def test_nothing_effective_yet_is_a_clean_empty_outcome(requests_dir, catalogue_dir, tmp_path):
    summary = build_forget_set(catalogue_dir, requests_dir, cutoff=utc("2025-12-01"), out_dir=tmp_path / "fs")
    assert summary["nothing_to_forget"] and summary["counts"]["deferred"] == 9
    assert summary["new"]["forgotten_interactions"] == {"train": 0, "valid": 0, "test": 0}
    assert load_plan(tmp_path / "fs").nothing_to_forget


def test_build_reads_the_parent_manifest_and_round_trips(requests_dir, catalogue_dir, slice_data, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    applied = plan_forget(requests_dir, slice_data, utc("2026-01-02")).request_ids
    assert ids(applied) == ["ER-1", "RV-1"]
    (parent / "manifest.json").write_text(json.dumps({"model": "mgcn", "requests_applied": applied}))
    summary = build_forget_set(catalogue_dir, requests_dir, cutoff=utc("2026-01-03"), parent_dir=parent, out_dir=tmp_path / "fs")
    assert ids(summary["new_request_ids"]) == ["ER-2", "ER-3"] and summary["counts"]["already_applied"] == 2
    user0 = int(np.diff(slice_data.train.indptr)[0] + np.diff(slice_data.valid.indptr)[0] + np.diff(slice_data.test.indptr)[0])
    assert summary["cumulative"]["users"] == 2 and sum(summary["cumulative"]["forgotten_interactions"].values()) > user0
    plan = load_plan(tmp_path / "fs")
    assert plan.forget.users.tolist() == [1] and plan.cumulative.users.tolist() == [0, 1] and plan.cumulative.items.tolist() == [5]
    # the unlearn step reads this plan: one made for other data, or leaving out what the parent applied, is refused
    assert load_plan(tmp_path / "fs", summary["data_sha256"], applied).forget.users.tolist() == [1]
    with pytest.raises(ContractError, match="planned for other data"):
        load_plan(tmp_path / "fs", "0" * 64, applied)
    with pytest.raises(ContractError, match="leaves out 1 request"):
        load_plan(tmp_path / "fs", summary["data_sha256"], [*applied, "erasure_requests:ER-9"])


def test_missing_effective_at_column_and_missing_folder_are_named(requests_dir, slice_data, tmp_path):
    table = pq.read_table(requests_dir / ERASURES_FILE)
    pq.write_table(table.drop_columns(["effective_at"]), requests_dir / ERASURES_FILE)
    with pytest.raises(ContractError, match=r"erasure_requests: missing column\(s\) \['effective_at'\]"):
        plan_forget(requests_dir, slice_data)
    with pytest.raises(PathError, match="requests folder .*nowhere does not exist"):
        plan_forget(tmp_path / "nowhere", slice_data)


def test_cli_prints_a_readable_summary(requests_dir, catalogue_dir, capsys):
    assert main(["-q", "forget-set", "--data", str(catalogue_dir), "--requests", str(requests_dir), "--cutoff", "2026-01-03"]) == 0
    out = capsys.readouterr().out
    assert "4 new, 0 already applied by the parent, 4 not yet effective, 1 not applicable" in out
    assert "new         users 2, items 1, interactions 1" in out
    assert "not applicable (unknown user): ER-4" in out
    assert main(["-q", "forget-set", "--data", str(catalogue_dir), "--requests", str(requests_dir), "--cutoff", "2025-01-01"]) == 0
    assert "nothing to forget" in capsys.readouterr().out


def test_validate_cli_exits_2_and_names_the_failure(catalogue_dir, tmp_path, capsys):
    import shutil

    shutil.copytree(catalogue_dir, tmp_path / "data")
    table = pq.read_table(tmp_path / "data" / "interactions.parquet")
    pq.write_table(
        table.append_column("weight", pa.array(np.r_[-3.0, np.ones(table.num_rows - 1)], pa.float32())),
        tmp_path / "data" / "interactions.parquet",
    )
    code = main(["-q", "validate", "--data", str(tmp_path / "data"), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err
    assert code == 2 and "interactions" in err and "weight is not negative: 1 of" in err and "-3.0" in err


def test_the_interactions_scenario_erases_a_share_of_chosen_users_interactions(slice_data, tmp_path):
    from tasks.inputs.requests import INTERACTION_SHARE, make_requests

    make_requests(slice_data, "interactions", 0.05, 0, tmp_path / "r")
    plan = plan_forget(tmp_path / "r", slice_data, None, applied=[])
    pairs = plan.forget.pairs
    users, per_user = np.unique(pairs[:, 0], return_counts=True)
    counts = np.diff(slice_data.train.indptr)[users]
    eligible = (np.diff(slice_data.train.indptr) >= 2).sum()
    assert len(users) == round(0.05 * eligible) and not len(plan.forget.users)
    assert (per_user == np.ceil(INTERACTION_SHARE * counts)).all() and (per_user < counts).all()  # each keeps some
    assert slice_data.train[pairs[:, 0], pairs[:, 1]].all()  # training interactions only
