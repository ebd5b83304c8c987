"""Step 7 of a run: publish the model version and the report, move ``CURRENT``, append the ledger.

The protocol (each step verified before the next):

1. upload every file of the model version except its manifest to ``models/<name>/<version>/``
   and every report file to ``reports/<run_id>/`` (retained under Object Lock when configured);
2. write the version's ``manifest.json``: a version without one is incomplete and never served;
3. move ``models/<name>/CURRENT`` to the version, only if the report's quality gates passed;
4. append the ledger entry.

A run that found nothing to forget made no model: it publishes its report (status NOTHING TO
FORGET) and a ledger entry without a version, the record that the requests were checked.

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
from tasks.registry import current_pointer, current_version
from tasks.run import load_run
from tasks.report import NOTHING_TO_FORGET
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
    if not report_dir.is_dir():
        raise FileNotFoundError(f"{report_dir} does not exist: run the report step first")
    report = json.loads((report_dir / "report.json").read_text())
    has_model = report["status"] != NOTHING_TO_FORGET
    if has_model and not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir} does not exist: run the model step first")
    name, version = run["model_name"], run["version"] if has_model else None
    base = f"models/{name}/{version}"
    artifacts: dict[str, str] = {}
    for path in _files(model_dir) if has_model else []:
        if path.name != "manifest.json":
            _put(store, f"{base}/{path.relative_to(model_dir).as_posix()}", path, None, artifacts)
    for path in _files(report_dir):
        _put(store, f"reports/{run['run_id']}/{path.relative_to(report_dir).as_posix()}", path, retain, artifacts)
    if has_model:
        _put(store, f"{base}/manifest.json", model_dir / "manifest.json", None, artifacts)
    passed = report["status"] == "PASSED"
    previous = current_pointer(store, name)
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
        "gates": report.get("gates", []), "current_moved": passed, "requests_applied": (report.get("requests") or {}).get("new_request_ids", []),
        "inputs": {t: f["sha256"] for t, f in json.loads(inputs.read_text())["tables"].items()} if inputs.is_file() else {},
        "artifacts": artifacts, "report": f"reports/{run['run_id']}/report.html", "code_version": run.get("code_version"),
        "published_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}, retain=retain)
    write_index(store)
    log.info("published %s/%s (%s); CURRENT %s; ledger entry %d", name, version or "-", report["status"],
             "moved" if passed else "unchanged", entry["seq"])
    return {"version": version, "status": report["status"], "current_moved": passed, "ledger_seq": entry["seq"],
            "artifacts": artifacts, "already_published": False}


def record_failure(store, run_id: str, step: str, error: str) -> None:
    """Record that run ``run_id`` failed at ``step`` (``reports/<run_id>/failure.json``) and refresh the index."""
    record = {"run_id": run_id, "step": step, "error": error[:2000],
              "failed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    store.put_bytes(f"reports/{run_id}/failure.json", json.dumps(record, indent=2).encode())
    write_index(store)


def write_index(store) -> None:
    """``reports/index.html``: every run, newest first: the ledger's entries and the recorded failures."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    entries = ledger.entries(store)
    published = {e["run_id"] for e in entries}
    rows = [{**e, "when": e["published_at"], "detail": ""} for e in entries]
    for key in store.list("reports"):
        if key.endswith("/failure.json"):
            failure = json.loads(store.get_bytes(key))
            if failure["run_id"] not in published:
                rows.append({"run_id": failure["run_id"], "status": "FAILED", "when": failure["failed_at"], "model": None,
                             "detail": f"failed at {failure['step']}: {failure['error'].splitlines()[0][:200]}"})
    rows.sort(key=lambda r: r["when"], reverse=True)
    current = {e["model"]: current_version(store, e["model"]) for e in entries}
    env = Environment(loader=PackageLoader("tasks", "templates"), autoescape=select_autoescape(["html", "j2"]))
    store.put_bytes("reports/index.html", env.get_template("index.html.j2").render(rows=rows, current=current).encode())
