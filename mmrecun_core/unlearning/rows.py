"""An unlearned model's own rows: redrawn from the initialiser, frozen, erased, the content copy it holds, and the
users' rows without the pull of revoked items.

A graph recommender keeps per-user and per-item ID rows (and MGCN a trainable copy of the content
features); these are the parameters a request names directly, handled here exactly, before or
after any gradient step (:mod:`mmrecun_core.unlearning.loop`); the withdrawn pull is a first-order correction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.data import InteractionData
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.unlearning.forget import ForgetSet


@torch.no_grad()
def reset_own_rows(model: GraphRecommender, users: np.ndarray, items: np.ndarray, seed: int) -> None:
    """Redraw the ID embedding rows of ``users`` and ``items`` (int64) from ``model``'s own initialiser, seeded.

    The rows are those ``reset_parameters`` would draw after ``torch.manual_seed(seed)``: the two ID tables are drawn
    afresh, one at a time, in its order (:meth:`GraphRecommender.init_id_rows`), on the CPU (one generator whatever
    the device); nothing else of the model is copied. The global RNG state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, index in (("user_embedding", users), ("item_embedding", items)):
            target = getattr(model, name).weight
            fresh = torch.empty(target.shape, dtype=target.dtype)
            model.init_id_rows(fresh)
            rows = torch.from_numpy(np.asarray(index, dtype=np.int64))
            target[rows.to(target.device)] = fresh[rows].to(target.device)


@dataclass(frozen=True)
class TrainedOn:
    """What a model was trained on, as :func:`withdraw_revoked_pull` reads it: ``train``, CSR ``[n_u, n_i]``, the
    interactions its graphs were built from (for a model that is itself an unlearned version, without what earlier
    versions forgot); ``items``, ``[n_i, d]``, its final item embeddings over those graphs (before any change)."""

    train: sp.csr_matrix
    items: torch.Tensor


def check_trained_on(trained_on: TrainedOn | None, model: GraphRecommender) -> None:
    """Raise ``ValueError`` unless ``trained_on`` is there and its interactions and item embeddings are ``model``'s size."""
    need = f"withdrawing the revoked items' pull needs what the model was trained on (trained_on): [{model.n_users}, {model.n_items}]"
    if trained_on is None:
        raise ValueError(f"{need} interactions and [{model.n_items}, d] item embeddings, got none")
    d = model.item_embedding.weight.shape[1]
    if trained_on.train.shape != (model.n_users, model.n_items) or tuple(trained_on.items.shape) != (model.n_items, d):
        raise ValueError(
            f"{need} interactions and [{model.n_items}, {d}] item embeddings, got {list(trained_on.train.shape)} and "
            f"{list(trained_on.items.shape)}"
        )


@torch.no_grad()
def withdraw_revoked_pull(model: GraphRecommender, trained_on: TrainedOn, revoked: np.ndarray, held: np.ndarray) -> dict:
    r"""Take out of every user's ID row the pull of the ``revoked`` items it was trained on, in place; return its facts.

    A trained user's ID row lies near ``c`` times the mean final embedding of the items it was trained on, ``c`` the
    least-squares fit over all users but ``held`` (``c = <U, M> / <M, M>``, ``M_u = Σ_{i ∈ I(u)} e_i / |I(u)|``). Retraining without
    the revoked items would lack their share of that mean, so user ``u`` loses ``c Σ_{i ∈ I(u) ∩ revoked} e_i / |I(u)|``:
    the first-order part of what its row learned from them (``I(u)``, ``e_i``: ``trained_on``). ``revoked``, ``held``
    (users left as they are and out of the fit: erased users' redrawn rows): int64. Returns ``c``,
    ``users`` (rows moved) and ``mean_shift`` (mean L2 norm of their shift). Holds one ``[n_u, d]`` array (``M``) and the
    moved users' shifts on the CPU (a model on another device adds a host copy of its user rows and of ``items``).
    Why: docs/decisions/002-unlearning-methods.md.
    """
    weight = model.user_embedding.weight
    fitted, items = trained_on.train, trained_on.items.detach().cpu().numpy()
    rows = weight.detach().cpu().numpy()  # on a CPU model a view, not a copy
    degree = np.maximum(np.asarray(fitted.sum(axis=1)).ravel(), 1.0)
    mean = (fitted @ items) / degree[:, None]  # M [n_u, d]
    fit = np.ones(len(mean), bool)
    fit[np.asarray(held, dtype=np.int64)] = False  # the held rows are fresh draws, not what training made of them
    dots, norms = np.einsum("ij,ij->i", rows, mean)[fit], np.einsum("ij,ij->i", mean, mean)[fit]
    del mean
    c = float(dots.sum() / max(float(norms.sum()), 1e-12))
    revoked = np.asarray(revoked, dtype=np.int64)
    touched = fitted[:, revoked].tocsr()  # [n_u, r]
    touched.eliminate_zeros()
    moved = np.setdiff1d(np.flatnonzero(touched.getnnz(axis=1)), np.asarray(held, dtype=np.int64))
    shift = c * (touched[moved] @ items[revoked]) / degree[moved, None]  # [moved, d]
    weight[torch.from_numpy(moved).to(weight.device)] -= torch.from_numpy(shift).to(weight)
    return {"c": c, "users": len(moved), "mean_shift": float(np.linalg.norm(shift, axis=1).mean()) if len(moved) else 0.0}


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
