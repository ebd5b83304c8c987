"""Where a run's files live between its steps: a local folder (the default) or an object-store prefix.

``MMRECUN_WORKSPACE`` a folder (default ``var/runs``): every step works in ``<folder>/<run>`` in place; the
workers must share that disk (one host, or a mount they all see).

``MMRECUN_WORKSPACE`` ``s3://bucket/prefix``: the workers share no disk, only object storage. Each step stages
what it reads from ``<prefix>/<run>/`` into a fresh scratch folder under ``MMRECUN_SCRATCH`` (default: the
system's temporary folder), runs there, and when it succeeds uploads every file it added or changed (verified
puts), then the run's index ``files.json`` (path -> sha256 of each file of the run). A step downloads only files
the index names and checks each against its sha256, so a retried task starts from what its predecessor
published, never from the outputs of an attempt that died half-way. The scratch folder is removed when the step
ends, whatever its outcome; one left by a process that was killed (its name carries the process id) is removed
by the next step staged on that worker. Steps of one run write one after the other (a step that changes nothing writes no
index), so the index has one writer at a time.

Layout and parts of a run: :mod:`tasks.pipeline.run`; what each step reads: :data:`tasks.pipeline.staging.READS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tasks.pipeline.run import CLEANUP_FILE, PERSONAL_PARTS, RUN_FILE, clean_run, cleaning_due, collect_garbage, version_id
from tasks.storage.objects import ChecksumMismatch
from tasks.storage.s3 import is_s3_uri

INDEX_FILE = "files.json"
SCRATCH_VARIABLE = "MMRECUN_SCRATCH"
ENDPOINT_VARIABLE = "MMRECUN_S3_ENDPOINT"


def open_workspace(location: str | Path, endpoint_url: str | None = None) -> "LocalWorkspace | ObjectWorkspace":
    """``s3://bucket/prefix`` -> :class:`ObjectWorkspace` (endpoint: ``endpoint_url``, else ``MMRECUN_S3_ENDPOINT``,
    else boto3's environment); anything else is a folder (:class:`LocalWorkspace`)."""
    if is_s3_uri(str(location)):
        from tasks.storage.s3_store import S3Store

        return ObjectWorkspace(S3Store(str(location), endpoint_url or os.environ.get(ENDPOINT_VARIABLE) or None))
    return LocalWorkspace(location)


class LocalWorkspace:
    """A folder of run directories, used in place."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def uri(self, run_id: str, path: str = "") -> str:
        run_dir = self.root / version_id(run_id)
        return str(run_dir / path) if path else str(run_dir)

    @contextmanager
    def staged(self, run_id: str, reads: tuple[str, ...] = ()) -> Iterator[Path]:
        """The run directory itself (``reads`` does not matter: everything is there)."""
        yield Path(self.uri(run_id))

    def load_run(self, run_id: str) -> dict | None:
        """The run's ``run.json``, or None when the run has none (its first step failed)."""
        path = Path(self.uri(run_id, RUN_FILE))
        return json.loads(path.read_text()) if path.is_file() else None

    def clean(self, run_id: str, days: int, now: dt.datetime | None = None) -> dict:
        """:func:`~tasks.pipeline.run.clean_run` on the run directory."""
        return clean_run(self.uri(run_id), days, now)

    def collect_garbage(self, now: dt.datetime | None = None, abandoned_days: int = 7) -> list[str]:
        return collect_garbage(self.root, now, abandoned_days)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _files(root: Path, known: dict[str, tuple[tuple[int, int], str]]) -> dict[str, str]:
    """Every file under ``root`` (hidden files aside) -> its sha256; a file whose size and modification time are
    those ``known`` holds (path -> (stat, sha256), as staged) is not read again."""
    found = {}
    for p in sorted(root.rglob("*")):
        name = p.relative_to(root).as_posix()
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
            stat, sha = known.get(name, (None, None))
            found[name] = sha if stat == _stat(p) else _sha256(p)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _wanted(path: str, reads: tuple[str, ...]) -> bool:
    return path in (RUN_FILE, CLEANUP_FILE) or any(path == r or path.startswith(f"{r}/") for r in reads)


