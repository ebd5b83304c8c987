"""An unlearned model's own rows: redrawn from the initialiser, frozen, erased, and the content copy it holds.

A graph recommender keeps per-user and per-item ID rows (and MGCN a trainable copy of the content
features); these are the parameters a request names directly, handled here exactly, before or
after any gradient step (:mod:`mmrecun_core.unlearning.loop`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from mmrecun_core.data import InteractionData
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.unlearning.forget import ForgetSet


@torch.no_grad()
def reset_own_rows(model: GraphRecommender, users: np.ndarray, items: np.ndarray, seed: int) -> None:
    """Redraw the ID embedding rows of ``users`` and ``items`` (int64) from ``model``'s own initialiser, seeded.

    The fresh draw is made on the CPU (one generator whatever the device), the global RNG state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = copy.deepcopy(model).cpu()
        fresh.reset_parameters()
    for name, index in (("user_embedding", users), ("item_embedding", items)):
        target = getattr(model, name).weight
        rows = torch.from_numpy(np.asarray(index, dtype=np.int64))
        target[rows.to(target.device)] = getattr(fresh, name).weight[rows].to(target.device)


@contextmanager
def frozen_rows(weight: torch.Tensor, rows: np.ndarray) -> Iterator[None]:
    """While inside, the gradient of ``rows`` (int64) of ``weight`` ``[n, d]`` is zero, so Adam leaves them as they are."""
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(weight.device)
    handle = weight.register_hook(lambda grad: grad.index_fill(0, index, 0.0))
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def frozen_parameters(model: torch.nn.Module, keep: tuple[torch.Tensor, ...] = ()) -> Iterator[None]:
    """While inside, no parameter of ``model`` but those in ``keep`` requires a gradient: autograd records only the
    path to what moves, and nothing else is stepped. Restores each parameter's ``requires_grad`` on leaving."""
    flags = [(p, p.requires_grad) for p in model.parameters() if all(p is not k for k in keep)]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@torch.no_grad()
def delete_model_content(model: GraphRecommender, forget: ForgetSet, retain: InteractionData) -> None:
    """Deleted content leaves the model's own (trainable) copy of the features: the rows of the items whose content
    ``forget`` deletes take ``retain``'s rows (the modality mean, as a missing feature). A model without content
    features (LightGCN) is left as it is."""
    for m, p in getattr(model, "features", {}).items():
        gone = forget.deleted_content(m)  # only these rows travel to the model's device
        p[torch.from_numpy(gone).to(p.device)] = torch.from_numpy(retain.features[m].matrix[gone]).to(p.device)


@torch.no_grad()
def erase_user_rows(model: GraphRecommender, users: np.ndarray) -> None:
    """Exact removal of erased users' own parameters: their ID embedding rows become zero."""
    model.user_embedding.weight[torch.from_numpy(np.asarray(users, dtype=np.int64)).to(model.user_embedding.weight.device)] = 0.0
