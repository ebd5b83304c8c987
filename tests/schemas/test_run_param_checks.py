"""The run parameters' table: every default meets its own checks, and ``check`` refuses a bad value of each kind."""

from __future__ import annotations

import pytest

from schemas.errors import BadParameter
from schemas.run_params import KINDS, RUN_PARAMS, check, defaults, params_of, problem


def test_every_default_meets_its_own_checks():
    for name, p in RUN_PARAMS.items():
        assert p.required or problem(p, p.default) is None, name
        assert p.kinds and p.kinds <= set(KINDS) and p.description and "\n" not in p.description, name


@pytest.mark.parametrize("kind", KINDS)
def test_check_fills_every_parameter_of_the_kind_with_its_default(kind):
    full = check({"data": "d"}, kind)
    assert full == {**defaults(kind), "data": "d"}
    assert list(full) == list(params_of(kind))
    assert "seed" in full and full["seed"] == 999


@pytest.mark.parametrize(
    "given,word,message",
    [
        ({"alpha": "high"}, "alpha", "must be a number in [0, 1], got 'high'"),  # type
        ({"alpha": None}, "alpha", "must be a number in [0, 1], got None"),
        ({"dry_run": "yes"}, "dry_run", "must be true or false, got 'yes'"),
        ({"seed": True}, "seed", "must be an integer >= 0, got True"),
        ({"max_epochs": 2.5}, "max_epochs", "must be an integer >= 1 or empty, got 2.5"),
        ({"method": "magic"}, "method", "must be one of ['mmrecun', 'mmrecun-paper', 'finetune', 'neggrad', 'gold'], got 'magic'"),
        ({"alpha": 2.0}, "alpha", "must be a number in [0, 1], got 2.0"),  # bounds
        ({"alpha": float("nan")}, "alpha", "must be a number in [0, 1], got nan"),
        ({"max_epochs": 0}, "max_epochs", "must be an integer >= 1 or empty, got 0"),
        ({"max_epochs": 1001}, "max_epochs", "must be an integer <= 1000 or empty, got 1001"),
        ({"seed": -1}, "seed", "must be an integer >= 0, got -1"),
        ({"gate_retain_ratio": 0.0}, "gate_retain_ratio", "must be a number in (0, 1], got 0.0"),
        ({"gate_revoked_exposure_max": -0.5}, "gate_revoked_exposure_max", "must be a number in [0, 1000], got -0.5"),
        ({"deadline_days": 400}, "deadline_days", "must be an integer <= 366, got 400"),
        ({"model_name": "Bad Name"}, "model_name", "must match"),  # pattern
        ({"device": "tpu"}, "device", "must match"),
        ({"store": ""}, "store", "must be at least 1 character(s) long"),
        ({"cutoff": "yesterday"}, "cutoff", "must be an ISO 8601 date or time, got 'yesterday'"),
    ],
)
def test_check_refuses_a_bad_value_naming_the_parameter_and_the_value(given, word, message):
    with pytest.raises(BadParameter, match=f"^run parameter {word}: ") as caught:
        check({"data": "d", **given}, "unlearn")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_check_refuses_unknown_names_other_kinds_parameters_and_a_missing_data_location():
    with pytest.raises(BadParameter, match=r"^unknown run parameters: \['lr'\]$"):
        check({"data": "d", "lr": 0.1}, "unlearn")
    with pytest.raises(BadParameter, match=r"^not parameters of unlearn runs: \['train_epochs'\]$"):
        check({"data": "d", "train_epochs": 3}, "unlearn")
    with pytest.raises(BadParameter, match=r"^not parameters of train runs: \['method'\]$"):
        check({"data": "d", "method": "gold"}, "train")
    with pytest.raises(BadParameter, match="needs a 'data' location"):
        check({}, "train")
    with pytest.raises(BadParameter, match="unknown run kind 'retrain'"):
        check({"data": "d"}, "retrain")


def test_check_keeps_good_values_and_reads_an_integral_float_as_an_integer():
    full = check({"data": "d", "seed": 7.0, "alpha": 1, "max_epochs": None, "cutoff": "2026-03-01", "device": "cuda:1"}, "unlearn")
    assert full["seed"] == 7 and isinstance(full["seed"], int)
    assert (full["alpha"], full["max_epochs"], full["cutoff"], full["device"]) == (1, None, "2026-03-01", "cuda:1")
