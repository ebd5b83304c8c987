"""The unlearning loop: MMRecUN and the approximate baselines that share its code paths.

Methods (``UnlearnConfig.method``):

* ``mmrecun``: minimise the MMRecUN objective (:func:`~mmrecun_core.unlearning.mmrecun_loss`);
* ``finetune``: keep training on the retain data only (BPR, the model's own loss);
* ``neggrad``: gradient ascent on the forget set's BPR loss (NegGrad).

Every method propagates over the *retain* graphs. An epoch walks the forgotten training
interactions once in shuffled batches, each paired with an equally large batch of retain
interactions. Stopping needs no Gold model: after each epoch the membership-inference AUC of
forgotten interactions against never-seen interactions of the same users is measured on a fixed
sample; the loop stops once it is at most ``0.5 + auc_tolerance`` ("forgotten pairs score like
pairs the model never saw"), or at ``max_epochs``. ``stop_on_criterion=False`` runs exactly
``max_epochs`` (fine-tune on the same budget as MMRecUN).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from mmrecun_core.data import InteractionData
from mmrecun_core.evidence import membership_auc
from mmrecun_core.forget import ForgetSet
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.unlearning import MMRecUNConfig, mmrecun_loss, parent_snapshot

log = logging.getLogger("mmrecun.unlearn")
METHODS = ("mmrecun", "finetune", "neggrad")


@dataclass(frozen=True)
class UnlearnConfig:
    """Settings of one unlearning run; ``objective`` weighs the MMRecUN terms."""

    method: str = "mmrecun"
    objective: MMRecUNConfig = MMRecUNConfig()
    lr: float = 1e-3
    batch_size: int = 2048
    max_epochs: int = 50
    stop_on_criterion: bool = True
    auc_tolerance: float = 0.05
    criterion_sample: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown unlearning method {self.method!r}; choose one of {list(METHODS)}")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")


@dataclass
class UnlearnResult:
    """``stopped_by``: ``criterion`` or ``epoch cap``; ``history``: per epoch loss, AUC and seconds."""

    epochs_run: int
    stopped_by: str
    seconds: float
    criterion_auc: float
    history: list[dict[str, float]] = field(default_factory=list)


def _criterion_pairs(forgotten_users, forgotten_items, sampler, rng, size):
    pick = rng.choice(len(forgotten_users), min(size, len(forgotten_users)), replace=False)
    users = forgotten_users[pick]
    return users, forgotten_items[pick], sampler.sample(users, rng)


@torch.no_grad()
def criterion_auc(model: GraphRecommender, graphs: GraphBundle, users, forgotten, never_seen) -> float:
    """Membership AUC of (users, forgotten) against (users, never_seen) pairs (int64 arrays ``[s]``)."""
    model.eval()
    emb = model.propagate(graphs)
    model.train()
    device = emb.users.device
    u = emb.users[torch.from_numpy(users).to(device)]
    f = (u * emb.items[torch.from_numpy(forgotten).to(device)]).sum(1).cpu().numpy()
    n = (u * emb.items[torch.from_numpy(never_seen).to(device)]).sum(1).cpu().numpy()
    return membership_auc(f, n)


def unlearn(model: GraphRecommender, data: InteractionData, forget: ForgetSet, retain: InteractionData,
            graphs: GraphBundle, config: UnlearnConfig = UnlearnConfig()) -> UnlearnResult:
    """Unlearn ``forget`` from ``model`` (trained on ``data``) in place; ``retain`` / ``graphs``: what remains.

    Returns :class:`UnlearnResult`. Raises ``ValueError`` when the forget set holds no training interaction.
    """
    device = next(model.parameters()).device
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    mask = forget.forgotten_mask(data.train).tocoo()
    f_users, f_items = mask.row.astype(np.int64), mask.col.astype(np.int64)
    if len(f_users) == 0:
        raise ValueError("the forget set removes no training interaction: nothing to unlearn from the model")
    never_seen = NegativeSampler(data.train)  # items the user never had: the reference for "forgotten"
    r_users, r_items = retain.train_pairs()
    retain_sampler = NegativeSampler(retain.train)
    probe = _criterion_pairs(f_users, f_items, never_seen, np.random.default_rng(config.seed + 1), config.criterion_sample)
    parent = parent_snapshot(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    to_device = lambda *arrays: tuple(torch.from_numpy(a).to(device) for a in arrays)  # noqa: E731

    history: list[dict[str, float]] = []
    started = time.perf_counter()
    stopped_by, auc = "epoch cap", float("nan")
    model.train()
    for epoch in range(config.max_epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(f_users))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            fu, fi = f_users[idx], f_items[idx]
            pick = rng.integers(0, len(r_users), len(idx))
            ru, ri = r_users[pick], r_items[pick]
            forget_t = to_device(fu, fi, never_seen.sample(fu, rng))
            retain_t = to_device(ru, ri, retain_sampler.sample(ru, rng))
            if config.method == "mmrecun":
                loss = mmrecun_loss(model, graphs, forget_t, retain_t, parent, config.objective)["total"]
            elif config.method == "finetune":
                loss = model.batch_loss(graphs, *retain_t)["total"]
            else:  # neggrad
                loss = -model.batch_loss(graphs, *forget_t)["bpr"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        seconds = time.perf_counter() - t0
        auc = criterion_auc(model, graphs, *probe)
        history.append({"epoch": epoch, "loss": total, "mia_auc": auc, "seconds": seconds})
        log.info("%s epoch %3d  loss %.4f  membership AUC %.3f  %.2fs", config.method, epoch, total, auc, seconds)
        if config.stop_on_criterion and auc <= 0.5 + config.auc_tolerance:
            stopped_by = "criterion"
            break
    return UnlearnResult(len(history), stopped_by, time.perf_counter() - started, auc, history)


@torch.no_grad()
def erase_user_rows(model: GraphRecommender, users: np.ndarray) -> None:
    """Exact removal of erased users' own parameters: their ID embedding rows become zero."""
    model.user_embedding.weight[torch.from_numpy(np.asarray(users, dtype=np.int64)).to(model.user_embedding.weight.device)] = 0.0
