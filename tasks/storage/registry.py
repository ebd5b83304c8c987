"""The model registry of a store: versions, the ``CURRENT`` pointer, promotion, purges and rollback.

Layout (see :mod:`tasks.storage.publish`): ``models/<name>/<version>/`` holds a complete version once its
``manifest.json`` is there, or only ``TOMBSTONE.json`` once it has been purged;
``models/<name>/CURRENT`` is JSON naming the promoted version and the sha256 of its manifest.

Lineage rule: ``CURRENT`` moves by compare-and-swap only, from the version the run started from,
and only to a version whose applied requests include every request the version it replaces
applied. Neither a race between two runs nor a rollback can bring back what a version forgot.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from schemas.errors import MissingParent, StoreConflict, UserError
from tasks.paths import replacing_folder
from tasks.storage import ledger
from tasks.storage.store import ChecksumMismatch, Conflict, sha256_bytes

MANIFEST, TOMBSTONE = "manifest.json", "TOMBSTONE.json"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class LineageError(UserError, ValueError):
    """A promotion or rollback that would serve a version missing requests ``CURRENT`` applied."""


class NoParent(MissingParent, FileNotFoundError):
    """An unlearn run found no version to start from: none is promoted (train one first), or the one it names is
    purged or incomplete."""


class Superseded(Conflict, StoreConflict):
    """``CURRENT`` no longer names the version a run started from: another run promoted first (``current``)."""

    def __init__(self, message: str, current: str | None = None):
        super().__init__(message)
        self.current = current


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second: the time stamps of registry and ledger records."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def pointer_key(name: str) -> str:
    return f"models/{name}/CURRENT"


def read_pointer(store, name: str) -> tuple[dict | None, str | None]:
    """``(CURRENT as a dict, its tag)``; ``(None, None)`` before the first promotion."""
    found = store.get_tagged(pointer_key(name))
    return (None, None) if found is None else (json.loads(found[0]), found[1])


def current_pointer(store, name: str) -> dict | None:
    """``models/<name>/CURRENT`` as a dict (``version``, ``manifest_sha256``, ``run_id``, ...), or None."""
    return read_pointer(store, name)[0]


def current_version(store, name: str) -> str | None:
    """The version ``models/<name>/CURRENT`` names, or None before the first promotion."""
    pointer = current_pointer(store, name)
    return pointer["version"] if pointer else None


def versions(store, name: str) -> list[str]:
    """Every version folder of ``name`` in the store (complete, incomplete or tombstoned), sorted."""
    base = f"models/{name}/"
    return sorted({k[len(base) :].split("/", 1)[0] for k in store.list(f"models/{name}") if k.count("/") >= 3})


def version_manifest(store, name: str, version: str) -> dict | None:
    """The manifest of a complete version, or None (absent, incomplete or purged)."""
    key = f"models/{name}/{version}/{MANIFEST}"
    return json.loads(store.get_bytes(key)) if store.sha256_of(key) else None


def applied(manifest: dict | None) -> set[str]:
    """The requests a version applied (its manifest's ``requests_applied``; none for a base model)."""
    return set((manifest or {}).get("requests_applied", []))


def check_lineage(new_applied: set[str], old_manifest: dict | None, what: str) -> None:
    """Raise :class:`LineageError` when ``new_applied`` lacks a request the replaced version applied."""
    lost = applied(old_manifest) - new_applied
    if lost:
        raise LineageError(
            f"{what} would drop {len(lost)} request(s) the version it replaces applied "
            f"(e.g. {sorted(lost)[:3]}): their data would be served again"
        )


def promote(store, name: str, version: str, manifest_sha256: str, run_id: str, expected: str | None, tag: str | None, **facts) -> dict:
    """Move ``CURRENT`` to ``version`` if it still holds what was read as ``(expected version, tag)``.

    The store enforces the condition (S3 ``If-Match`` on the pointer's ETag, ``If-None-Match: *`` for the
    first promotion; a locked compare-and-rename for a folder). Raises :class:`Superseded` naming both
    versions when another writer moved it first. Returns the new pointer.
    """
    pointer = {
        "version": version,
        "manifest_sha256": manifest_sha256,
        "run_id": run_id,
        "previous": expected,
        "updated_at": utc_now(),
        **facts,
    }
    data = json.dumps(pointer, indent=2).encode()
    try:
        if tag is None:
            store.put_bytes(pointer_key(name), data, if_absent=True)
        else:
            store.put_bytes(pointer_key(name), data, if_match=tag)
    except Conflict:
        now = current_version(store, name)
        raise Superseded(
            f"CURRENT of {name!r} moved to {now!r} while this run made {version!r} from {expected!r}: "
            f"{version!r} is superseded; a new run applies its requests to {now!r}",
            now,
        ) from None
    return pointer


def tombstone(store, name: str, version: str, reason: str, by_run: str) -> dict:
    """Delete every object of ``version`` and leave ``TOMBSTONE.json`` (its files' hashes, when and why).

    Returns the tombstone; a version that is already a tombstone is returned as it is.
    """
    base = f"models/{name}/{version}"
    key = f"{base}/{TOMBSTONE}"
    if store.sha256_of(key):
        return json.loads(store.get_bytes(key))
    manifest = version_manifest(store, name, version)
    files = {k[len(base) + 1 :]: store.sha256_of(k) for k in store.list(base)}
    stone = {
        "model": name,
        "version": version,
        "purged_at": utc_now(),
        "reason": reason,
        "purged_by_run": by_run,
        "files_sha256": files,
        "requests_applied": len(applied(manifest)),
        "manifest_sha256": files.get(MANIFEST),
    }
    store.delete_prefix(base)
    store.put_bytes(key, json.dumps(stone, indent=2, sort_keys=True).encode())
    return stone


def stale_versions(store, name: str, current: str, current_applied: set[str]) -> list[str]:
    """Versions other than ``current`` that still hold data of a request ``current`` applied.

    A version holds such data when it did not apply one of those requests (it was made from data that
    included it). Incomplete versions (no manifest, e.g. an upload cut short) count as holding it.
    """
    out = []
    for version in versions(store, name):
        if version == current or store.sha256_of(f"models/{name}/{version}/{TOMBSTONE}"):
            continue
        if current_applied - applied(version_manifest(store, name, version)):
            out.append(version)
    return out


def rollback(store, name: str, to: str, retain=None) -> dict:
    """Move ``CURRENT`` of ``name`` back to version ``to``; return the ledger entry (kind ``rollback``).

    Only to a complete, unpurged version that applied every request ``CURRENT`` applied
    (:class:`LineageError` otherwise), by compare-and-swap like a promotion.
    """
    pointer, tag = read_pointer(store, name)
    if pointer is None:
        raise LineageError(f"model {name!r} has no CURRENT version in {store.uri()}: nothing to roll back")
    target = version_manifest(store, name, to)
    if target is None:
        raise LineageError(f"{store.uri(f'models/{name}/{to}')} is not a complete version (missing, incomplete or purged)")
    current = version_manifest(store, name, pointer["version"])
    check_lineage(applied(target), current, f"rolling back to {to!r}")
    manifest_sha = store.sha256_of(f"models/{name}/{to}/{MANIFEST}")
    promote(store, name, to, manifest_sha, "rollback", pointer["version"], tag, rollback=True)
    mine, before = ledger.request_names(applied(target)), ledger.request_names(applied(current))
    return ledger.append(
        store,
        {
            "kind": "rollback",
            "model": name,
            "version": to,
            "run_id": f"rollback-{utc_now()}",
            "current_moved": True,
            "replaced_version": pointer["version"],
            "requests_added": sorted(mine - before),
            "requests_applied_sha256": ledger.requests_sha256(mine),
            "requests_applied_count": len(mine),
            "artifacts": {f"models/{name}/{to}/{MANIFEST}": manifest_sha},
            "published_at": utc_now(),
        },
        retain=retain,
    )


def fetch_version(store, name: str, version: str, dest: str | Path, manifest_sha256: str | None = None) -> dict:
    """Download version ``version`` of ``name`` into ``dest`` (a model directory, replaced on success).

    Only the files the manifest lists are fetched, each checked against its sha256, each a plain file
    name (a key or listing crafted in the store cannot place a file outside ``dest``). When
    ``manifest_sha256`` is given the manifest must have that hash. Returns ``{"version", "model_dir"}``.
    """
    base = f"models/{name}/{version}/"
    where = store.uri(f"models/{name}/{version}")
    if store.sha256_of(f"{base}{TOMBSTONE}"):
        raise NoParent(f"{where} was purged (see {TOMBSTONE}); it can no longer be fetched")
    if not store.sha256_of(f"{base}{MANIFEST}"):
        raise NoParent(f"{where} has no {MANIFEST}: the version is missing or incomplete")
    manifest_bytes = store.get_bytes(f"{base}{MANIFEST}")
    if manifest_sha256 is not None and sha256_bytes(manifest_bytes) != manifest_sha256:
        raise ChecksumMismatch(f"{where}/{MANIFEST} differs from the sha256 CURRENT recorded")
    files = json.loads(manifest_bytes).get("files")
    if not isinstance(files, dict) or not files:
        raise ChecksumMismatch(f"{where}/{MANIFEST} lists no files: the version cannot be verified")
    with replacing_folder(dest) as tmp:
        for file, sha in sorted(files.items()):
            if not _FILE_NAME.fullmatch(str(file)) or file == MANIFEST:
                raise ChecksumMismatch(f"{where}/{MANIFEST} lists {file!r}, which is not a plain file name")
            data = store.get_bytes(f"{base}{file}")
            if sha256_bytes(data) != sha:
                raise ChecksumMismatch(f"{where}/{file}: sha256 differs from the manifest's")
            (tmp / file).write_bytes(data)
        (tmp / MANIFEST).write_bytes(manifest_bytes)
    return {"version": version, "model_dir": str(dest)}


def fetch_current(store, name: str, dest: str | Path) -> dict | None:
    """Download the CURRENT version of ``name`` into ``dest``; None when nothing is promoted yet.

    Returns ``{"version", "model_dir", "run_id"}``.
    """
    pointer = current_pointer(store, name)
    if pointer is None:
        return None
    return {**fetch_version(store, name, pointer["version"], dest, pointer["manifest_sha256"]), "run_id": pointer.get("run_id")}
