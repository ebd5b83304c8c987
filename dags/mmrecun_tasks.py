"""The tasks of the mmrecun DAGs, one factory per step; the DAG files name them and chain them.

Each task runs one step of :mod:`tasks.pipeline.steps` on the run ``<workspace>/<run id>`` that ``begin``
creates, through :mod:`tasks.pipeline.staging` (which stages what the step reads when the workspace is an
object-store prefix); no data passes between tasks. A task's retries, queue and pool are set here:
:mod:`mmrecun_common` says why. Only ``airflow.sdk`` and the standard provider's approval operator are
imported at parse time: DAG files must parse fast.
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mmrecun_common import GPU_STEP, IO_RETRIES, MODELS, NO_RETRY, REGISTRY_POOL, REPORTS, use_s3_connection, user_errors, workspace


def _outcome(name: str, outcome: dict) -> None:
    """What a step's outcome means for the run: failed gates and a lost race fail it (the report is published)."""
    if name == "publish" and outcome["status"] == "FAILED":
        raise AirflowFailException("quality gates failed: the FAILED report is published and CURRENT did not move")
    if name == "publish" and outcome["status"] == "SUPERSEDED":  # a retry of a run that lost the race
        raise AirflowFailException("another run promoted first: the SUPERSEDED report is published; rerun to apply the requests")


def _step(name: str, **task_kwargs):
    """A task that runs step ``name`` of its run (skipped when the step has nothing to do)."""

    @task(task_id=name, **task_kwargs)
    def run(run_id=None) -> None:
        from tasks.pipeline.staging import StepSkipped, run_step

        use_s3_connection()
        try:
            outcome = user_errors(run_step)(workspace(), run_id, name)
        except StepSkipped as skipped:
            raise AirflowSkipException(str(skipped)) from skipped
        _outcome(name, outcome)

    return run()


def begin(kind: str, params: dict):
    """The first task: create the run with its parameters (the run's logical date is the default cutoff)."""

    @task(task_id="begin", **IO_RETRIES)
    def run(params=None, run_id=None, logical_date=None) -> str:
        from tasks.pipeline.steps import begin as start

        use_s3_connection()
        chosen = {k: params[k] for k in names}
        return user_errors(start)(workspace(), run_id, kind, chosen, logical_date and logical_date.isoformat())

    names = tuple(params)
    return run()


def ingest():
    return _step("ingest", **IO_RETRIES)


def validate():
    return _step("validate", **NO_RETRY)


def fetch_parent():
    return _step("fetch_parent", **IO_RETRIES, **REGISTRY_POOL)


def forget_set():
    return _step("forget_set", **NO_RETRY, **REGISTRY_POOL)


def check_deadlines():
    """A leaf beside the chain: overdue requests fail the run loudly while the chain applies and publishes them."""
    return _step("check_deadlines", **NO_RETRY)


def train():
    return _step("train", **GPU_STEP)


def unlearn():
    return _step("unlearn", **GPU_STEP)


def evaluate(registry: bool = True):
    return _step("evaluate", **NO_RETRY, **(REGISTRY_POOL if registry else {}))


def report(registry: bool = True):
    """Also after a skipped evaluate (nothing to forget): the report says so."""
    return _step("report", trigger_rule="none_failed", **NO_RETRY, **(REGISTRY_POOL if registry else {}))


def publish():
    return _step("publish", outlets=[MODELS, REPORTS], trigger_rule="none_failed", **IO_RETRIES, **REGISTRY_POOL)


class ReportApproval(ApprovalOperator):
    """Sign-off before ``CURRENT`` moves, when the run's ``require_approval`` is set (otherwise it passes at once).

    The decision, the approver and the time go into the run (``tasks.pipeline.staging.record_approval``); publish
    then promotes an approved version, or publishes the report as REJECTED and leaves ``CURRENT``. Unlike the plain
    operator a rejection skips nothing: publishing the REJECTED report is part of the run.
    """

    def execute(self, context):
        from tasks.pipeline.staging import approval_request

        use_s3_connection()
        body = approval_request(workspace(), context["run_id"])
        if body is None:
            return None
        self.body = body
        return super().execute(context)

    def execute_complete(self, context, event):
        from tasks.pipeline.staging import record_approval

        answer = HITLOperator.execute_complete(self, context, event)
        user = answer["responded_by_user"] or {}
        use_s3_connection()
        record_approval(
            workspace(),
            context["run_id"],
            answer["chosen_options"] == [self.APPROVE],
            user.get("name") or user.get("id"),
            answer["responded_at"].isoformat(timespec="seconds"),
        )
        return answer


def approve():
    """The sign-off task between report and publish."""
    return ReportApproval(
        task_id="approve", subject="mmrecun: approve the unlearning report of run {{ run_id }}", trigger_rule="none_failed", **NO_RETRY
    )


def cleanup():
    """Teardown: remove the run's personal parts from the workspace (now, or after the kept days). It runs
    whatever happened before and does not decide the run's state."""

    @task(task_id="cleanup", trigger_rule="all_done", **IO_RETRIES)
    def run(run_id=None) -> None:
        from tasks.pipeline.staging import finish

        use_s3_connection()
        finish(workspace(), run_id)

    return run().as_teardown()
