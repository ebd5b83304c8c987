"""A run's workspace: the folder every step of one pipeline run reads from and writes into.

    <run_dir>/run.json            run id, kind (train | unlearn), model name, parameters, code version, parent
    <run_dir>/inputs/             ingest: table snapshots + ingest.json
    <run_dir>/validation/         validate: GX results, Data Docs, summary.json
    <run_dir>/forget_set/         forget set (unlearn runs): summary.json, forget_set.npz
    <run_dir>/model/              the new model directory (manifest.json; evidence.json for unlearn runs)
    <run_dir>/report/             report.json, report.html, report.pdf, figures/

Steps pass the run directory (a path), never data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

RUN_FILE = "run.json"
KINDS = ("train", "unlearn")


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` when it has changes), or ``unknown`` outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def version_id(run_id: str) -> str:
    """The model version a run publishes: its run id made safe for object keys (same run, same version)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")
    if not safe:
        raise ValueError(f"run id {run_id!r} has no usable character")
    return safe


def start_run(run_dir: str | Path, run_id: str, kind: str, model_name: str, params: dict | None = None,
              parent: dict | None = None) -> Path:
    """Create ``run_dir`` with its ``run.json``; an existing run.json of the same run id is kept (reruns)."""
    if kind not in KINDS:
        raise ValueError(f"run kind must be one of {list(KINDS)}, got {kind!r}")
    root = Path(run_dir)
    path = root / RUN_FILE
    if path.is_file():
        existing = json.loads(path.read_text())
        if existing["run_id"] != run_id:
            raise ValueError(f"{root} belongs to run {existing['run_id']!r}, not {run_id!r}")
        return root
    root.mkdir(parents=True, exist_ok=True)
    facts = {"run_id": run_id, "kind": kind, "model_name": model_name, "version": version_id(run_id), "params": params or {},
             "parent": parent, "code_version": code_version(), "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path.write_text(json.dumps(facts, indent=2, default=str))
    return root


def load_run(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {RUN_FILE})")
    return json.loads(path.read_text())