class ObjectWorkspace:
    """Run directories as prefixes of an artifact store (:mod:`tasks.storage.store`), staged per step."""

    def __init__(self, store, scratch: str | Path | None = None):
        self.store = store
        self.scratch = Path(scratch or os.environ.get(SCRATCH_VARIABLE) or tempfile.gettempdir())

    def uri(self, run_id: str, path: str = "") -> str:
        run = version_id(run_id)
        return self.store.uri(f"{run}/{path}" if path else run)

    def _index(self, run: str) -> dict[str, str]:
        try:
            return json.loads(self.store.get_bytes(f"{run}/{INDEX_FILE}"))
        except FileNotFoundError:
            return {}

    @contextmanager
    def staged(self, run_id: str, reads: tuple[str, ...] = ()) -> Iterator[Path]:
        """A fresh scratch folder holding the run's ``run.json``, ``cleanup.json`` and the files under ``reads``
        (paths relative to the run: ``inputs``, ``model/manifest.json``...) as the index names them; on success,
        what the block added or changed goes back to the store, then the index."""
        run = version_id(run_id)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.sweep()
        local = Path(tempfile.mkdtemp(prefix=f"{run}.{os.getpid()}.", dir=self.scratch))
        try:
            taken = {path: sha for path, sha in self._index(run).items() if _wanted(path, reads)}
            known = {}  # what was staged: its stat, so that hand-back hashes only what the step wrote
            for path, sha in taken.items():
                target = local / path
                target.parent.mkdir(parents=True, exist_ok=True)
                self.store.get_file(f"{run}/{path}", target)
                if _sha256(target) != sha:
                    raise ChecksumMismatch(f"{self.store.uri(f'{run}/{path}')}: sha256 differs from the run's index {INDEX_FILE}")
                known[path] = (_stat(target), sha)
            yield local
            self._upload(run, local, taken, known)
        finally:
            shutil.rmtree(local, ignore_errors=True)

    def sweep(self) -> list[str]:
        """Remove the scratch folders of processes that no longer run on this host (a task killed with its worker
        leaves its staged inputs behind); return their names."""
        removed = []
        for folder in self.scratch.iterdir():
            parts = folder.name.rsplit(".", 2)
            if folder.is_dir() and len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def _upload(self, run: str, local: Path, taken: dict[str, str], known: dict) -> None:
        found = _files(local, known)
        changed = {path: sha for path, sha in found.items() if taken.get(path) != sha}
        gone = set(taken) - set(found)
        if not changed and not gone:
            return
        for path in changed:
            self.store.put_file(f"{run}/{path}", local / path)
        index = {path: sha for path, sha in self._index(run).items() if path not in gone} | changed
        self.store.put_bytes(f"{run}/{INDEX_FILE}", json.dumps(index, indent=1, sort_keys=True).encode())

    def load_run(self, run_id: str) -> dict | None:
        try:
            return json.loads(self.store.get_bytes(f"{version_id(run_id)}/{RUN_FILE}"))
        except FileNotFoundError:
            return None

    def _delete_parts(self, run: str) -> list[str]:
        """Delete the run's personal parts (every stored version of each object) and drop them from its index."""
        removed = [part for part in PERSONAL_PARTS if self.store.delete_prefix(f"{run}/{part}")]
        index = self._index(run)
        kept = {path: sha for path, sha in index.items() if path.split("/", 1)[0] not in PERSONAL_PARTS}
        if kept != index:
            self.store.put_bytes(f"{run}/{INDEX_FILE}", json.dumps(kept, indent=1, sort_keys=True).encode())
        return removed

    def clean(self, run_id: str, days: int, now: dt.datetime | None = None) -> dict:
        """:func:`~tasks.pipeline.run.clean_run` with the parts deleted from the store."""
        run = version_id(run_id)
        with self.staged(run_id) as local:
            return clean_run(local, days, now, remove_parts=lambda _root: self._delete_parts(run))

    def collect_garbage(self, now: dt.datetime | None = None, abandoned_days: int = 7) -> list[str]:
        """Remove the personal parts of every run :func:`~tasks.pipeline.run.cleaning_due` names."""
        now = now or dt.datetime.now(dt.timezone.utc)
        runs = sorted({key.split("/")[0] for key in self.store.list("") if key.count("/") == 1 and key.endswith(f"/{RUN_FILE}")})
        cleaned = []
        for run in runs:
            try:
                record = json.loads(self.store.get_bytes(f"{run}/{CLEANUP_FILE}"))
            except FileNotFoundError:
                record = None
            if cleaning_due(self.load_run(run), record, now, abandoned_days) and any(
                self.store.list(f"{run}/{part}") for part in PERSONAL_PARTS
            ):
                self.clean(run, 0, now)
                cleaned.append(run)
        return cleaned
