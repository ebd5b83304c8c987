"""The runs index of a store: ``reports/index.html`` lists every published run (the ledger's run entries) and every
failure recorded in ``reports/<run_id>/failure.json``, newest first."""

from __future__ import annotations

import json

from tasks.reporting.render import templates
from tasks.storage import ledger
from tasks.storage.registry import current_version, utc_now


def record_failure(store, run_id: str, step: str, error: str) -> None:
    """Record that run ``run_id`` failed at ``step`` (``reports/<run_id>/failure.json``) and refresh the index."""
    record = {"run_id": run_id, "step": step, "error": error[:2000], "failed_at": utc_now()}
    store.put_bytes(f"reports/{run_id}/failure.json", json.dumps(record, indent=2).encode())
    write_index(store)


def run_rows(store) -> list[dict]:
    """Every run of ``store``, newest first (``when``): the ledger's run entries, and each failure recorded in
    ``reports/<run_id>/failure.json`` by a run that published nothing (``status`` FAILED, ``model`` None, ``detail``:
    the step and the first line of the error)."""
    entries = [e for e in ledger.entries(store) if "run_id" in e and e.get("kind") not in ("purge", "rollback")]
    published = {e["run_id"] for e in entries}
    rows = [{**e, "when": e["published_at"], "detail": ""} for e in entries]
    for key in store.list("reports"):
        if key.endswith("/failure.json"):
            failure = json.loads(store.get_bytes(key))
            if failure["run_id"] not in published:
                rows.append(
                    {
                        "run_id": failure["run_id"],
                        "status": "FAILED",
                        "when": failure["failed_at"],
                        "model": None,
                        "detail": f"failed at {failure['step']}: {failure['error'].splitlines()[0][:200]}",
                    }
                )
    rows.sort(key=lambda r: r["when"], reverse=True)
    return rows


def write_index(store) -> None:
    """``reports/index.html``: every run (:func:`run_rows`), newest first."""
    rows = run_rows(store)
    current = {r["model"]: current_version(store, r["model"]) for r in rows if r["model"]}
    store.put_bytes("reports/index.html", templates().get_template("index.html.j2").render(rows=rows, current=current).encode())
