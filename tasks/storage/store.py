"""The artifact store: one small interface over a local folder (the embedded default) and S3.

Keys are ``/``-separated paths under the store's root (docs/design.md, "The store"):
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

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tasks.storage.objects import (
    AlreadyExists,
    BadKey,
    ChecksumMismatch,
    Conflict,
    Retention,
    StoreMissing,
    _sha256_stream,
    _Store,
    checked_key,
    sha256_bytes,
)
from tasks.storage.s3 import is_s3_uri
from tasks.storage.s3_store import S3Store

__all__ = [
    "AlreadyExists",
    "BadKey",
    "ChecksumMismatch",
    "Conflict",
    "LocalStore",
    "Retention",
    "S3Store",
    "StoreMissing",
    "checked_key",
    "open_store",
    "sha256_bytes",
]


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

    def put_bytes(
        self, key: str, data: bytes, *, retain: Retention | None = None, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        self._write(key, data, retain, if_absent, if_match)
        return self._verify(key, sha256_bytes(data))

    def put_file(self, key: str, path: str | Path, *, retain: Retention | None = None) -> str:
        return self.put_bytes(key, Path(path).read_bytes(), retain=retain)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        return path.read_bytes()

    def get_file(self, key: str, path: str | Path) -> None:
        """Copy ``key`` into the file ``path``."""
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        shutil.copyfile(source, path)

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


def open_store(uri: str | Path, endpoint_url: str | None = None, create: bool = True) -> LocalStore | S3Store:
    """``s3://bucket/prefix`` -> :class:`S3Store`; anything else is a local folder (made when absent unless
    ``create`` is false: commands that only read a store must not invent an empty one)."""
    return S3Store(str(uri), endpoint_url) if is_s3_uri(str(uri)) else LocalStore(uri, create=create)
