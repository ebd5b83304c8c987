"""The pipeline's steps as the DAGs call them: each takes a run directory and returns a small JSON-able reference.

A run's parameters live in its ``run.json`` (written by :func:`begin`), so a step needs only the
run directory; nothing but paths and counts passes between steps. The parameters, their types and defaults:
:data:`schemas.run_params.RUN_PARAMS` (``gate_<field>``: :class:`tasks.reporting.gates.Gates`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from schemas.errors import UserError
from schemas.run_params import check
from tasks.pipeline.run import load_run, record, start_run
from tasks.pipeline.workspace import open_workspace
from tasks.reporting.gates import Gates
from tasks.reporting.lifecycle import lifecycle
from tasks.storage.registry import NoParent, Superseded, fetch_current, fetch_version
from tasks.storage.store import Retention, open_store

log = logging.getLogger("mmrecun.steps")


class DeadlineMissed(UserError):
    """Effective requests waited longer than the deadline (GDPR Art. 12(3): one month) before a run applied them."""


def begin(workspace: str | Path, run_id: str, kind: str, params: dict, logical_date: str | None = None) -> str:
    """Create (or reopen, on a retry) run ``run_id`` in ``workspace`` (a folder or ``s3://`` prefix:
    :mod:`tasks.pipeline.workspace`); return where it lives (``<workspace>/<run id>``).

    ``params`` are checked and completed by :func:`schemas.run_params.check` (raising
    :class:`~schemas.errors.BadParameter`); ``run.json`` records all of a ``kind`` run's parameters, ``cutoff``
    None taken as ``logical_date`` (else now, UTC)."""
    full = check(params, kind)
    if not full["dry_run"]:
        Retention.from_env()  # a bad retention setting stops the run here, before any model is made
    full["cutoff"] = full["cutoff"] or logical_date or dt.datetime.now(dt.timezone.utc).isoformat()
    space = open_workspace(workspace)
    with space.staged(run_id) as run_dir:
        start_run(run_dir, run_id, kind, full["model_name"], full)
    return space.uri(run_id)


def _params(run_dir) -> dict:
    return load_run(run_dir)["params"]


def _cutoff(params: dict) -> dt.datetime:
    value = dt.datetime.fromisoformat(params["cutoff"])
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _store(params: dict):
    return open_store(params["store"], params["endpoint_url"])


def ingest(run_dir: str) -> dict:
    from tasks.pipeline.ingest import ingest as ingest_tables

    p = _params(run_dir)
    ref = ingest_tables(p["data"], run_dir, p.get("requests"), endpoint_url=p["endpoint_url"])
    return {"tables": {t: f["rows"] for t, f in ref["tables"].items()}, "data_sha256": ref["data"]["sha256"]}


def validate(run_dir: str) -> dict:
    from tasks.pipeline.validate import validate as run_suites

    summary = run_suites(run_dir, cutoff=_cutoff(_params(run_dir)))
    return {"tables": len(summary["tables"]), "warnings": sum(len(t["warnings"]) for t in summary["tables"].values())}


def fetch_parent(run_dir: str) -> dict:
    """Download the parent model into ``run_dir/parent``: the model's CURRENT version, recorded in run.json.

    A retried or rerun run fetches the parent it recorded the first time, not whatever CURRENT names now
    (which may be this run's own version once it has published).
    """
    p, run = _params(run_dir), load_run(run_dir)
    if run.get("parent"):
        return fetch_version(_store(p), p["model_name"], run["parent"]["version"], Path(run_dir) / "parent")
    parent = fetch_current(_store(p), p["model_name"], Path(run_dir) / "parent")
    if parent is None:
        raise NoParent(f"no promoted version of model {p['model_name']!r} in {p['store']}: run mmrecun_train first")
    record(run_dir, "parent", {"version": parent["version"], "run_id": parent["run_id"]})
    return {"version": parent["version"]}


def forget_set(run_dir: str) -> dict:
    """Returns ``{"nothing_to_forget", "new_requests", "counts"}``."""
    from tasks.pipeline.forget_set import build_forget_set

    root = Path(run_dir)
    summary = build_forget_set(
        root / "inputs" / "data", root / "inputs" / "requests", _cutoff(_params(run_dir)), root / "parent", root / "forget_set"
    )
    return {"nothing_to_forget": summary["nothing_to_forget"], "new_requests": len(summary["new_request_ids"]), "counts": summary["counts"]}


def check_deadlines(run_dir: str) -> dict:
    """Raise :class:`DeadlineMissed` naming the overdue requests (effective, not applied before this run, waiting
    longer than ``deadline_days``); returns the counts otherwise. The run goes on either way: this is an alarm."""
    life = lifecycle(run_dir, _params(run_dir)["deadline_days"])
    overdue = [q for q in (life or {}).get("requests", []) if q["overdue"]]
    if overdue:
        worst = overdue[0]
        raise DeadlineMissed(
            f"{len(overdue)} effective request(s) waited more than {life['deadline_days']} days, the longest "
            f"{worst['request_id']} ({worst['kind']}, {worst['days_waiting']} days, {worst['state']})"
        )
    return {"overdue": 0, "counts": (life or {}).get("counts", {})}


def nothing_to_forget(run_dir: str) -> bool:
    """Whether the run's forget set found nothing new to forget (then no model is made: the run reports and
    publishes only the report, which says so)."""
    summary = Path(run_dir) / "forget_set" / "summary.json"
    return summary.is_file() and json.loads(summary.read_text())["nothing_to_forget"]


def unlearn(run_dir: str) -> dict:
    from tasks.pipeline.unlearn import unlearn_model

    p, root = _params(run_dir), Path(run_dir)
    ref = unlearn_model(
        root / "inputs" / "data",
        root / "parent",
        None,
        root / "model",
        method=p["method"],
        alpha=p["alpha"],
        max_epochs=p["max_epochs"],
        seed=p["seed"],
        device=p["device"],
        cutoff=_cutoff(p),
        run_gold=p["run_gold"],
        plan_dir=root / "forget_set",
    )
    e = ref["evidence"]
    return {"forget_recall@20": e["forget_recall@20"], "retain_test_recall@20": e["retain_test_recall@20"], "wall_s": e["wall_s"]}


def train(run_dir: str) -> dict:
    from tasks.pipeline.train import train_model

    p, root = _params(run_dir), Path(run_dir)
    ref = train_model(
        root / "inputs" / "data", p["model"], root / "model", max_epochs=p["train_epochs"], seed=p["seed"], device=p["device"]
    )
    return {"best_epoch": ref["best_epoch"], "valid_recall@20": ref["valid"]["recall@20"]}


def evaluate(run_dir: str) -> dict:
    """Full-ranking metrics of the model as it will be served (erased rows zeroed, revoked items excluded)."""
    from tasks.pipeline.evaluate import evaluate_model

    root = Path(run_dir)
    result = evaluate_model(root / "inputs" / "data", root / "model", root / "evaluation.json", device=_params(run_dir)["device"])
    return {"valid_recall@20": result["valid"]["recall@20"], "test_recall@20": result["test"]["recall@20"]}


def report(run_dir: str) -> dict:
    from tasks.reporting.report import build_report

    p = _params(run_dir)
    out = build_report(run_dir, gates=Gates.from_params(p), deadline_days=p["deadline_days"])
    return {"status": out["status"], "failed_gates": [g["name"] for g in out["gates"] if not g["passed"]]}


def publish(run_dir: str) -> dict:
    """Publish unless the run is a dry run; returns the publish reference (version, status, ledger seq).

    A run with nothing to forget publishes its report and a ledger entry without a model version. Object Lock
    retention comes from the deployment's environment (:meth:`tasks.storage.store.Retention.from_env`)."""
    from tasks.storage.publish import publish as publish_run

    p = _params(run_dir)
    if p["dry_run"]:
        log.info("dry run: nothing published")
        return {"published": False, "status": json.loads((Path(run_dir) / "report" / "report.json").read_text())["status"]}
    try:
        out = publish_run(run_dir, _store(p), Retention.from_env())
    except Superseded:
        _mark_published(run_dir, "SUPERSEDED")
        raise
    _mark_published(run_dir, out["status"])
    return {
        "published": not out["already_published"],
        "status": out["status"],
        "version": out["version"],
        "current_moved": out["current_moved"],
        "ledger_seq": out["ledger_seq"],
    }


