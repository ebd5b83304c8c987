"""Ingest from a local folder and from S3 (boto3 against moto's server mode over HTTP on loopback)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmrecun_core.model_files import sha256_file
from schemas.contracts import ContractError
from schemas.errors import UserError
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.requests import make_requests
from tasks.pipeline.ingest import ingest, load_reference
from tasks.pipeline.validate import validate
from tasks.storage.s3 import MissingBucket


@pytest.fixture(scope="module")
def requests_dir(slice_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("req") / "requests"
    make_requests(slice_data, "both", 0.05, 0, out)
    return out


def upload(client, bucket: str, prefix: str, folder: Path) -> None:
    for path in sorted(folder.rglob("*.parquet")):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def test_local_ingest_snapshots_and_fingerprints_every_table(catalogue_dir, requests_dir, tmp_path):
    ref = ingest(catalogue_dir, tmp_path / "ws", requests_dir)
    assert set(ref["tables"]) == {"interactions", "item_features/image", "item_features/audio", "licence_revocations", "erasure_requests"}
    for facts in ref["tables"].values():
        snapshot = Path(facts["path"])
        assert snapshot.is_file() and snapshot.is_relative_to(tmp_path / "ws" / "inputs")
        assert facts["sha256"] == sha256_file(snapshot) == sha256_file(Path(facts["uri"]))
        assert facts["rows"] > 0 and len(facts["schema_sha256"]) == 64
    assert ref["data"]["sha256"] == load_catalogue(catalogue_dir).sha256  # what trained models record as data_sha256
    assert json.loads(json.dumps(ref)) == load_reference(tmp_path / "ws")


def test_schema_fingerprint_changes_with_the_schema_not_the_rows(catalogue_dir, tmp_path):
    a = ingest(catalogue_dir, tmp_path / "a")["tables"]["interactions"]
    copy = tmp_path / "copy"
    shutil.copytree(catalogue_dir, copy)
    table = pq.read_table(copy / "interactions.parquet")
    pq.write_table(table.slice(0, 100), copy / "interactions.parquet")
    b = ingest(copy, tmp_path / "b")["tables"]["interactions"]
    pq.write_table(table.drop_columns(["ts"]), copy / "interactions.parquet")
    c = ingest(copy, tmp_path / "c")["tables"]["interactions"]
    assert a["schema_sha256"] == b["schema_sha256"] != c["schema_sha256"]
    assert a["sha256"] != b["sha256"] and b["rows"] == 100


def test_s3_ingest_matches_local_ingest_and_validates(s3_endpoint, s3_bucket, catalogue_dir, requests_dir, tmp_path):
    client, bucket = s3_bucket
    upload(client, bucket, "exports/2026-01-01/data", catalogue_dir)
    upload(client, bucket, "exports/2026-01-01/requests", requests_dir)
    remote = ingest(
        f"s3://{bucket}/exports/2026-01-01/data", tmp_path / "s3", f"s3://{bucket}/exports/2026-01-01/requests", endpoint_url=s3_endpoint
    )
    local = ingest(catalogue_dir, tmp_path / "local", requests_dir)
    assert {n: t["sha256"] for n, t in remote["tables"].items()} == {n: t["sha256"] for n, t in local["tables"].items()}
    assert remote["tables"]["interactions"]["uri"] == f"s3://{bucket}/exports/2026-01-01/data/interactions.parquet"
    assert remote["data"]["sha256"] == local["data"]["sha256"]
    assert validate(tmp_path / "s3", cutoff=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc))["success"]


def test_s3_endpoint_from_the_environment(s3_endpoint, s3_bucket, catalogue_dir, tmp_path, monkeypatch):
    client, bucket = s3_bucket
    upload(client, bucket, "data", catalogue_dir)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    assert ingest(f"s3://{bucket}/data", tmp_path / "ws")["tables"]["interactions"]["rows"] > 0


def test_s3_missing_bucket_is_a_user_error_naming_it(s3_endpoint, tmp_path, capsys):
    from tasks.cli import main

    with pytest.raises(MissingBucket, match=r"listing s3://no-such-bucket/data: no such bucket"):
        ingest("s3://no-such-bucket/data", tmp_path / "ws", endpoint_url=s3_endpoint)
    assert not (tmp_path / "ws" / "inputs").exists() and issubclass(MissingBucket, UserError)  # exit 2, no retry
    assert main(["-q", "validate", "--data", "s3://no-such-bucket/data", "--endpoint-url", s3_endpoint, "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s3://no-such-bucket/data: no such bucket" in err


def test_s3_corrupt_object_is_refused_and_leaves_no_snapshot(s3_endpoint, s3_bucket, catalogue_dir, tmp_path):
    client, bucket = s3_bucket
    upload(client, bucket, "data", catalogue_dir)
    client.put_object(Bucket=bucket, Key="data/item_features/image.parquet", Body=b"PAR1 this is not parquet")
    with pytest.raises(
        ContractError, match=r"item_features/image: s3://.*/data/item_features/image.parquet is not a readable Parquet file"
    ):
        ingest(f"s3://{bucket}/data", tmp_path / "ws", endpoint_url=s3_endpoint)
    assert not (tmp_path / "ws" / "inputs").exists()


def test_s3_prefix_without_interactions_names_the_missing_table(s3_endpoint, s3_bucket, tmp_path):
    _, bucket = s3_bucket
    with pytest.raises(ContractError, match=r"interactions: s3://.*/empty/interactions.parquet does not exist"):
        ingest(f"s3://{bucket}/empty", tmp_path / "ws", endpoint_url=s3_endpoint)


def test_rerun_replaces_the_snapshot_and_a_failed_rerun_keeps_the_old_one(catalogue_dir, tmp_path):
    ingest(catalogue_dir, tmp_path / "ws")
    before = load_reference(tmp_path / "ws")
    with pytest.raises(UserError):
        ingest(tmp_path / "missing", tmp_path / "ws")
    assert load_reference(tmp_path / "ws") == before
