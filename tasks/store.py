"""The artifact store: one small interface over a local folder (the embedded default) and S3.

Keys are ``/``-separated paths under the store's root (DESIGN.md "Storage layout"):
``models/<name>/<version>/...``, ``models/<name>/CURRENT``, ``reports/<run_id>/...``, ``ledger/...``.
Every write is verified by reading the object back and comparing its sha256 with the local one
(S3 uploads also send ``ChecksumSHA256``, which S3 checks on arrival; the read-back also covers
endpoints that do not). A mismatch raises :class:`ChecksumMismatch`.

``S3Store``: ``s3://bucket/prefix``; endpoint, region and credentials from the arguments or
boto3's environment; multipart uploads above ``multipart_mb``; botocore's standard retry mode
(exponential backoff on throttling, 5xx and connection errors); on a bucket with Object Lock,
writes asked to be retained carry the configured mode and retain-until date.
``LocalStore``: a folder; writes go to a temporary file renamed into place; retention is
recorded by making the file read-only (a folder cannot enforce it; say so in reports).

Keys are checked by :func:`checked_key` before any backend sees them: a key built from a run id,
a model name or a listing can never name a place outside the store's root or prefix.
Conditional writes (``if_absent``; ``if_match`` a tag from :meth:`get_tagged`) are what the
store enforces: S3's ``If-None-Match: *`` / ``If-Match: <ETag>``, and for a folder a hard link
(create-if-absent) or an exclusive ``flock`` around compare-and-rename (one host).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tasks.s3 import StorageError, is_s3_uri, list_keys, s3_client, split_s3_uri, storage_errors

CHUNK = 8 << 20


class ChecksumMismatch(RuntimeError):
    """An object's bytes in the store differ from what was written or recorded."""


class Conflict(RuntimeError):
    """A conditional write lost: the object is not in the state the writer expected."""


class AlreadyExists(Conflict):
    """A write asked to create an object that is already there."""


class BadKey(ValueError):
    """A key that could name something outside the store (``..``, an absolute path, an empty part, a control byte)."""


class StoreMissing(FileNotFoundError):
    """A store that should exist (read-only commands never create one) is not there."""


_KEY_PART = re.compile(r"[^\x00-\x1f\x7f\\]+")


def checked_key(key: str) -> str:
    """``key`` when every ``/``-separated part is a plain name; else :class:`BadKey`.

    Refused: an empty key or part (``a//b``, a leading or trailing ``/``), ``.`` or ``..``, a backslash,
    a control byte. A key that passes can be joined to a folder or prefix without leaving it.
    """
    parts = str(key).split("/")
    if not key or any(p in ("", ".", "..") or not _KEY_PART.fullmatch(p) for p in parts):
        raise BadKey(f"store key {key!r} is not a plain relative path (empty part, '.', '..', backslash or control byte)")
    return key


@dataclass(frozen=True)
class Retention:
    """Object Lock retention for reports and ledger entries: ``mode`` GOVERNANCE or COMPLIANCE, for ``days``."""

    mode: str = "GOVERNANCE"
    days: int = 365

    def __post_init__(self) -> None:
        if self.mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError(f"Object Lock mode must be GOVERNANCE or COMPLIANCE, got {self.mode!r}")
        if self.days < 1:
            raise ValueError(f"retention days must be >= 1, got {self.days}")

    def until(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=self.days)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Retention | None":
        """The retention a pipeline deployment configures: ``MMRECUN_LOCK_MODE`` (GOVERNANCE, the default, COMPLIANCE,
        or ``off``) and ``MMRECUN_LOCK_DAYS`` (default 365). Returns None for ``off``; raises ValueError naming the
        variable for anything else."""
        mode = (environ.get("MMRECUN_LOCK_MODE", "").strip() or cls.mode).upper()  # set but blank = unset
        if mode == "OFF":
            return None
        days = environ.get("MMRECUN_LOCK_DAYS", "").strip() or str(cls.days)
        if not days.isdigit():
            raise ValueError(f"MMRECUN_LOCK_DAYS must be a whole number of days, got {days!r}")
        try:
            return cls(mode, int(days))
        except ValueError as error:
            raise ValueError(f"MMRECUN_LOCK_MODE / MMRECUN_LOCK_DAYS: {error}") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_stream(read) -> str:
    digest = hashlib.sha256()
    while chunk := read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _reading(uri: str) -> Iterator[None]:
    """:func:`storage_errors` for reads, where botocore's own response-checksum check means corrupted bytes."""
    from botocore.exceptions import FlexibleChecksumError

    try:
        with storage_errors(f"reading {uri}"):
            yield
    except RuntimeError as exc:
        if isinstance(exc.__cause__, FlexibleChecksumError):
            raise ChecksumMismatch(f"{uri}: the stored bytes do not match the checksum recorded at upload ({exc.__cause__})") from exc
        raise


