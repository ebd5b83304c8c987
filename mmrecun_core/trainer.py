"""BPR training with early stopping on validation Recall@20 (MMRec's trainer behaviour)."""

from __future__ import annotations

import copy
import logging
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from mmrecun_core.data import DataError, InteractionData
from mmrecun_core.evaluation import evaluate
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.sampling import NegativeSampler

log = logging.getLogger("mmrecun.train")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; defaults are MMRec's (Adam 1e-3, batch 2048, patience 20, cap 1000, seed 999)."""

    lr: float = 1e-3
    batch_size: int = 2048
    max_epochs: int = 1000
    patience: int = 20
    seed: int = 999
    valid_metric: str = "recall@20"


@dataclass
class TrainResult:
    """What a fit produced. ``best_epoch`` is 0-based; ``epoch_seconds`` time the optimisation steps only."""

    best_epoch: int
    epochs_run: int
    best_valid: dict[str, float]
    epoch_seconds: list[float]
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        """Median seconds of one training epoch, evaluation excluded."""
        return statistics.median(self.epoch_seconds)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (all devices) and return the NumPy generator that drives sampling."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def run_epoch(
    model: GraphRecommender,
    graphs: GraphBundle,
    optimizer: torch.optim.Optimizer,
    users: np.ndarray,
    items: np.ndarray,
    sampler: NegativeSampler,
    rng: np.random.Generator,
    batch_size: int,
) -> float:
    """One pass over the training pairs (``users``, ``items``: int64 ``[nnz]``) in shuffled batches; returns the mean loss."""
    device = next(model.parameters()).device
    order = rng.permutation(len(users))
    u_all, p_all = users[order], items[order]
    n_all = sampler.sample(u_all, rng)
    batches = [torch.from_numpy(a).to(device) for a in (u_all, p_all, n_all)]
    total, n_batches = 0.0, 0
    for start in range(0, len(users), batch_size):
        u, p, n = (t[start : start + batch_size] for t in batches)
        loss = model.batch_loss(graphs, u, p, n)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
        n_batches += 1
    mean = total / n_batches
    if not np.isfinite(mean):
        raise FloatingPointError(f"training loss became {mean}: lower the learning rate or check the features")
    return mean


def fit(model: GraphRecommender, graphs: GraphBundle, data: InteractionData, config: TrainConfig = TrainConfig()) -> TrainResult:
    """Train ``model`` with BPR on ``data.train``; keep the weights of the best validation epoch.

    Stops when ``valid_metric`` has not improved for more than ``patience`` consecutive epochs (MMRec's
    rule) or after ``max_epochs``. Selection uses the validation split only. On return the model holds
    the best epoch's weights. Logs one line per epoch (loss, validation metric, seconds).
    """
    if len(data.eval_users("valid")) == 0:
        raise DataError(
            "interactions: no user has both a training and a validation interaction, so early stopping has nothing to select on"
        )
    rng = seed_everything(config.seed)
    users, items = data.train_pairs()
    sampler = NegativeSampler(data.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # one kernel for all parameters (CPU and CUDA)
    best, best_epoch, best_state, stale = -np.inf, -1, None, 0
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    started = time.perf_counter()
    for epoch in range(config.max_epochs):
        model.train()
        t0 = time.perf_counter()
        loss = run_epoch(model, graphs, optimizer, users, items, sampler, rng, config.batch_size)
        epoch_seconds.append(time.perf_counter() - t0)
        valid = evaluate(model, graphs, data, "valid")
        score = valid[config.valid_metric]
        history.append({"epoch": epoch, "loss": loss, config.valid_metric: score, "seconds": epoch_seconds[-1]})
        improved = score > best
        if improved:
            best, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            best_valid = valid
        else:
            stale += 1
        log.info(
            "epoch %4d  loss %.4f  valid %s %.4f%s  %.2fs",
            epoch,
            loss,
            config.valid_metric,
            score,
            " *" if improved else "",
            epoch_seconds[-1],
        )
        if stale > config.patience:
            break
    model.load_state_dict(best_state)
    return TrainResult(best_epoch, len(history), best_valid, epoch_seconds, time.perf_counter() - started, history)
