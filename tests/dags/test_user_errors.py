"""The DAGs' error mapping: a UserError fails the task at once (no retries); anything else is left to Airflow's retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mmrecun_common import user_errors  # dags/ is on sys.path (conftest)
from schemas.errors import BadParameter, ContractError, UserError
from tasks.storage.objects import ChecksumMismatch
from tasks.storage.registry import NoParent, Superseded
from tasks.storage.s3 import StorageError


def raising(error):
    def step(run_dir):
        raise error

    return step


@pytest.mark.parametrize(
    "error",
    [
        ContractError("interactions: missing column 'user_id'"),
        BadParameter("unknown run parameters: ['lr']"),
        NoParent("no promoted version of model 'mgcn' in var/store: run mmrecun_train first"),
        Superseded("CURRENT of 'mgcn' moved to 'b'", "b"),
        UserError("requests waited longer than the deadline"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_user_error_fails_the_task_without_retries(error):
    with pytest.raises(AirflowFailException, match=str(error).split(":")[0]) as info:
        user_errors(raising(error))("run")
    assert info.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        ValueError("could not convert string to float: 'x'"),
        RuntimeError("CUDA error: an illegal memory access was encountered"),
        FileNotFoundError("var/runs/r1/inputs/data/interactions.parquet"),
        StorageError("listing s3://b/data: SlowDown (Please reduce your request rate)"),
        ChecksumMismatch("s3://b/k: stored sha256 0 differs from the written 1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_anything_else_is_left_to_airflows_retries(error):
    with pytest.raises(type(error)) as info:
        user_errors(raising(error))("run")
    assert info.value is error


def test_fetch_parent_without_a_promoted_version_fails_at_once(tmp_path):
    from tasks.pipeline import steps

    run_dir = steps.begin(tmp_path / "runs", "r1", "unlearn", {"data": "d", "store": str(tmp_path / "store")})
    with pytest.raises(AirflowFailException, match="run mmrecun_train first"):
        user_errors(steps.fetch_parent)(run_dir)
