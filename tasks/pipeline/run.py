"""A run's workspace: the folder every step of one pipeline run reads from and writes into.

    <run_dir>/run.json            run id, kind (train | unlearn), model name, parameters, code version, parent
    <run_dir>/inputs/             ingest: table snapshots + ingest.json
    <run_dir>/validation/         validate: GX results, Data Docs, summary.json
    <run_dir>/forget_set/         forget set (unlearn runs): summary.json, forget_set.npz
    <run_dir>/model/              the new model directory (manifest.json; evidence.json for unlearn runs)
    <run_dir>/report/             report.json, report.html, report.pdf, figures/
    <run_dir>/cleanup.json        when the run's personal parts were (or will be) removed

Steps pass the run directory (a path), never data. When a run ends, :func:`clean_run` removes the
parts that hold input data (:data:`PERSONAL_PARTS`: snapshots, the parent copy, forget-set arrays,
model files, GX results with example rows) at once, or after ``keep_days`` through
:func:`collect_garbage` (``mmrecun gc``); ``run.json``, the report and ``cleanup.json`` stay.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from schemas.errors import BadParameter, PathError

RUN_FILE = "run.json"
CLEANUP_FILE = "cleanup.json"
KINDS = ("train", "unlearn")
PERSONAL_PARTS = ("inputs", "parent", "forget_set", "model", "validation")
KEEP_DAYS_VARIABLE = "MMRECUN_WORKSPACE_KEEP_DAYS"


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` when it has changes), or ``unknown`` outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def version_id(run_id: str) -> str:
    """The model version a run publishes: its run id made safe for object keys (same run, same version)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")
    if not safe:
        raise BadParameter(f"run id {run_id!r} has no usable character")
    return safe


def start_run(run_dir: str | Path, run_id: str, kind: str, model_name: str, params: dict | None = None, parent: dict | None = None) -> Path:
    """Create ``run_dir`` with its ``run.json``; an existing run.json of the same run id is kept (reruns)."""
    if kind not in KINDS:
        raise BadParameter(f"run kind must be one of {list(KINDS)}, got {kind!r}")
    root = Path(run_dir)
    path = root / RUN_FILE
    if path.is_file():
        existing = json.loads(path.read_text())
        if existing["run_id"] != run_id:
            raise PathError(f"{root} belongs to run {existing['run_id']!r}, not {run_id!r}")
        return root
    root.mkdir(parents=True, exist_ok=True)
    facts = {
        "run_id": run_id,
        "kind": kind,
        "model_name": model_name,
        "version": version_id(run_id),
        "params": params or {},
        "parent": parent,
        "code_version": code_version(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(facts, indent=2, default=str))
    return root


def record(run_dir: str | Path, key: str, value) -> dict:
    """Add ``key: value`` to the run's ``run.json`` (a fact learnt after it began: its parent, an approval, ...)."""
    path = Path(run_dir) / RUN_FILE
    facts = {**load_run(run_dir), key: value}
    path.write_text(json.dumps(facts, indent=2, default=str))
    return value


def load_run(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise PathError(f"{run_dir} is not a run directory (no {RUN_FILE})")
    return json.loads(path.read_text())


def keep_days(environ=os.environ) -> int:
    """Days a finished run keeps its personal parts for debugging: ``MMRECUN_WORKSPACE_KEEP_DAYS`` (default 0)."""
    value = environ.get(KEEP_DAYS_VARIABLE, "").strip() or "0"
    if not value.isdigit():
        raise BadParameter(f"{KEEP_DAYS_VARIABLE} must be a whole number of days, got {value!r}")
    return int(value)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _remove_parts(root: Path) -> list[str]:
    removed = []
    for part in PERSONAL_PARTS:
        path = root / part
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            removed.append(part)
        elif path.exists() or path.is_symlink():
            path.unlink()
            removed.append(part)
    return removed


def clean_run(run_dir: str | Path, days: int = 0, now: dt.datetime | None = None, remove_parts=_remove_parts) -> dict:
    """End of a run: remove its personal parts now (``days`` 0) or record when :func:`collect_garbage` will.

    Writes and returns ``cleanup.json``: ``{"removed": [parts], "removed_at", "expires_at"}`` (``expires_at``
    None once removed). ``remove_parts(run_dir) -> [parts removed]`` does the removing (the object-store
    workspace deletes the run's objects instead of local folders).
    """
    root, now = Path(run_dir), now or _utcnow()
    load_run(root)  # refuses a folder that is not a run directory
    if days > 0:
        record = {"removed": [], "removed_at": None, "expires_at": (now + dt.timedelta(days=days)).isoformat(timespec="seconds")}
    else:
        record = {"removed": remove_parts(root), "removed_at": now.isoformat(timespec="seconds"), "expires_at": None}
    (root / CLEANUP_FILE).write_text(json.dumps(record, indent=2))
    return record


def cleaning_due(run: dict, cleanup: dict | None, now: dt.datetime, abandoned_days: int) -> bool:
    """Whether a run's personal parts are due for removal: its kept days are over, or it never ended (no
    ``cleanup`` record) and started more than ``abandoned_days`` ago."""
    if cleanup is None:
        return dt.datetime.fromisoformat(run["started_at"]) + dt.timedelta(days=abandoned_days) <= now
    return cleanup["expires_at"] is not None and dt.datetime.fromisoformat(cleanup["expires_at"]) <= now


def collect_garbage(workspace: str | Path, now: dt.datetime | None = None, abandoned_days: int = 7) -> list[str]:
    """Remove the personal parts of every run in the folder ``workspace`` that :func:`cleaning_due` names.
    Returns the run folders cleaned."""
    root, now = Path(workspace), now or _utcnow()
    if not root.is_dir():
        raise PathError(f"workspace {root} does not exist")
    cleaned = []
    for run_dir in sorted(p for p in root.iterdir() if (p / RUN_FILE).is_file()):
        record = json.loads((run_dir / CLEANUP_FILE).read_text()) if (run_dir / CLEANUP_FILE).is_file() else None
        due = cleaning_due(load_run(run_dir), record, now, abandoned_days)
        if due and any((run_dir / part).exists() for part in PERSONAL_PARTS):
            clean_run(run_dir, 0, now)
            cleaned.append(run_dir.name)
    return cleaned
