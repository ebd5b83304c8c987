"""The run parameters' table agrees with the command line's options, the run record, the gates and mmrecun_core;
a run's seed reaches the training and unlearning it makes."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import pytest

from schemas.run_params import GATE_PREFIX, KINDS, RUN_PARAMS, params_of
from tasks.pipeline import steps

LOGICAL_DATE = "2026-03-01T02:00:00+00:00"


def commands() -> dict[str, argparse.ArgumentParser]:
    from tasks.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _accepts(action, text: str) -> bool:
    try:
        action.type(text)
    except argparse.ArgumentTypeError:
        return False
    return True


def _edges(p) -> list[tuple[str, bool]]:
    """Texts at and beyond the bounds of ``p``, with whether its option must accept them."""
    step = 1 if "integer" in p.types else 1e-6
    edges = []
    if p.minimum is not None:
        edges += [(repr(p.minimum), not p.exclusive_minimum), (repr(p.minimum - step), False), (repr(p.minimum + step), True)]
    if p.maximum is not None:
        edges += [(repr(p.maximum), True), (repr(p.maximum + step), False)]
    return edges


@pytest.mark.parametrize("command", ["train", "unlearn", "validate", "forget-set", "report", "evaluate"])
def test_each_commands_run_options_are_the_tables(command):
    from tasks.cli import RUN_OPTIONS

    actions = {a.dest: a for a in commands()[command]._actions}
    assert RUN_OPTIONS[command]
    for name in RUN_OPTIONS[command]:
        p, action = RUN_PARAMS[name], actions[name]
        assert action.option_strings == [p.cli] and action.default == p.default and action.help == p.description, name
        assert action.required == p.required and action.choices == p.choices, name
        if p.types == ("boolean",):
            assert action.const is True and action.nargs == 0, name
            continue
        for text, accepted in _edges(p):
            assert _accepts(action, text) == accepted, (name, text)
        for choice in p.choices or ():
            assert _accepts(action, choice), (name, choice)
        if p.choices:
            assert not _accepts(action, "magic"), name


def test_every_run_parameter_with_an_option_spelling_is_an_option_of_some_command():
    from tasks.cli import RUN_OPTIONS

    spelled = {name for name, p in RUN_PARAMS.items() if p.cli}
    assert spelled == {name for names in RUN_OPTIONS.values() for name in names}


def test_a_bad_option_value_is_a_one_line_usage_error_naming_the_bound(capsys):
    from tasks.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", "d", "--out", "o", "--epochs", "1001"])
    assert exit_.value.code == 2
    assert "argument --epochs: must be an integer <= 1000, got '1001'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_run_json_holds_every_parameter_of_the_kind_at_its_default(tmp_path, kind):
    run = steps.load_run(steps.begin(tmp_path, f"r-{kind}", kind, {"data": "d"}, LOGICAL_DATE))
    assert set(run["params"]) == set(params_of(kind))
    for name, p in params_of(kind).items():
        expected = {"data": "d", "cutoff": LOGICAL_DATE}.get(name, p.default)
        assert run["params"][name] == expected, name


def test_the_gates_defaults_and_fields_are_the_tables():
    from tasks.reporting.gates import Gates

    table = {name.removeprefix(GATE_PREFIX): p.default for name, p in RUN_PARAMS.items() if name.startswith(GATE_PREFIX)}
    assert asdict(Gates()) == table
    assert Gates.from_params({**{GATE_PREFIX + k: 0.5 for k in table}, "seed": 1}) == Gates(**dict.fromkeys(table, 0.5))


def test_the_tables_methods_and_models_are_mmrecun_cores():
    from mmrecun_core.models import MODEL_TYPES
    from mmrecun_core.unlearning.config import METHODS as CORE_METHODS
    from tasks.pipeline.unlearn import METHODS

    assert RUN_PARAMS["method"].choices == METHODS == (*CORE_METHODS, "gold")
    assert RUN_PARAMS["model"].choices == tuple(MODEL_TYPES)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_runs_seed_reaches_training_and_unlearning(tmp_path, monkeypatch, seed):
    import tasks.pipeline.train as train
    import tasks.pipeline.unlearn as unlearn

    calls = {}

    def fake_train(data, model, out, **kwargs):
        calls["train"] = kwargs
        return {"best_epoch": 0, "valid": {"recall@20": 0.0}}

    def fake_unlearn(data, parent, forget, out, **kwargs):
        calls["unlearn"] = kwargs
        return {"evidence": {"forget_recall@20": 0.0, "retain_test_recall@20": 0.0, "wall_s": 0.0}}

    monkeypatch.setattr(train, "train_model", fake_train)
    monkeypatch.setattr(unlearn, "unlearn_model", fake_unlearn)
    for kind in KINDS:
        run_dir = steps.begin(tmp_path, f"{kind}-{seed}", kind, {"data": "d", "seed": seed, "dry_run": True}, LOGICAL_DATE)
        assert steps.load_run(run_dir)["params"]["seed"] == seed
        getattr(steps, kind)(run_dir)
        assert calls[kind]["seed"] == seed, kind


def test_the_train_command_states_the_trainers_patience():
    from mmrecun_core.trainer import TrainConfig

    patience = next(a for a in commands()["train"]._actions if "--patience" in a.option_strings)
    assert patience.default is None and f"default: {TrainConfig.patience}," in patience.help  # None: the trainer's own


def test_the_command_line_loads_no_torch_until_a_command_needs_it():
    import subprocess
    import sys

    probe = "import sys, tasks.cli; print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"  # --help, runs, rollback and gc answer in a fraction of a second


def test_validation_loads_no_torch():
    import subprocess
    import sys

    probe = "import sys, tasks.pipeline.validate; print('torch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"  # it hashes its inputs (mmrecun_core.model_files) and loads no model
