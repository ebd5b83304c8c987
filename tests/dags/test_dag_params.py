"""The DAGs' parameters are the run parameters' table: names, defaults, JSON types, choices, bounds, patterns."""

from __future__ import annotations

import pytest

from schemas.run_params import BOTH, params_of


@pytest.mark.parametrize("kind", ["train", "unlearn"])
def test_every_dag_param_is_the_tables(kind):
    import mmrecun_params  # fresh definitions: a DAG's params keep the last test run's values

    params = (mmrecun_params.train_params if kind == "train" else mmrecun_params.unlearn_params)()
    assert list(params) == [n for n, p in params_of(kind).items() if p.kinds == BOTH] + [
        n for n, p in params_of(kind).items() if p.kinds != BOTH
    ]
    assert set(mmrecun_params.common_params()) == {n for n, p in params_of(kind).items() if p.kinds == BOTH}
    for name, p in params_of(kind).items():
        param, schema = params[name], params[name].schema
        assert param.value == mmrecun_params.ENVIRONMENT_DEFAULTS.get(name, p.default), name
        assert param.description == p.description, name
        assert schema["type"] == (p.types[0] if len(p.types) == 1 else list(p.types)), name
        assert schema.get("enum") == (None if p.choices is None else list(p.choices)), name
        assert schema.get("exclusiveMinimum" if p.exclusive_minimum else "minimum") == p.minimum, name
        assert schema.get("maximum") == p.maximum and schema.get("minLength") == p.min_length, name
        assert schema.get("pattern") == (None if p.pattern is None else f"^(?:{p.pattern})$"), name
        assert schema.get("format") == p.format, name


def test_the_locations_defaults_come_from_the_environment_the_others_from_the_table():
    import os

    import mmrecun_params

    assert mmrecun_params.unlearn_params()["store"].value == os.environ["MMRECUN_STORE"]
    assert params_of("unlearn")["store"].default == "var/store"
    assert mmrecun_params.train_params()["seed"].value == mmrecun_params.unlearn_params()["seed"].value == 999


@pytest.mark.parametrize(
    "conf,word",
    [({"seed": -1}, "seed"), ({"seed": "x"}, "seed"), ({"gate_retain_ratio": 0}, "gate_retain_ratio"), ({"device": "tpu"}, "device")],
)
def test_a_bad_value_is_refused_by_the_dag_as_by_the_table(dagbag, conf, word):
    from airflow.sdk.definitions.param import ParamValidationError

    from schemas.errors import BadParameter
    from schemas.run_params import check

    with pytest.raises(BadParameter, match=f"run parameter {word}: "):
        check({"data": "d", **conf}, "unlearn")
    with pytest.raises(ParamValidationError, match=word):
        dagbag.get_dag("mmrecun_unlearn").test(run_conf=conf)
