"""``mmrecun evaluate``: full-ranking metrics of a model directory on a catalogue's valid and test splits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mmrecun_core.checkpoint import load_model
from mmrecun_core.device import resolve_device
from mmrecun_core.evaluation import evaluate
from schemas.errors import ContractError
from schemas.personal import scrub
from tasks.core_input import core_input
from tasks.inputs.catalogue import load_catalogue
from tasks.paths import check_output

log = logging.getLogger("mmrecun.evaluate")
ID_COLUMNS = {"users": "user_id", "items": "item_id"}


def check_same_ids(kind: str, model_ids: np.ndarray, data_ids: np.ndarray) -> None:
    """Raise :class:`~schemas.errors.ContractError` unless the model's external ids are the catalogue's, index by index.

    A ``None`` in the model's ids is a tombstone (an erased user's id left the model) and matches whatever
    the catalogue still holds at that index.
    """
    known = np.array([x is not None for x in model_ids], dtype=bool) if model_ids.dtype == object else np.ones(len(model_ids), bool)
    if len(model_ids) == len(data_ids):
        model_ids = np.where(known, model_ids, data_ids)
    if len(model_ids) != len(data_ids) or not np.array_equal(model_ids.astype(str), data_ids.astype(str)):
        column = ID_COLUMNS[kind]  # user ids appear only as hashes
        only_model = scrub(column, np.setdiff1d(model_ids.astype(str), data_ids.astype(str))[:5].tolist())
        only_data = scrub(column, np.setdiff1d(data_ids.astype(str), model_ids.astype(str))[:5].tolist())
        raise ContractError(
            f"the catalogue's {kind} differ from the model's: {len(data_ids)} vs {len(model_ids)}; "
            f"only in the data e.g. {only_data}, only in the model e.g. {only_model}"
        )


def load_model_for(model_dir, data_dir, dev):
    """``(model bundle, catalogue)``: the model at ``model_dir`` on ``dev`` and the catalogue at ``data_dir``, whose
    users and items must be the model's (:func:`check_same_ids`)."""
    bundle = load_model(model_dir, dev)
    catalogue = load_catalogue(data_dir)
    check_same_ids("users", bundle.user_ids, catalogue.data.user_ids)
    check_same_ids("items", bundle.item_ids, catalogue.data.item_ids)
    return bundle, catalogue


@core_input()
def evaluate_model(data_dir: str | Path, model_dir: str | Path, json_out: str | Path | None = None, device: str = "auto") -> dict:
    """Evaluate the model at ``model_dir`` on ``data_dir``; return (and optionally write) ``{"valid", "test", ...}``.

    The model scores over its own training graph (it ships with the model); the catalogue supplies
    the held-out positives and must have the same users and items. A ``json_out`` that is a folder, or
    lies inside (or contains) ``data_dir`` or ``model_dir``, is refused before anything is read.
    """
    if json_out is not None:
        check_output(json_out, [data_dir, model_dir], kind="file")
    dev = resolve_device(device)
    bundle, catalogue = load_model_for(model_dir, data_dir, dev)
    data = catalogue.data
    if catalogue.sha256 != bundle.manifest.get("data_sha256"):
        log.warning(
            "%s differs from the data the model was trained on (sha256 %s... vs %s...)",
            data_dir,
            catalogue.sha256[:12],
            str(bundle.manifest.get("data_sha256"))[:12],
        )
    graphs = bundle.graphs(dev)
    excluded = np.flatnonzero(np.isin(data.item_ids.astype(str), np.asarray(bundle.manifest.get("excluded_items", [])).astype(str)))
    result = {
        "model_dir": str(model_dir),
        "model": bundle.model.name,
        "data_sha256": catalogue.sha256,
        "valid": evaluate(bundle.model, graphs, data, "valid", excluded_items=excluded),
        "test": evaluate(bundle.model, graphs, data, "test", excluded_items=excluded),
    }
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2))
    return result
