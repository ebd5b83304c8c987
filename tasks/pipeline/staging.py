"""How a DAG task runs one step of a run on its workspace (:mod:`tasks.pipeline.workspace`).

The task names the step and the run id; this module opens the workspace, stages what the step reads
(:data:`READS`), skips what has nothing to do, runs :mod:`tasks.pipeline.steps` and hands the outputs back.
Airflow is not imported here: :class:`StepSkipped` is what the DAG turns into a skipped task.
"""

from __future__ import annotations

import logging

from tasks.pipeline import steps
from tasks.pipeline.run import keep_days
from tasks.pipeline.workspace import open_workspace
from tasks.storage.index import record_failure as record_in_store
from tasks.storage.store import open_store

log = logging.getLogger("mmrecun.steps")

# What each step reads of the run (besides run.json and cleanup.json, always there): parts or files of it.
REPORT_READS = (
    "inputs/ingest.json",
    "inputs/requests",
    "validation/summary.json",
    "forget_set/summary.json",
    "model/manifest.json",
    "model/evidence.json",
    "evaluation.json",
)
READS: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "validate": ("inputs",),
    "fetch_parent": (),
    "forget_set": ("inputs", "parent/manifest.json"),
    "check_deadlines": ("inputs/requests", "forget_set/summary.json"),
    "train": ("inputs/data",),
    "unlearn": ("inputs/data", "parent", "forget_set"),
    "evaluate": ("inputs/data", "model", "forget_set/summary.json"),
    "report": REPORT_READS,
    "approve": ("report", "forget_set/summary.json"),
    "publish": (*REPORT_READS, "model", "report"),
}
NEEDS_FORGETTING = ("unlearn", "evaluate")


class StepSkipped(Exception):
    """The step has nothing to do in this run: the run is published already, or it has nothing new to forget."""


def run_step(workspace: str, run_id: str, name: str) -> dict:
    """Run step ``name`` (a function of :mod:`tasks.pipeline.steps`) of run ``run_id``; return its reference.

    Raises :class:`StepSkipped` instead of running when the run is already published (a rerun makes nothing
    again: its parent may have been purged since) or, for :data:`NEEDS_FORGETTING`, when it has nothing to forget.
    """
    with open_workspace(workspace).staged(run_id, READS[name]) as run_dir:
        if name != "publish" and steps.already_published(str(run_dir)):
            raise StepSkipped("this run is already published: a rerun makes nothing again")
        if name in NEEDS_FORGETTING and steps.nothing_to_forget(str(run_dir)):
            raise StepSkipped("nothing to forget: no request new since the parent model applies at the cutoff")
        return getattr(steps, name)(str(run_dir))


def approval_request(workspace: str, run_id: str) -> str | None:
    """What a person reads before approving the run's report (:func:`tasks.pipeline.steps.approval_summary`), or
    None when the run asks for no approval, is published already or has nothing to forget."""
    space = open_workspace(workspace)
    with space.staged(run_id, READS["approve"]) as run_dir:
        if not steps.load_run(run_dir)["params"]["require_approval"]:
            return None
        if steps.already_published(str(run_dir)) or steps.nothing_to_forget(str(run_dir)):
            return None
        return steps.approval_summary(str(run_dir), space.uri(run_id, "report/report.html"))


def record_approval(workspace: str, run_id: str, approved: bool, by: str | None, at: str) -> dict:
    """:func:`tasks.pipeline.steps.record_approval` on the workspace."""
    with open_workspace(workspace).staged(run_id) as run_dir:
        return steps.record_approval(str(run_dir), approved, by, at)


def finish(workspace: str, run_id: str) -> dict | None:
    """The end of every run, whatever its outcome: remove the run's personal parts (input snapshots, parent copy,
    forget-set arrays, model files) now, or after ``MMRECUN_WORKSPACE_KEEP_DAYS`` (then ``mmrecun gc``).
    None when the run has no run.json (its first step failed: nothing was written)."""
    space = open_workspace(workspace)
    if space.load_run(run_id) is None:
        return None
    record = space.clean(run_id, keep_days())
    done = f"removed {', '.join(record['removed']) or 'nothing'}" if record["removed_at"] else f"kept until {record['expires_at']}"
    log.info("workspace %s: %s", space.uri(run_id), done if record["removed_at"] else f"{done} (mmrecun gc removes it then)")
    return record


def record_failure(workspace: str, run_id: str, task_id: str, error: str) -> None:
    """Record a failed run in the store (``reports/<run_id>/failure.json``) so the runs index shows it; nothing
    when the run has no run.json."""
    run = open_workspace(workspace).load_run(run_id)
    if run is not None:
        params = run["params"]
        record_in_store(open_store(params["store"], params["endpoint_url"]), run["run_id"], task_id, error)