class _Store:
    """What both backends share: a write is checked by hashing what the store now holds."""

    def uri(self, key: str = "") -> str:
        raise NotImplementedError

    def sha256_of(self, key: str) -> str | None:
        raise NotImplementedError

    def _verify(self, key: str, expected: str) -> str:
        found = self.sha256_of(key)
        if found != expected:
            raise ChecksumMismatch(f"{self.uri(key)}: stored sha256 {found} differs from the written {expected}")
        return expected

    def delete_prefix(self, prefix: str) -> list[str]:
        """Delete every object under ``prefix`` (all stored versions of each); return the keys deleted."""
        raise NotImplementedError


class LocalStore(_Store):
    """A folder as an artifact store. ``create=False``: the folder must exist (:class:`StoreMissing` otherwise)."""

    lock_enabled = False

    def __init__(self, root: str | Path, create: bool = True):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreMissing(f"store {self.root} is a file, not a folder")
        if not create and not self.root.is_dir():
            raise StoreMissing(f"store {self.root} does not exist")
        self.root.mkdir(parents=True, exist_ok=True)

    def uri(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """An exclusive lock on ``path``'s compare-and-swap (a lock file beside it; one host)."""
        with open(path.with_name(f".{path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, key: str, data: bytes, retain: Retention | None, if_absent: bool, if_match: str | None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if retain:
            os.chmod(tmp, 0o444)
        if if_absent:
            try:
                os.link(tmp, path)  # atomic create-if-absent
            except FileExistsError:
                raise AlreadyExists(f"{self.uri(key)} already exists") from None
            finally:
                os.unlink(tmp)
        elif if_match is not None:
            with self._locked(path):
                if self.sha256_of(key) != if_match:
                    os.unlink(tmp)
                    raise Conflict(f"{self.uri(key)} changed since it was read")
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)

    def put_bytes(self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False,
                  if_match: str | None = None) -> str:
        self._write(key, data, retain, if_absent, if_match)
        return self._verify(key, sha256_bytes(data))

    def put_file(self, key: str, path: str | Path, *, retain: Retention | None = None) -> str:
        return self.put_bytes(key, Path(path).read_bytes(), retain=retain)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        return path.read_bytes()

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """``(bytes, tag)`` for a later ``put_bytes(..., if_match=tag)``, or None when absent (tag: the sha256)."""
        path = self._path(key)
        if not path.is_file():
            return None
        data = path.read_bytes()
        return data, sha256_bytes(data)

    def sha256_of(self, key: str) -> str | None:
        path = self._path(key)
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return _sha256_stream(f.read)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))

    def delete_prefix(self, prefix: str) -> list[str]:
        keys = self.list(prefix)
        for key in keys:
            path = self._path(key)
            path.chmod(0o644)  # a retained (read-only) file is still the folder's to delete
            path.unlink()
        return keys


class S3Store(_Store):
    """``s3://bucket/prefix`` through boto3."""

    def __init__(self, uri: str, endpoint_url: str | None = None, multipart_mb: int = 64, client=None):
        from boto3.s3.transfer import TransferConfig

        self.bucket, self.prefix = split_s3_uri(uri)
        self.client = client or s3_client(endpoint_url)
        self.transfer = TransferConfig(multipart_threshold=multipart_mb << 20, multipart_chunksize=max(5, multipart_mb // 4) << 20)
        with storage_errors(f"opening s3://{self.bucket}"):
            self.client.head_bucket(Bucket=self.bucket)
        self.lock_enabled = self._lock_enabled()

    def _lock_enabled(self) -> bool:
        from botocore.exceptions import ClientError

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

    def put_bytes(self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False,
                  if_match: str | None = None) -> str:
        import base64

        from botocore.exceptions import ClientError

        digest = hashlib.sha256(data)
        args = {"Bucket": self.bucket, "Key": self._key(key), "Body": data, "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": base64.b64encode(digest.digest()).decode(), **self._lock_args(retain)}
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
        from botocore.exceptions import ClientError

        with _reading(self.uri(key)):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{self.uri(key)} does not exist") from None
                raise

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """``(bytes, ETag)`` for a later ``put_bytes(..., if_match=ETag)``, or None when absent."""
        from botocore.exceptions import ClientError

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
        from botocore.exceptions import ClientError

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
                targets = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                           for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if targets:
                    answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": targets, "Quiet": True})
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise StorageError(f"deleting {first['Key']}: {first.get('Code')} ({first.get('Message')})")
                    deleted.update(t["Key"][start:] for t in targets)
        return sorted(deleted)


def open_store(uri: str | Path, endpoint_url: str | None = None, create: bool = True) -> LocalStore | S3Store:
    """``s3://bucket/prefix`` -> :class:`S3Store`; anything else is a local folder (made when absent unless
    ``create`` is false: commands that only read a store must not invent an empty one)."""
    return S3Store(str(uri), endpoint_url) if is_s3_uri(str(uri)) else LocalStore(uri, create=create)
