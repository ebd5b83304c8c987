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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tasks.s3 import is_s3_uri, list_keys, s3_client, split_s3_uri, storage_errors

CHUNK = 8 << 20


class ChecksumMismatch(RuntimeError):
    """An object's bytes in the store differ from what was written or recorded."""


class AlreadyExists(RuntimeError):
    """A write asked to create an object that is already there."""


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


class LocalStore(_Store):
    """A folder as an artifact store."""

    lock_enabled = False

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def uri(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def _write(self, key: str, data: bytes, retain: Retention | None, if_absent: bool) -> None:
        path = self.root / key
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
        else:
            os.replace(tmp, path)

    def put_bytes(self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False) -> str:
        self._write(key, data, retain, if_absent)
        return self._verify(key, sha256_bytes(data))

    def put_file(self, key: str, path: str | Path, *, retain: Retention | None = None) -> str:
        return self.put_bytes(key, Path(path).read_bytes(), retain=retain)

    def get_bytes(self, key: str) -> bytes:
        path = self.root / key
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        return path.read_bytes()

    def sha256_of(self, key: str) -> str | None:
        path = self.root / key
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return _sha256_stream(f.read)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))


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
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key)}" if key else f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _lock_args(self, retain: Retention | None) -> dict:
        if retain is None or not self.lock_enabled:
            return {}
        return {"ObjectLockMode": retain.mode, "ObjectLockRetainUntilDate": retain.until()}

    def put_bytes(self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False) -> str:
        import base64

        from botocore.exceptions import ClientError

        digest = hashlib.sha256(data)
        args = {"Bucket": self.bucket, "Key": self._key(key), "Body": data, "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": base64.b64encode(digest.digest()).decode(), **self._lock_args(retain)}
        if if_absent:
            args["IfNoneMatch"] = "*"
        with storage_errors(f"writing {self.uri(key)}"):
            try:
                self.client.put_object(**args)
            except ClientError as exc:
                if if_absent and exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                    raise AlreadyExists(f"{self.uri(key)} already exists") from None
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
        with storage_errors(f"listing {self.uri(prefix)}"):
            return sorted(k[start:] for k in list_keys(self.client, self.bucket, self._key(prefix).rstrip("/")))


def open_store(uri: str | Path, endpoint_url: str | None = None) -> LocalStore | S3Store:
    """``s3://bucket/prefix`` -> :class:`S3Store`; anything else is a local folder."""
    return S3Store(str(uri), endpoint_url) if is_s3_uri(str(uri)) else LocalStore(uri)
