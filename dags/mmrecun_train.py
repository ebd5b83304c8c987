"""``mmrecun_train``: ingest -> validate -> train -> evaluate -> report -> publish a base model version (on demand)."""

from __future__ import annotations

from airflow.sdk import dag

from mmrecun_common import START, chain_steps, record_failure, train_params, train_steps

PARAMS = train_params()


@dag(schedule=None, start_date=START, catchup=False, max_active_runs=1, tags=["mmrecun"], params=PARAMS,
     default_args={"on_failure_callback": record_failure})
def mmrecun_train():
    """Train a base model on the validated catalogue and publish it with its report."""
    chain_steps("train", PARAMS, train_steps())


mmrecun_train()
