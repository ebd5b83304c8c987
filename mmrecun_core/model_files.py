"""A model directory's files and their checksums: what the catalogue, the publisher and the model loader verify.

Kept apart from :mod:`mmrecun_core.checkpoint` (which reads and writes the weights) so that verifying files and
hashing inputs does not import torch: the validation step hashes its inputs and loads no model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

FILES = ("model.pt", "config.json", "id_maps.json", "manifest.json")


class CheckpointError(ValueError):
    """A model directory that is missing, incomplete or inconsistent."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(model_dir: str | Path, manifest: dict) -> None:
    """Check that ``manifest["files"]`` lists every required file and that each listed file has its sha256.

    Raises :class:`CheckpointError`: a manifest without its file list cannot switch the check off.
    """
    path = Path(model_dir)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise CheckpointError(f"{path}/manifest.json has no 'files' list: the model cannot be verified")
    unlisted = [f for f in FILES[:-1] if f not in files]
    if unlisted:
        raise CheckpointError(f"{path}/manifest.json does not list {', '.join(unlisted)}: the model cannot be verified")
    for name, expected in files.items():
        if Path(name).name != name or not (path / name).is_file():
            raise CheckpointError(f"{path}/manifest.json lists {name!r}, which is not a file of the model directory")
        actual = sha256_file(path / name)
        if actual != expected:
            raise CheckpointError(f"{path / name}: sha256 {actual[:12]}... does not match the manifest ({str(expected)[:12]}...)")