def approval_summary(run_dir: str, report_uri: str | None = None) -> str:
    """What a person reads before approving a run's report: status, gates and where the report is (Markdown;
    ``report_uri``: where the workspace keeps report.html, by default in ``run_dir``)."""
    report = json.loads((Path(run_dir) / "report" / "report.json").read_text())
    gates = "\n".join(f"- {'PASS' if g['passed'] else 'FAIL'}: {g['description']}" for g in report["gates"])
    where = report_uri or Path(run_dir) / "report" / "report.html"
    return (
        f"**{report['status']}**: {report['verdict']}\n\n{gates}\n\nThe whole report: `{where}`. "
        "Approve to let the new version become CURRENT; reject to publish the report as REJECTED."
    )


def record_approval(run_dir: str, approved: bool, by: str | None, at: str) -> dict:
    """Record a person's decision on the run's report (``run.json`` ``approval``), read by :func:`publish`."""
    return record(run_dir, "approval", {"approved": approved, "by": by, "at": at})


def _mark_published(run_dir: str, status: str) -> None:
    record(run_dir, "published", {"status": status})


def already_published(run_dir: str) -> bool:
    """Whether this run's publication is on record (a rerun of it then has nothing to make again: its parent
    may have been purged since, and its inputs were removed from the workspace)."""
    return bool(json.loads((Path(run_dir) / "run.json").read_text()).get("published"))
