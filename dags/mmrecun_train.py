"""``mmrecun_train``: on demand, train a base model on the validated catalogue and publish it with its report."""

from __future__ import annotations

from airflow.sdk import chain, dag

from mmrecun_common import dag_settings
from mmrecun_params import train_params
from mmrecun_tasks import begin, cleanup, evaluate, ingest, publish, report, train, validate

PARAMS = train_params()


@dag(**dag_settings(PARAMS))
def mmrecun_train():
    """Train a base model on the validated catalogue and publish it with its report."""
    last = publish()
    chain(begin("train", PARAMS), ingest(), validate(), train(), evaluate(registry=False), report(registry=False), last)
    last >> cleanup()


mmrecun_train()
