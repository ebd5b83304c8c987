"""What every store shares: its errors, the key rule, Object Lock retention, sha256 helpers and the base class.

The backends are :class:`tasks.storage.store.LocalStore` (a folder) and :class:`tasks.storage.s3_store.S3Store`;
:func:`tasks.storage.store.open_store` picks one for a location.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass

from schemas.errors import BadParameter, PathError, StoreConflict

CHUNK = 8 << 20


class ChecksumMismatch(RuntimeError):
    """An object's bytes in the store differ from what was written or recorded."""


class Conflict(RuntimeError):
    """A conditional write lost: the object is not in the state the writer expected."""


class PublishError(StoreConflict, RuntimeError):
    """The store holds something that contradicts a run being published (e.g. the same key with other bytes): a retry
    would meet it again, so a person must look."""


class AlreadyExists(Conflict):
    """A write asked to create an object that is already there."""


class BadKey(PathError):
    """A key that could name something outside the store (``..``, an absolute path, an empty part, a control byte)."""


class StoreMissing(PathError, FileNotFoundError):
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
            raise BadParameter(f"Object Lock mode must be GOVERNANCE or COMPLIANCE, got {self.mode!r}")
        if self.days < 1:
            raise BadParameter(f"retention days must be >= 1, got {self.days}")

    def until(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=self.days)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Retention | None":
        """The retention a pipeline deployment configures: ``MMRECUN_LOCK_MODE`` (GOVERNANCE, the default, COMPLIANCE,
        or ``off``) and ``MMRECUN_LOCK_DAYS`` (default 365). Returns None for ``off``; raises
        :class:`~schemas.errors.BadParameter` naming the variable for anything else."""
        mode = (environ.get("MMRECUN_LOCK_MODE", "").strip() or cls.mode).upper()  # set but blank = unset
        if mode == "OFF":
            return None
        days = environ.get("MMRECUN_LOCK_DAYS", "").strip() or str(cls.days)
        if not days.isdigit():
            raise BadParameter(f"MMRECUN_LOCK_DAYS must be a whole number of days, got {days!r}")
        try:
            return cls(mode, int(days))
        except ValueError as error:
            raise BadParameter(f"MMRECUN_LOCK_MODE / MMRECUN_LOCK_DAYS: {error}") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_stream(read) -> str:
    digest = hashlib.sha256()
    while chunk := read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


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
