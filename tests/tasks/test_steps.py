"""The pipeline's first step refuses a run it could not finish before anything is made."""

import pytest

from tasks.pipeline import steps


def test_begin_refuses_unknown_parameters_and_a_missing_data_location(tmp_path):
    with pytest.raises(ValueError, match=r"unknown run parameters: \['lr'\]"):
        steps.begin(tmp_path, "r1", "unlearn", {"data": "d", "lr": 0.1})
    with pytest.raises(ValueError, match="needs a 'data' location"):
        steps.begin(tmp_path, "r1", "unlearn", {})
    assert list(tmp_path.iterdir()) == []


def test_a_bad_retention_setting_stops_the_run_at_begin(tmp_path, monkeypatch):
    monkeypatch.setenv("MMRECUN_LOCK_MODE", "FOREVER")
    with pytest.raises(ValueError, match="MMRECUN_LOCK_MODE"):
        steps.begin(tmp_path, "r1", "unlearn", {"data": "d"})
    assert list(tmp_path.iterdir()) == []
    run_dir = steps.begin(tmp_path, "r2", "unlearn", {"data": "d", "dry_run": True})  # a dry run publishes nothing
    assert steps.load_run(run_dir)["run_id"] == "r2"
