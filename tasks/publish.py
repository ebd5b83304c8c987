"""Step 7 of a run: publish the model version and the report, move ``CURRENT``, append the ledger.

The protocol (each step verified before the next):

1. upload every file of the model version except its manifest to ``models/<name>/<version>/``
   and every report file to ``reports/<run_id>/`` (retained under Object Lock when configured);
2. write the version's ``manifest.json``: a version without one is incomplete and never served;
3. move ``models/<name>/CURRENT`` to the version, only if the report's quality gates passed;
4. append the ledger entry.

The version is derived from the run id, and objects already present with the same sha256 are not
written again, so a rerun of the same run publishes nothing twice and completes a publish that
failed part-way. A run whose ledger entry exists is already published. ``CURRENT`` and earlier
versions are never touched before step 3.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from tasks import ledger
from tasks.run import load_run
from tasks.store import Retention

log = logging.getLogger("mmrecun.publish")


class PublishError(RuntimeError):
    """The store holds something that contradicts this run (e.g. the same key with other bytes)."""


def _put(store, key: str, path: Path, retain: Retention | None, written: dict[str, str]) -> None:
    from mmrecun_core.checkpoint import sha256_file

    sha = sha256_file(path)
    found = store.sha256_of(key)
    if found is None:
        store.put_file(key, path, retain=retain)
    elif found != sha:
        raise PublishError(f"{store.uri(key)} already holds other bytes (sha256 {found}, this run's {sha}); refusing to overwrite")
    written[key] = sha


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def publish(run_dir: str | Path, store, retain: Retention | None = Retention()) -> dict:
    """Publish the run in ``run_dir`` to ``store``; return ``{version, status, current_moved, ledger_seq, artifacts}``.

    ``retain``: Object Lock retention for report and ledger objects (used where the bucket has Object Lock).
    """
    root = Path(run_dir)
    run = load_run(root)
    done = ledger.find_run(store, run["run_id"])
    if done is not None:
        log.info("run %s is already published (ledger entry %s)", run["run_id"], done["seq"])
        return {"version": done["version"], "status": done["status"], "current_moved": done["current_moved"],
                "ledger_seq": done["seq"], "artifacts": done["artifacts"], "already_published": True}
    model_dir, report_dir = root / "model", root / "report"
    for folder, what in ((model_dir, "model"), (report_dir, "report")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} does not exist: run the {what} step first")
    report = json.loads((report_dir / "report.json").read_text())
    name, version = run["model_name"], run["version"]
    base = f"models/{name}/{version}"
    artifacts: dict[str, str] = {}
    for path in _files(model_dir):
        if path.name != "manifest.json":
            _put(store, f"{base}/{path.relative_to(model_dir).as_posix()}", path, None, artifacts)
    for path in _files(report_dir):
        _put(store, f"reports/{run['run_id']}/{path.relative_to(report_dir).as_posix()}", path, retain, artifacts)
    _put(store, f"{base}/manifest.json", model_dir / "manifest.json", None, artifacts)
    passed = report["status"] == "PASSED"
    previous = _current(store, name)
    if passed:
        pointer = {"version": version, "manifest_sha256": artifacts[f"{base}/manifest.json"], "run_id": run["run_id"],
                   "previous": previous.get("version") if previous else None,
                   "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        if not previous or previous.get("version") != version:
            store.put_bytes(f"models/{name}/CURRENT", json.dumps(pointer, indent=2).encode())
    inputs = root / "inputs" / "ingest.json"
    entry = ledger.append(store, {
        "run_id": run["run_id"], "kind": run["kind"], "model": name, "version": version,
        "parent_version": (run.get("parent") or {}).get("version"), "status": report["status"],
        "gates": report.get("gates", []), "current_moved": passed, "requests_applied": report.get("requests", {}).get("new_request_ids", []),
        "inputs": {t: f["sha256"] for t, f in json.loads(inputs.read_text())["tables"].items()} if inputs.is_file() else {},
        "artifacts": artifacts, "report": f"reports/{run['run_id']}/report.html", "code_version": run.get("code_version"),
        "published_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}, retain=retain)
    write_index(store)
    log.info("published %s/%s (%s); CURRENT %s; ledger entry %d", name, version, report["status"],
             "moved" if passed else "unchanged", entry["seq"])
    return {"version": version, "status": report["status"], "current_moved": passed, "ledger_seq": entry["seq"],
            "artifacts": artifacts, "already_published": False}


def _current(store, name: str) -> dict | None:
    key = f"models/{name}/CURRENT"
    return json.loads(store.get_bytes(key)) if store.sha256_of(key) else None


def current_version(store, name: str) -> str | None:
    """The version ``models/<name>/CURRENT`` names, or None before the first promotion."""
    pointer = _current(store, name)
    return pointer["version"] if pointer else None


def write_index(store) -> None:
    """``reports/index.html``: every run of the ledger, newest first, with its status and the CURRENT versions."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    entries = sorted(ledger.entries(store), key=lambda e: e["seq"], reverse=True)
    current = {e["model"]: current_version(store, e["model"]) for e in entries}
    env = Environment(loader=PackageLoader("tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("index.html.j2").render(entries=entries, current=current)
    store.put_bytes("reports/index.html", page.encode())
