"""``mmrecun_unlearn``: on demand (``schedule=None``), unlearn the requests effective at the cutoff.

begin -> ingest -> validate -> fetch_parent -> forget_set -> unlearn (queue ``gpu``) -> evaluate -> report -> publish.
"""

from __future__ import annotations

from airflow.sdk import dag

from mmrecun_common import chain_steps, dag_settings, unlearn_steps
from mmrecun_params import unlearn_params

PARAMS = unlearn_params()


@dag(**dag_settings(PARAMS))
def mmrecun_unlearn():
    """Make the CURRENT model forget what is new since it was made; promote the new version if its gates pass."""
    chain_steps("unlearn", PARAMS, unlearn_steps())


mmrecun_unlearn()
