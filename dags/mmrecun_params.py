"""The parameters of the mmrecun DAGs (JSON Schema, checked when a run is triggered).

Their defaults come from the environment, read when the DAG file is parsed so that the UI shows them:
``MMRECUN_STORE`` (folder or ``s3://bucket/prefix``, default ``var/store``), ``MMRECUN_DATA`` /
``MMRECUN_REQUESTS`` (input locations), ``MMRECUN_S3_ENDPOINT`` (S3 endpoint; unset: boto3's environment).
Only the standard library and ``airflow.sdk`` are imported here: DAG files must parse fast.
"""

from __future__ import annotations

import os

from airflow.sdk import Param

STORE = os.environ.get("MMRECUN_STORE", "var/store")
DATA = os.environ.get("MMRECUN_DATA", "var/demo/data")
REQUESTS = os.environ.get("MMRECUN_REQUESTS", "var/demo/requests")
ENDPOINT = os.environ.get("MMRECUN_S3_ENDPOINT") or None
LOCATION = {"type": "string", "minLength": 1}
MODEL_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$"}


def train_params() -> dict:
    return {
        **common_params(),
        "model": Param("mgcn", enum=["mgcn", "lightgcn"]),
        "train_epochs": Param(1000, type="integer", minimum=1, maximum=1000, description="epoch cap (early stopping decides)"),
    }


def common_params() -> dict:
    """Parameters every mmrecun DAG takes (JSON Schema checked when the run is triggered)."""
    return {
        "data": Param(DATA, **LOCATION, description="interactions + item_features: folder or s3://bucket/prefix"),
        "store": Param(STORE, **LOCATION, description="where models, reports and the ledger are published"),
        "endpoint_url": Param(ENDPOINT, type=["null", "string"], description="S3 endpoint (empty: boto3's environment)"),
        "model_name": Param("mgcn", **MODEL_NAME, description="registry name of the model"),
        "device": Param("auto", type="string", pattern="^(auto|cpu|cuda(:[0-9]+)?)$"),
        "dry_run": Param(False, type="boolean", description="run every step but publish"),
        "gate_retain_ratio": Param(
            0.95, type="number", minimum=0, maximum=1, description="gate: retain validation Recall@20 >= this share of the original model's"
        ),
        "gate_erasure_auc_max": Param(
            0.70, type="number", minimum=0, maximum=1, description="gate: AUC of erased against held-out interactions of the same users"
        ),
        "gate_revoked_exposure_max": Param(
            0.01, type="number", minimum=0, description="gate: revoked items per user in the raw model's top-20, before the serving filter"
        ),
        "gate_content_tolerance": Param(
            0.05, type="number", minimum=0, maximum=1, description="gate: content trace above the retained data's own, at most"
        ),
        "gate_forget_recall_max": Param(
            None, type=["null", "number"], minimum=0, maximum=1, description="gate: optional ceiling on forget Recall@20"
        ),
        "deadline_days": Param(
            30,
            type="integer",
            minimum=1,
            maximum=366,
            description="an effective request waiting longer than this is overdue (GDPR Art. 12(3): one month)",
        ),
    }


def unlearn_params() -> dict:
    return {
        **common_params(),
        "requests": Param(REQUESTS, **LOCATION, description="licence_revocations / erasure_requests: folder or s3://"),
        "cutoff": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="take requests effective at this time (empty: the run's logical date)",
        ),
        "method": Param("mmrecun", enum=["mmrecun", "mmrecun-paper", "finetune", "neggrad", "gold"]),
        "alpha": Param(0.5, type="number", minimum=0, maximum=1, description="MMRecUN weight of reverse BPR vs retain BPR"),
        "max_epochs": Param(None, type=["null", "integer"], minimum=1, maximum=1000),
        "run_gold": Param(False, type="boolean", description="also retrain from scratch (Gold) and compare"),
        "require_approval": Param(
            False, type="boolean", description="wait for a person to approve the report in the UI before CURRENT moves"
        ),
    }
