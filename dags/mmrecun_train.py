"""``mmrecun_train``: ingest -> validate -> train -> evaluate -> report -> publish a base model version (on demand)."""

from __future__ import annotations

from airflow.sdk import dag

from mmrecun_common import chain_steps, dag_settings, train_steps
from mmrecun_params import train_params

PARAMS = train_params()


@dag(**dag_settings(PARAMS))
def mmrecun_train():
    """Train a base model on the validated catalogue and publish it with its report."""
    chain_steps("train", PARAMS, train_steps())


mmrecun_train()
