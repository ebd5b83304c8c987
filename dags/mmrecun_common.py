"""What the mmrecun DAGs share: retry policy, error mapping, the failure callback, and the steps (their
parameters: :mod:`mmrecun_params`).

Each task runs one function of :mod:`tasks.pipeline.steps` on the run directory ``<workspace>/<run id>``
that ``begin`` creates (its XCom holds that path; no data passes between tasks). Bad input (a
broken contract, failed validation) fails the task without retries; "nothing to forget" skips
unlearning and evaluation, and the run publishes a report that says so (no model version); failed
quality gates fail the run after the FAILED report is published.

Environment (read when the DAG file is parsed): ``MMRECUN_WORKSPACE`` (run directories, default
``var/runs``), ``MMRECUN_S3_CONN_ID`` (an Airflow connection of type ``aws`` whose login, password,
``region_name`` and ``endpoint_url`` extras are handed to boto3 inside each task; default ``mmrecun_s3``,
ignored when undefined); the parameters' defaults come from the environment too (:mod:`mmrecun_params`).
Only the standard library, ``airflow.sdk`` and the standard provider's approval operator are imported here:
DAG files must parse fast.
"""

from __future__ import annotations

import datetime as dt
import functools
import os

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Asset, Connection, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

WORKSPACE = os.environ.get("MMRECUN_WORKSPACE", "var/runs")
S3_CONN_ID = os.environ.get("MMRECUN_S3_CONN_ID", "mmrecun_s3")
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

# I/O steps retry with exponential backoff; validation, unlearning and gates do not.
IO_RETRIES = {
    "retries": 3,
    "retry_delay": dt.timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=5),
}
# Runs of the nightly and on-demand DAGs that touch one registry queue in this pool (one slot: `airflow pools set
# mmrecun_registry 1 ...`); later steps outrank earlier ones, so a started run drains before another fetches its
# parent. Correctness does not rest on it: CURRENT moves only by compare-and-swap (tasks/storage/registry.py).
REGISTRY_POOL = {"pool": os.environ.get("MMRECUN_REGISTRY_POOL", "mmrecun_registry"), "weight_rule": "upstream"}
GPU_STEP = {"queue": "gpu", "retries": 0, "execution_timeout": dt.timedelta(hours=4), **REGISTRY_POOL}
NO_RETRY = {"retries": 0}
MODELS = Asset("mmrecun://registry/models")
REPORTS = Asset("mmrecun://registry/reports")


def user_errors(step):
    """Run ``step``; a :class:`~schemas.errors.UserError` (bad input, parameters or paths, a missing parent, a store
    conflict, ...) fails the task at once, without retries. Anything else (storage after its retries, a checksum
    mismatch, a bug) propagates, so the steps that have retries retry it."""

    @functools.wraps(step)
    def run(*args, **kwargs):
        from schemas.errors import UserError

        try:
            return step(*args, **kwargs)
        except UserError as exc:
            raise AirflowFailException(str(exc)) from exc

    return run


def record_failure(context) -> None:
    """Failure callback: record the failed step in the store so the runs index shows it."""
    from tasks.pipeline.steps import record_failure as record
    from tasks.pipeline.steps import run_dir_for

    run_id = context["dag_run"].run_id
    run_dir = run_dir_for(WORKSPACE, run_id)
    if (run_dir / "run.json").is_file():
        record(str(run_dir), context["ti"].task_id, str(context.get("exception") or "failed"))


def dag_settings(params: dict, schedule: str | None = None) -> dict:
    """The ``@dag`` arguments every mmrecun DAG shares: one active run at a time, no catch-up, the failure
    callback on every task, and its ``params``; ``schedule`` None = on demand."""
    return {
        "schedule": schedule,
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["mmrecun"],
        "params": params,
        "default_args": {"on_failure_callback": record_failure},
    }


def use_s3_connection() -> None:
    """Expose the Airflow connection ``S3_CONN_ID`` (when defined) to boto3 through this task's environment."""
    try:
        conn = Connection.get(S3_CONN_ID)
    except AirflowNotFoundException:
        return
    extra = conn.extra_dejson
    values = {
        "AWS_ACCESS_KEY_ID": conn.login,
        "AWS_SECRET_ACCESS_KEY": conn.password,
        "AWS_DEFAULT_REGION": extra.get("region_name"),
        "AWS_ENDPOINT_URL_S3": extra.get("endpoint_url"),
    }
    os.environ.update({k: v for k, v in values.items() if v})


def _after(name: str, outcome: dict) -> None:
    """What a step's outcome means for the run: failed gates fail it."""
    if name == "publish" and outcome["status"] == "FAILED":
        raise AirflowFailException("quality gates failed: the FAILED report is published and CURRENT did not move")
    if name == "publish" and outcome["status"] == "SUPERSEDED":  # a retry of a run that lost the race
        raise AirflowFailException("another run promoted first: the SUPERSEDED report is published; rerun to apply the requests")


