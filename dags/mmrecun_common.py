"""What the mmrecun DAGs share: retry policy, queues and pools, error mapping, the failure callback and the
workspace (their tasks: :mod:`mmrecun_tasks`; their parameters: :mod:`mmrecun_params`).

Bad input (a broken contract, failed validation) fails a task without retries; "nothing to forget" skips
unlearning and evaluation, and the run publishes a report that says so (no model version); failed quality
gates fail the run after the FAILED report is published.

Environment: ``MMRECUN_WORKSPACE`` (where runs live between steps: a folder, default ``var/runs``, or an
``s3://bucket/prefix`` when workers share no disk: :mod:`tasks.pipeline.workspace`; read when a task runs, so
each worker's own environment counts), ``MMRECUN_SCRATCH`` (a worker's local folder for staged steps),
``MMRECUN_GPU_POOL`` (the pool of the ``gpu`` queue's tasks, default ``mmrecun_gpu``: give it as many slots as
there are GPU workers), ``MMRECUN_S3_CONN_ID`` (an Airflow connection of type ``aws`` whose login, password,
``region_name`` and ``endpoint_url`` extras are handed to boto3 inside each task; default ``mmrecun_s3``,
ignored when undefined); the parameters' defaults come from the environment too (:mod:`mmrecun_params`).
Only the standard library and ``airflow.sdk`` are imported here: DAG files must parse fast.
"""

from __future__ import annotations

import datetime as dt
import functools
import os

from airflow.sdk import Asset, Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

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
# Training and unlearning run on the `gpu` queue's workers, at most as many at a time as the pool has slots (one per
# GPU worker: `airflow pools set mmrecun_gpu <N> ...`). A task has one pool, so these leave the registry pool while
# they run; a run that fetched its parent meanwhile loses at the compare-and-swap and its requests stay pending.
GPU_STEP = {
    "queue": "gpu",
    "retries": 0,
    "execution_timeout": dt.timedelta(hours=4),
    "pool": os.environ.get("MMRECUN_GPU_POOL", "mmrecun_gpu"),
}
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


def workspace() -> str:
    """Where runs live between steps, as this worker's environment says (``MMRECUN_WORKSPACE``, default ``var/runs``)."""
    return os.environ.get("MMRECUN_WORKSPACE", "var/runs")


def record_failure(context) -> None:
    """Failure callback: record the failed step in the store so the runs index shows it."""
    from tasks.pipeline.staging import record_failure as record

    use_s3_connection()
    record(workspace(), context["dag_run"].run_id, context["ti"].task_id, str(context.get("exception") or "failed"))


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
