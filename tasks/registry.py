"""Reading the model registry of a store: which version ``CURRENT`` names, and fetching a version.

Layout (see :mod:`tasks.publish`): ``models/<name>/<version>/`` holds a complete version once its
``manifest.json`` is there; ``models/<name>/CURRENT`` is JSON naming the promoted version and the
sha256 of its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from tasks.catalogue import replacing_folder
from tasks.store import ChecksumMismatch


def current_pointer(store, name: str) -> dict | None:
    """``models/<name>/CURRENT`` as a dict (``version``, ``manifest_sha256``, ``run_id``, ...), or None."""
    key = f"models/{name}/CURRENT"
    return json.loads(store.get_bytes(key)) if store.sha256_of(key) else None


def current_version(store, name: str) -> str | None:
    """The version ``models/<name>/CURRENT`` names, or None before the first promotion."""
    pointer = current_pointer(store, name)
    return pointer["version"] if pointer else None


def fetch_version(store, name: str, version: str, dest: str | Path, manifest_sha256: str | None = None) -> dict:
    """Download version ``version`` of ``name`` into ``dest`` (a model directory, replaced on success).

    The version must be complete (its manifest present) and, when ``manifest_sha256`` is given,
    its manifest must have that hash; the other files are checked against the manifest when the
    model is loaded. Returns ``{"version", "model_dir"}``.
    """
    from mmrecun_core.checkpoint import sha256_file

    base = f"models/{name}/{version}/"
    keys = store.list(base.rstrip("/"))
    if f"{base}manifest.json" not in keys:
        raise FileNotFoundError(f"{store.uri(base)} has no manifest.json: the version is missing or incomplete")
    with replacing_folder(dest) as tmp:
        for key in keys:
            target = tmp / key[len(base):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get_bytes(key))
        if manifest_sha256 is not None and sha256_file(tmp / "manifest.json") != manifest_sha256:
            raise ChecksumMismatch(f"{store.uri(base)}manifest.json differs from the sha256 CURRENT recorded")
    return {"version": version, "model_dir": str(dest)}


def fetch_current(store, name: str, dest: str | Path) -> dict | None:
    """Download the CURRENT version of ``name`` into ``dest``; None when nothing is promoted yet.

    Returns ``{"version", "model_dir", "run_id"}``.
    """
    pointer = current_pointer(store, name)
    if pointer is None:
        return None
    return {**fetch_version(store, name, pointer["version"], dest, pointer["manifest_sha256"]), "run_id": pointer.get("run_id")}
