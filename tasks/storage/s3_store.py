"""``S3Store``: an artifact store on ``s3://bucket/prefix`` through boto3 (see :mod:`tasks.storage.store` for the contract)."""

from __future__ import annotations

import base64
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, FlexibleChecksumError

from tasks.storage.objects import AlreadyExists, ChecksumMismatch, Conflict, Retention, StoreMissing, _sha256_stream, _Store, checked_key
from tasks.storage.s3 import StorageError, list_keys, s3_client, split_s3_uri, storage_errors


@contextmanager
def _reading(uri: str) -> Iterator[None]:
    """:func:`storage_errors` for reads, where botocore's own response-checksum check means corrupted bytes."""
    try:
        with storage_errors(f"reading {uri}"):
            yield
    except RuntimeError as exc:
        if isinstance(exc.__cause__, FlexibleChecksumError):
            raise ChecksumMismatch(f"{uri}: the stored bytes do not match the checksum recorded at upload ({exc.__cause__})") from exc
        raise


class S3Store(_Store):
    """``s3://bucket/prefix`` through boto3."""

    def __init__(self, uri: str, endpoint_url: str | None = None, multipart_mb: int = 64, client=None):
        self.bucket, self.prefix = split_s3_uri(uri)
        self.client = client or s3_client(endpoint_url)
        self.transfer = TransferConfig(multipart_threshold=multipart_mb << 20, multipart_chunksize=max(5, multipart_mb // 4) << 20)
        try:
            with storage_errors(f"opening s3://{self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except StorageError as exc:  # a bucket that is not there is the user's to fix, not a retry's
            code = exc.__cause__.response.get("Error", {}).get("Code") if isinstance(exc.__cause__, ClientError) else None
            if code == "404":  # HEAD has no body: S3 answers a missing bucket with its status alone
                raise StoreMissing(f"s3://{self.bucket}: no such bucket") from exc
            raise
        self.lock_enabled = self._lock_enabled()

    def _lock_enabled(self) -> bool:
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ObjectLockConfigurationNotFoundError", "NotImplemented"):
                return False
            raise
        return config.get("ObjectLockEnabled") == "Enabled"

    def _key(self, key: str) -> str:
        checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key)}" if key else f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _lock_args(self, retain: Retention | None) -> dict:
        if retain is None or not self.lock_enabled:
            return {}
        return {"ObjectLockMode": retain.mode, "ObjectLockRetainUntilDate": retain.until()}

    def put_bytes(
        self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        digest = hashlib.sha256(data)
        args = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(digest.digest()).decode(),
            **self._lock_args(retain),
        }
        if if_absent:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = if_match
        with storage_errors(f"writing {self.uri(key)}"):
            try:
                self.client.put_object(**args)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if if_absent and code == "PreconditionFailed":
                    raise AlreadyExists(f"{self.uri(key)} already exists") from None
                if if_match is not None and code in ("PreconditionFailed", "NoSuchKey", "ConditionalRequestConflict"):
                    raise Conflict(f"{self.uri(key)} changed since it was read") from None
                raise
        return self._verify(key, digest.hexdigest())

    def put_file(self, key: str, path: str | Path, *, retain: Retention | None = None) -> str:
        with open(path, "rb") as f:
            expected = _sha256_stream(f.read)
        extra = {"ChecksumAlgorithm": "SHA256", **self._lock_args(retain)}
        with storage_errors(f"uploading {path} to {self.uri(key)}"):
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer)
        return self._verify(key, expected)

    def get_bytes(self, key: str) -> bytes:
        with _reading(self.uri(key)):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{self.uri(key)} does not exist") from None
                raise

    def get_file(self, key: str, path: str | Path) -> None:
        """Download ``key`` into the file ``path`` (streamed; multipart above ``multipart_mb``)."""
        with _reading(self.uri(key)):
            try:
                self.client.download_file(self.bucket, self._key(key), str(path), Config=self.transfer)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{self.uri(key)} does not exist") from None
                raise

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """``(bytes, ETag)`` for a later ``put_bytes(..., if_match=ETag)``, or None when absent."""
        with _reading(self.uri(key)):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return response["Body"].read(), response["ETag"]

    def sha256_of(self, key: str) -> str | None:
        """sha256 of the stored bytes (read back in full), or None when the object is absent."""
        with _reading(self.uri(key)):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            try:
                return _sha256_stream(body.read)
            finally:
                body.close()

    def list(self, prefix: str) -> list[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        base = self._key(prefix) if prefix else self.prefix
        with storage_errors(f"listing {self.uri(prefix)}"):
            return sorted(k[start:] for k in list_keys(self.client, self.bucket, base))

    def delete_prefix(self, prefix: str) -> list[str]:
        """Every version of every object under ``prefix`` is deleted (on a versioned bucket a plain delete would only
        hide the bytes behind a delete marker)."""
        base = f"{self._key(prefix)}/"
        start = len(self.prefix) + 1 if self.prefix else 0
        deleted: set[str] = set()
        with storage_errors(f"deleting {self.uri(prefix)}"):
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=base):
                targets = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if targets:
                    answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": targets, "Quiet": True})
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise StorageError(f"deleting {first['Key']}: {first.get('Code')} ({first.get('Message')})")
                    deleted.update(t["Key"][start:] for t in targets)
        return sorted(deleted)
