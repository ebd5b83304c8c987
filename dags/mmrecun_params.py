"""The parameters of the mmrecun DAGs (JSON Schema, checked when a run is triggered), built from
:data:`schemas.run_params.RUN_PARAMS`.

The locations' defaults come from the environment, read when the DAG file is parsed so that the UI shows them:
``MMRECUN_STORE`` (folder or ``s3://bucket/prefix``, default ``var/store``), ``MMRECUN_DATA`` /
``MMRECUN_REQUESTS`` (input locations), ``MMRECUN_S3_ENDPOINT`` (S3 endpoint; unset: boto3's environment).
Only the standard library, ``airflow.sdk`` and :mod:`schemas.run_params` are imported here: DAG files must parse fast.
"""

from __future__ import annotations

import os

from airflow.sdk import Param

from schemas.run_params import BOTH, RunParam, params_of

STORE = os.environ.get("MMRECUN_STORE", "var/store")
DATA = os.environ.get("MMRECUN_DATA", "var/demo/data")
REQUESTS = os.environ.get("MMRECUN_REQUESTS", "var/demo/requests")
ENDPOINT = os.environ.get("MMRECUN_S3_ENDPOINT") or None
ENVIRONMENT_DEFAULTS = {"store": STORE, "data": DATA, "requests": REQUESTS, "endpoint_url": ENDPOINT}


def schema(p: RunParam) -> dict:
    """The JSON Schema keywords of run parameter ``p`` (``type``, ``enum``, bounds, ``pattern``, ...)."""
    keywords = {
        "type": p.types[0] if len(p.types) == 1 else list(p.types),
        "enum": None if p.choices is None else list(p.choices),
        "exclusiveMinimum" if p.exclusive_minimum else "minimum": p.minimum,
        "maximum": p.maximum,
        "pattern": None if p.pattern is None else f"^(?:{p.pattern})$",
        "minLength": p.min_length,
        "format": p.format,
    }
    return {k: v for k, v in keywords.items() if v is not None}


def _params(kind: str, common: bool) -> dict:
    return {
        name: Param(ENVIRONMENT_DEFAULTS.get(name, p.default), description=p.description, **schema(p))
        for name, p in params_of(kind).items()
        if (p.kinds == BOTH) == common
    }


def common_params() -> dict:
    """Parameters every mmrecun DAG takes."""
    return _params("train", common=True)


def train_params() -> dict:
    """Parameters of ``mmrecun_train``: the common ones and the training ones."""
    return {**common_params(), **_params("train", common=False)}


def unlearn_params() -> dict:
    """Parameters of ``mmrecun_unlearn`` and ``mmrecun_nightly``: the common ones and the unlearning ones."""
    return {**common_params(), **_params("unlearn", common=False)}
