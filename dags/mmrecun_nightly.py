"""``mmrecun_nightly``: every night at 02:00 UTC, unlearn the requests effective at the run's logical date.

The same steps as ``mmrecun_unlearn``; with nothing new since the CURRENT version the run skips
unlearning and evaluation, publishes a report "nothing to forget" with its ledger entry, and ends
cleanly.
"""

from __future__ import annotations

from airflow.sdk import dag

from mmrecun_common import START, chain_steps, record_failure, unlearn_params, unlearn_steps

PARAMS = unlearn_params()


@dag(schedule="0 2 * * *", start_date=START, catchup=False, max_active_runs=1, tags=["mmrecun"], params=PARAMS,
     default_args={"on_failure_callback": record_failure})
def mmrecun_nightly():
    """The nightly batch of requests that took effect since the CURRENT version."""
    chain_steps("unlearn", PARAMS, unlearn_steps())


mmrecun_nightly()
