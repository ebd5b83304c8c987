"""The artifact store, local and S3 (boto3 against moto's server mode over HTTP on loopback)."""

from __future__ import annotations

import hashlib
import os

import pytest

from tasks.storage.store import AlreadyExists, ChecksumMismatch, LocalStore, Retention, S3Store, open_store


def test_put_get_list_and_hash(store, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(os.urandom(3000))
    sha = store.put_file("models/m/v1/model.pt", path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest() == store.sha256_of("models/m/v1/model.pt")
    store.put_bytes("models/m/v1/manifest.json", b"{}")
    assert store.list("models/m") == ["models/m/v1/manifest.json", "models/m/v1/model.pt"]
    assert store.get_bytes("models/m/v1/manifest.json") == b"{}" and store.sha256_of("models/m/v2/x") is None
    with pytest.raises(FileNotFoundError, match="models/m/v2/x does not exist"):
        store.get_bytes("models/m/v2/x")


def test_create_if_absent_refuses_a_second_writer(store):
    store.put_bytes("ledger/00000001.json", b"a", if_absent=True)
    with pytest.raises(AlreadyExists):
        store.put_bytes("ledger/00000001.json", b"b", if_absent=True)
    assert store.get_bytes("ledger/00000001.json") == b"a"


def test_multipart_upload_is_verified(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    store = S3Store(f"s3://{bucket}", client=client, multipart_mb=5)
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(12 << 20))  # three parts of 5 MiB at most
    assert store.put_file("models/m/v1/model.pt", path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_corruption_between_client_and_store_is_detected(s3_bucket, tmp_path):
    """An endpoint that stores other bytes than were sent (and does not check the checksum) is caught by the read-back."""
    client, bucket = s3_bucket
    store = S3Store(f"s3://{bucket}", client=client)

    def corrupt(request, **_):
        if request.method == "PUT" and request.body:
            body = request.body.read() if hasattr(request.body, "read") else request.body
            request.body = bytes(body[:-1]) + bytes([body[-1] ^ 0xFF])

    client.meta.events.register("before-send.s3.PutObject", corrupt)
    try:
        with pytest.raises(
            ChecksumMismatch, match=r"s3://.*/reports/r1/report.json: (stored sha256 .* differs|the stored bytes do not match)"
        ):
            store.put_bytes("reports/r1/report.json", b'{"status": "PASSED"}')
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", corrupt)


def test_object_lock_retention_on_a_lock_enabled_bucket(s3_endpoint):
    import datetime as dt

    from tasks.storage.s3 import s3_client

    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="locked-audit", ObjectLockEnabledForBucket=True)
    store = S3Store("s3://locked-audit", client=client)
    assert store.lock_enabled
    store.put_bytes("ledger/00000001.json", b"entry", retain=Retention("GOVERNANCE", 30))
    head = client.head_object(Bucket="locked-audit", Key="ledger/00000001.json")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    days = (head["ObjectLockRetainUntilDate"] - dt.datetime.now(dt.timezone.utc)).days
    assert 28 <= days <= 30
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket="locked-audit", Key="ledger/00000001.json", VersionId=head["VersionId"])
    store.put_bytes("models/m/v1/model.pt", b"weights")  # no retention asked: none set
    assert "ObjectLockMode" not in client.head_object(Bucket="locked-audit", Key="models/m/v1/model.pt")


def test_retention_is_ignored_where_the_bucket_has_no_lock(s3_bucket):
    client, bucket = s3_bucket
    store = S3Store(f"s3://{bucket}", client=client)
    assert not store.lock_enabled
    store.put_bytes("reports/r/report.json", b"{}", retain=Retention())
    assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key="reports/r/report.json")


def test_open_store_picks_the_backend(tmp_path, s3_endpoint, s3_bucket):
    assert isinstance(open_store(tmp_path / "s"), LocalStore)
    assert isinstance(open_store(f"s3://{s3_bucket[1]}/p", endpoint_url=s3_endpoint), S3Store)
    with pytest.raises(ValueError, match="COMPLIANCE"):
        Retention("FOREVER", 1)


@pytest.mark.parametrize(
    "environ,expected",
    [
        ({}, Retention("GOVERNANCE", 365)),
        ({"MMRECUN_LOCK_MODE": "compliance", "MMRECUN_LOCK_DAYS": "2555"}, Retention("COMPLIANCE", 2555)),
        ({"MMRECUN_LOCK_MODE": "off", "MMRECUN_LOCK_DAYS": "x"}, None),
        ({"MMRECUN_LOCK_MODE": "", "MMRECUN_LOCK_DAYS": " "}, Retention("GOVERNANCE", 365)),  # blank env_file lines
    ],
)
def test_retention_from_the_deployment_environment(environ, expected):
    assert Retention.from_env(environ) == expected


@pytest.mark.parametrize(
    "environ,message",
    [
        ({"MMRECUN_LOCK_MODE": "FOREVER"}, "MMRECUN_LOCK_MODE.*GOVERNANCE or COMPLIANCE"),
        ({"MMRECUN_LOCK_DAYS": "ten"}, "MMRECUN_LOCK_DAYS must be a whole number"),
        ({"MMRECUN_LOCK_DAYS": "0"}, "retention days must be >= 1"),
    ],
)
def test_bad_retention_settings_name_the_variable(environ, message):
    with pytest.raises(ValueError, match=message):
        Retention.from_env(environ)
