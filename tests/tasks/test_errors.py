"""One error hierarchy: what a user can act on is a UserError (the CLI's exit status 2, the DAGs' failure without
retries); everything else keeps its traceback."""

from __future__ import annotations

import pytest

from mmrecun_core.data import DataError
from mmrecun_core.model_files import CheckpointError
from schemas.errors import BadParameter, ContractError, MissingParent, PathError, StoreConflict, UserError
from tasks.cli import main
from tasks.core_input import BadData, BadModel, core_input
from tasks.pipeline import steps
from tasks.pipeline.run import keep_days, start_run, version_id
from tasks.pipeline.validate import ValidationFailed
from tasks.storage.ledger import LedgerBroken
from tasks.storage.objects import AlreadyExists, BadKey, ChecksumMismatch, Conflict, PublishError, StoreMissing
from tasks.storage.registry import LineageError, NoParent, Superseded
from tasks.storage.s3 import StorageError


@pytest.mark.parametrize(
    "cls,branch",
    [
        (ValidationFailed, ContractError),
        (BadData, ContractError),
        (BadModel, ContractError),
        (BadKey, PathError),
        (StoreMissing, PathError),
        (NoParent, MissingParent),
        (Superseded, StoreConflict),
        (PublishError, StoreConflict),
        (LineageError, UserError),
        (LedgerBroken, UserError),
    ],
)
def test_the_errors_a_user_can_act_on_belong_to_one_hierarchy(cls, branch):
    assert issubclass(cls, branch) and issubclass(branch, UserError)


def test_the_classes_keep_what_callers_catch_them_as():
    assert issubclass(BadData, DataError) and issubclass(BadModel, CheckpointError)
    assert issubclass(StoreMissing, FileNotFoundError) and issubclass(NoParent, FileNotFoundError)
    assert issubclass(Superseded, Conflict) and issubclass(LedgerBroken, ChecksumMismatch)


@pytest.mark.parametrize("cls", [StorageError, ChecksumMismatch, Conflict, AlreadyExists, DataError, CheckpointError])
def test_infrastructure_failures_and_the_cores_own_errors_are_not_user_errors(cls):
    assert not issubclass(cls, UserError)


def test_the_core_boundary_raises_the_cores_errors_again_as_user_errors_with_the_same_message():
    with pytest.raises(BadData, match="^interactions: the table has no rows$") as info, core_input():
        raise DataError("interactions: the table has no rows")
    assert isinstance(info.value.__cause__, DataError)
    with pytest.raises(BadModel, match="incomplete"), core_input():
        raise CheckpointError("model directory m is incomplete: missing model.pt")
    with pytest.raises(NoParent), core_input():  # already a user error: unchanged
        raise NoParent("no promoted version")
    with pytest.raises(ValueError) as info, core_input():  # anything else is not the user's
        raise ValueError("a bug")
    assert not isinstance(info.value, UserError)


def test_a_model_directory_the_core_refuses_is_a_user_error(tmp_path):
    from tasks.pipeline.evaluate import evaluate_model

    with pytest.raises(BadModel, match="does not exist"):
        evaluate_model(tmp_path / "data", tmp_path / "no-model", device="cpu")


def test_bad_parameters_and_settings_are_bad_parameters(tmp_path, monkeypatch):
    with pytest.raises(BadParameter, match="MMRECUN_WORKSPACE_KEEP_DAYS"):
        keep_days({"MMRECUN_WORKSPACE_KEEP_DAYS": "a week"})
    with pytest.raises(BadParameter, match="no usable character"):
        version_id("///")
    with pytest.raises(BadParameter, match="run kind"):
        start_run(tmp_path / "r", "r", "retrain", "mgcn")
    with pytest.raises(BadParameter, match="unknown run parameters"):
        steps.begin(tmp_path, "r1", "unlearn", {"data": "d", "lr": 0.1})
    monkeypatch.setenv("MMRECUN_LOCK_DAYS", "forever")
    with pytest.raises(BadParameter, match="MMRECUN_LOCK_DAYS"):
        steps.begin(tmp_path, "r1", "unlearn", {"data": "d"})
    assert list(tmp_path.iterdir()) == []


def test_an_unlearn_run_without_a_promoted_parent_is_a_missing_parent(tmp_path):
    run_dir = steps.begin(tmp_path / "runs", "r1", "unlearn", {"data": "d", "store": str(tmp_path / "store")})
    with pytest.raises(MissingParent, match="no promoted version of model 'mgcn' .*: run mmrecun_train first"):
        steps.fetch_parent(run_dir)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("invalid literal for int() with base 10: 'x'"),
        KeyError("recall@20"),
        StorageError("putting s3://b/k: SlowDown (Please reduce your request rate)"),
        ChecksumMismatch("s3://b/k: stored sha256 0 differs from the written 1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_command_that_fails_on_anything_but_a_user_error_keeps_its_traceback(monkeypatch, capsys, error):
    import tasks.cli_registry as cli

    def failure(args):
        raise error

    monkeypatch.setattr(cli, "_runs", failure)
    with pytest.raises(type(error)) as info:  # python -m tasks.cli prints its traceback and exits with status 1
        main(["runs", "--store", "nowhere"])
    assert info.value is error and "error:" not in capsys.readouterr().err


@pytest.mark.parametrize("error", [NoParent("no promoted version: run mmrecun_train first"), BadParameter("unknown run parameters")])
def test_every_user_error_exits_2_with_one_line(monkeypatch, capsys, error):
    import tasks.cli_registry as cli

    def failure(args):
        raise error

    monkeypatch.setattr(cli, "_runs", failure)
    assert main(["runs", "--store", "nowhere"]) == 2
    assert capsys.readouterr().err == f"mmrecun runs: error: {error}\n"
