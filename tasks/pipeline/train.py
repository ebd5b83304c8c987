"""``mmrecun train``: train MGCN or LightGCN on a catalogue and write a model directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import platform
from pathlib import Path

import torch

from mmrecun_core.checkpoint import ModelBundle, save_model
from mmrecun_core.device import resolve_device
from mmrecun_core.evaluation import evaluate
from mmrecun_core.graphs import build_graphs, modality_knn
from mmrecun_core.models import MODEL_TYPES
from mmrecun_core.trainer import TrainConfig, fit, seed_everything
from schemas.errors import BadParameter, ContractError
from tasks.core_input import core_input
from tasks.inputs.catalogue import load_catalogue
from tasks.paths import check_output, replacing_folder

log = logging.getLogger("mmrecun.train")
MANIFEST_METRICS = ("recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50", "precision@20", "hit@20")


@core_input()
def train_model(
    data_dir: str | Path,
    model_name: str,
    out_dir: str | Path,
    *,
    max_epochs: int = TrainConfig.max_epochs,
    patience: int = TrainConfig.patience,
    seed: int = TrainConfig.seed,
    device: str = "auto",
) -> dict:
    """Train ``model_name`` on the catalogue at ``data_dir``; write the model directory ``out_dir``.

    ``out_dir`` is replaced only when training succeeded; one that is, holds or lies inside ``data_dir`` is
    refused (:class:`~schemas.errors.OutputOverlapsInput`). Returns a small reference:
    ``{"model_dir", "manifest_sha256", "best_epoch", "valid", "test"}``.
    """
    if model_name not in MODEL_TYPES:
        raise BadParameter(f"unknown model {model_name!r}; choose one of {sorted(MODEL_TYPES)}")
    if max_epochs < 1 or patience < 1:
        raise BadParameter(f"max_epochs and patience must be at least 1, got {max_epochs} and {patience}")
    check_output(out_dir, [data_dir])
    catalogue = load_catalogue(data_dir)
    data = catalogue.data
    dev = resolve_device(device)
    model_cls, config_cls = MODEL_TYPES[model_name]
    model_config = config_cls()
    if model_name == "mgcn" and not data.features:
        raise ContractError(f"{data_dir}: MGCN needs at least one item_features/<modality> table; the catalogue has none")
    log.info(
        "%s: %d users, %d items, %d train / %d valid / %d test interactions, modalities %s, device %s",
        data_dir,
        data.n_users,
        data.n_items,
        data.train.nnz,
        data.valid.nnz,
        data.test.nnz,
        data.modalities or "none",
        dev,
    )

    knn = {}
    if model_name == "mgcn":
        knn = {m: modality_knn(f, model_config.knn_k, dev) for m, f in data.features.items()}
    graphs = build_graphs(data.train, knn, dev)
    seed_everything(seed)
    features = {m: torch.from_numpy(f.matrix) for m, f in data.features.items()} if model_name == "mgcn" else {}
    model = model_cls(data.n_users, data.n_items, features, model_config).to(dev)
    train_config = TrainConfig(max_epochs=max_epochs, patience=patience, seed=seed)
    result = fit(model, graphs, data, train_config)
    test = evaluate(model, graphs, data, "test")
    log.info(
        "best epoch %d of %d: valid recall@20 %.4f, test recall@20 %.4f ndcg@20 %.4f",
        result.best_epoch,
        result.epochs_run,
        result.best_valid["recall@20"],
        test["recall@20"],
        test["ndcg@20"],
    )

    manifest = {
        "model": model_name,
        "seed": seed,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "seconds_per_epoch": result.seconds_per_epoch,
        "train_seconds": result.train_seconds,
        "data_sha256": catalogue.sha256,
        "data_files": catalogue.files,
        "valid": {k: result.best_valid[k] for k in MANIFEST_METRICS},
        "test": {k: test[k] for k in MANIFEST_METRICS},
        "n_eval_users": {"valid": result.best_valid["n_users"], "test": test["n_users"]},
        "train_config": dataclasses.asdict(train_config),
        "modalities": data.modalities if model_name == "mgcn" else [],
        "missing_features": {m: int(f.missing.sum()) for m, f in data.features.items()},
        "device": str(dev),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "history": result.history,
    }
    bundle = ModelBundle(model, data.train, knn, data.user_ids, data.item_ids, manifest)
    with replacing_folder(out_dir) as tmp:
        shas = save_model(bundle, tmp)
    return {
        "model_dir": str(out_dir),
        "manifest_sha256": shas["manifest.json"],
        "best_epoch": result.best_epoch,
        "valid": manifest["valid"],
        "test": manifest["test"],
    }
