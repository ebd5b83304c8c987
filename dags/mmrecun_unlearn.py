"""``mmrecun_unlearn``: on demand (``schedule=None``), unlearn the requests effective at the cutoff.

``unlearn`` and ``train`` run on the ``gpu`` queue; the others on the default queue.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from mmrecun_common import dag_settings
from mmrecun_params import unlearn_params
from mmrecun_tasks import approve, begin, cleanup, evaluate, fetch_parent, forget_set, ingest, publish, report, unlearn, validate

PARAMS = unlearn_params()


@dag(**dag_settings(PARAMS))
def mmrecun_unlearn():
    """Make the CURRENT model forget what is new since it was made; promote the new version if its gates pass."""
    last = publish()
    chain(begin("unlearn", PARAMS), ingest(), validate(), fetch_parent(), forget_set(), unlearn(), evaluate(), report(), approve(), last)
    last >> cleanup()


mmrecun_unlearn()