def step(name: str, needs_forgetting: bool = False, **task_kwargs):
    """A task that runs ``tasks.pipeline.steps.<name>(run_dir)`` on the run directory of its run id.

    ``needs_forgetting``: the task is skipped when the run's forget set holds nothing new to forget.
    """

    @task(task_id=name, **task_kwargs)
    def run(run_id=None) -> None:
        from tasks.pipeline import steps

        run_dir = str(steps.run_dir_for(WORKSPACE, run_id))
        if name != "publish" and steps.already_published(run_dir):
            raise AirflowSkipException("this run is already published: a rerun makes nothing again")
        if needs_forgetting and steps.nothing_to_forget(run_dir):
            raise AirflowSkipException("nothing to forget: no request new since the parent model applies at the cutoff")
        use_s3_connection()
        _after(name, user_errors(getattr(steps, name))(run_dir))

    return run


class ReportApproval(ApprovalOperator):
    """Sign-off before ``CURRENT`` moves, when the run's ``require_approval`` is set (otherwise it passes at once).

    The decision, the approver and the time go into the run (``tasks.pipeline.steps.record_approval``); publish then
    promotes an approved version, or publishes the report as REJECTED and leaves ``CURRENT``. Unlike the plain
    operator a rejection skips nothing: publishing the REJECTED report is part of the run.
    """

    def execute(self, context):
        from tasks.pipeline import steps

        run_dir = steps.run_dir_for(WORKSPACE, context["run_id"])
        if not context["params"]["require_approval"] or steps.already_published(str(run_dir)) or steps.nothing_to_forget(str(run_dir)):
            return None
        self.body = steps.approval_summary(str(run_dir))
        return super().execute(context)

    def execute_complete(self, context, event):
        from tasks.pipeline import steps

        answer = HITLOperator.execute_complete(self, context, event)
        user = answer["responded_by_user"] or {}
        steps.record_approval(
            str(steps.run_dir_for(WORKSPACE, context["run_id"])),
            answer["chosen_options"] == [self.APPROVE],
            user.get("name") or user.get("id"),
            answer["responded_at"].isoformat(timespec="seconds"),
        )
        return answer


def approval() -> ReportApproval:
    """The sign-off task between report and publish."""
    return ReportApproval(
        task_id="approve", subject="mmrecun: approve the unlearning report of run {{ run_id }}", trigger_rule="none_failed", **NO_RETRY
    )


def begin(kind: str, keys: tuple[str, ...]):
    """The first task: create the run directory ``<workspace>/<run id>`` with the run's parameters."""

    @task(task_id="begin", **IO_RETRIES)
    def run(params=None, run_id=None, logical_date=None) -> str:
        from tasks.pipeline.steps import begin as start

        return user_errors(start)(WORKSPACE, run_id, kind, {k: params[k] for k in keys}, logical_date and logical_date.isoformat())

    return run


def chain_steps(kind: str, params: dict, steps: list, alarm_after: str | None = None) -> None:
    """Wire ``begin`` then ``steps`` one after the other inside a ``@dag`` function (a plain chain: each step
    finds the run directory from its run id, so a skipped step hands nothing on that the next one needs), then
    ``cleanup`` as the run's teardown: it runs whatever happened before and does not decide the run's state.

    ``alarm_after``: a step after which ``check_deadlines`` branches off as a leaf: overdue requests fail the
    run loudly while the chain goes on to apply and publish them.
    """
    previous = begin(kind, tuple(params))()
    leaves = []
    for make in steps:
        current = make()
        current = getattr(current, "operator", current)
        previous >> current
        if current.task_id == alarm_after:
            alarm = step("check_deadlines", **NO_RETRY)()
            current >> alarm
            leaves.append(alarm)
        previous = current
    [previous, *leaves] >> cleanup()().as_teardown()


def cleanup():
    """Teardown: remove the run's personal parts from the workspace (now, or after the kept days)."""

    @task(task_id="cleanup", trigger_rule="all_done", **IO_RETRIES)
    def run(run_id=None) -> None:
        from tasks.pipeline import steps

        run_dir = steps.run_dir_for(WORKSPACE, run_id)
        if (run_dir / "run.json").is_file():  # begin failed: nothing was written
            steps.cleanup(str(run_dir))

    return run


def train_steps() -> list:
    return [
        step("ingest", **IO_RETRIES),
        step("validate", **NO_RETRY),
        step("train", queue="gpu", **NO_RETRY),
        step("evaluate", **NO_RETRY),
        step("report", **NO_RETRY),
        step("publish", outlets=[MODELS, REPORTS], trigger_rule="none_failed", **IO_RETRIES, **REGISTRY_POOL),
    ]


def unlearn_steps() -> list:
    return [
        step("ingest", **IO_RETRIES),
        step("validate", **NO_RETRY),
        step("fetch_parent", **IO_RETRIES, **REGISTRY_POOL),
        step("forget_set", **NO_RETRY, **REGISTRY_POOL),
        step("unlearn", needs_forgetting=True, **GPU_STEP),
        step("evaluate", needs_forgetting=True, **NO_RETRY, **REGISTRY_POOL),
        step("report", trigger_rule="none_failed", **NO_RETRY, **REGISTRY_POOL),  # also after a skipped evaluate
        approval,
        step("publish", outlets=[MODELS, REPORTS], trigger_rule="none_failed", **IO_RETRIES, **REGISTRY_POOL),
    ]
