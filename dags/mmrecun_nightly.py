"""``mmrecun_nightly``: every night at 02:00 UTC, unlearn the requests effective at the run's logical date.

The same steps as ``mmrecun_unlearn``; with nothing new since the CURRENT version the run skips
unlearning and evaluation, publishes a report "nothing to forget" with its ledger entry, and ends
cleanly. Requests that waited past the deadline fail the run (task ``check_deadlines``) once it has
applied and published them.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from mmrecun_common import dag_settings
from mmrecun_params import unlearn_params
from mmrecun_tasks import (
    approve,
    begin,
    check_deadlines,
    cleanup,
    evaluate,
    fetch_parent,
    forget_set,
    ingest,
    publish,
    report,
    unlearn,
    validate,
)

PARAMS = unlearn_params()


@dag(**dag_settings(PARAMS, "0 2 * * *"))
def mmrecun_nightly():
    """The nightly batch of requests that took effect since the CURRENT version."""
    plan, alarm, last = forget_set(), check_deadlines(), publish()
    chain(begin("unlearn", PARAMS), ingest(), validate(), fetch_parent(), plan, unlearn(), evaluate(), report(), approve(), last)
    plan >> alarm
    [last, alarm] >> cleanup()


mmrecun_nightly()
