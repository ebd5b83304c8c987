"""Model directories: weights + graph inputs (``model.pt``), ``config.json``, ``id_maps.json``, ``manifest.json``.

``model.pt`` holds plain tensors only and is read with ``torch.load(weights_only=True)``: a
checkpoint is untrusted input. It carries the training edges and the kNN graphs, so a model
directory alone reproduces the scores it was evaluated with.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.graphs import GraphBundle, KnnGraph, build_graphs
from mmrecun_core.model_files import FILES, CheckpointError, sha256_file, verify_files
from mmrecun_core.models import MODEL_TYPES, GraphRecommender

FORMAT_VERSION = 1


@dataclass
class ModelBundle:
    """A model with everything needed to score: graph inputs and the external id maps.

    ``train``: CSR ``[n_u, n_i]`` training edges; ``knn``: modality -> :class:`KnnGraph`;
    ``user_ids`` / ``item_ids``: external ids by index; ``manifest``: free-form run facts.
    """

    model: GraphRecommender
    train: sp.csr_matrix
    knn: dict[str, KnnGraph]
    user_ids: np.ndarray
    item_ids: np.ndarray
    manifest: dict[str, Any]

    def graphs(self, device: torch.device | str) -> GraphBundle:
        """Return the :class:`GraphBundle` the model propagates over, on ``device``."""
        return build_graphs(self.train, self.knn, device)


def _json_ids(ids: np.ndarray) -> list:
    return [x.item() if isinstance(x, np.generic) else x for x in ids.tolist()]


def save_model(bundle: ModelBundle, out_dir: str | Path) -> dict[str, str]:
    """Write ``bundle`` to ``out_dir`` (created); return ``{file name: sha256}`` of the written files.

    The manifest is written last and lists the checksum of every other file in ``out_dir`` under
    ``files`` (files written there before, such as ``evidence.json``, included).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = bundle.model
    coo = bundle.train.tocoo()
    state = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_users": torch.from_numpy(coo.row.astype(np.int64)),
        "train_items": torch.from_numpy(coo.col.astype(np.int64)),
        "knn": {m: {"index": g.index.cpu(), "sim": g.sim.cpu()} for m, g in bundle.knn.items()},
    }
    torch.save(state, out / "model.pt")
    features = getattr(model, "features", {})
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "modality_dims": {m: int(f.shape[1]) for m, f in features.items()},
        "hyperparameters": dataclasses.asdict(model.config),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "id_maps.json").write_text(json.dumps({"user_ids": _json_ids(bundle.user_ids), "item_ids": _json_ids(bundle.item_ids)}))
    files = {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.is_file() and p.name != "manifest.json"}
    manifest = {**bundle.manifest, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return {**files, "manifest.json": sha256_file(out / "manifest.json")}


def load_model(model_dir: str | Path, device: torch.device | str = "cpu") -> ModelBundle:
    """Read a model directory written by :func:`save_model`; the model is on ``device`` in eval mode.

    Raises :class:`CheckpointError` naming the problem (missing file, checksum mismatch, unknown model).
    """
    path = Path(model_dir)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"model directory {path} is a file, not a folder")
    if not path.is_dir():
        raise CheckpointError(f"model directory {path} does not exist")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"model directory {path} is incomplete: missing {', '.join(missing)}")
    manifest = json.loads((path / "manifest.json").read_text())
    verify_files(path, manifest)
    config = json.loads((path / "config.json").read_text())
    if config.get("model") not in MODEL_TYPES:
        raise CheckpointError(f"{path}/config.json names unknown model {config.get('model')!r}; known: {sorted(MODEL_TYPES)}")
    model_cls, config_cls = MODEL_TYPES[config["model"]]
    try:
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:  # a pickle with code, or not a torch file at all
        raise CheckpointError(f"{path / 'model.pt'} is not a plain-tensor checkpoint ({str(exc).splitlines()[0]})") from None
    n_users, n_items = config["n_users"], config["n_items"]
    placeholders = {m: torch.zeros(n_items, d) for m, d in config["modality_dims"].items()}
    model = model_cls(n_users, n_items, placeholders, config_cls(**config["hyperparameters"]))
    model.load_state_dict(state["state_dict"])
    ids = json.loads((path / "id_maps.json").read_text())
    train = sp.csr_matrix(
        (np.ones(len(state["train_users"]), dtype=np.float32), (state["train_users"].numpy(), state["train_items"].numpy())),
        shape=(n_users, n_items),
    )
    knn = {m: KnnGraph(g["index"].to(device), g["sim"].to(device)) for m, g in state["knn"].items()}
    return ModelBundle(model.to(device).eval(), train, knn, np.asarray(ids["user_ids"]), np.asarray(ids["item_ids"]), manifest)
