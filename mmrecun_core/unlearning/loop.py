"""The unlearning loop: MMRecUN, the paper's form of it, and the approximate baselines that share its code paths.

Methods (``UnlearnConfig.method``):

* ``mmrecun``: the MMRecUN objective (:func:`~mmrecun_core.unlearning.objective.mmrecun_loss`) with this
  project's additions, each on by default and each a switch of :class:`~mmrecun_core.unlearning.config.UnlearnConfig` (the unlearning
  benchmark's ablation ladder turns them on one by one):
  the *row redraw* (``reset_own_rows``: the ID rows of erased users, revoked items and items whose
  content was deleted are drawn afresh from the initialiser; erased users' rows are then frozen, as a
  retrained model holds the row of a user without interactions; why: docs/decisions/007-erased-user-rows-fresh-draw.md);
  the *pull withdrawn* (``withdraw_pull``: the users' rows lose their first-order pull towards the revoked items,
  :func:`~mmrecun_core.unlearning.rows.withdraw_revoked_pull`);
  the *replay* (``replay``: the redrawn item rows go through retraining's own steps,
  :mod:`~mmrecun_core.unlearning.replay`);
  *references and levels as retraining scores the forgotten items* (``retrained_references``: an erased
  interaction stays as far above never-seen items as the parent scores held-out interactions with equally popular items,
  not at chance; a revoked item goes below cold items for users drawn by their retain interactions, as retraining meets
  it; :mod:`~mmrecun_core.unlearning.criterion`);
  and the *Gold-free stopping criterion* (``stop_on_criterion``: an epoch walks only the kinds of request
  whose paired membership AUC is above their level + ``auc_tolerance``; none left, the loop stops). With retraining's
  references an erasure pair that is still in its user's top ``rank_cutoff`` goes below the first item out of that
  list, moving only the user (the item stays where the other users have it); once the erasures' AUC is down, only such
  pairs are walked, until their share of the top is at its level too (``erasures@top``;
  why: docs/decisions/005-forgetting-criterion-references.md);
  and *only the request's rows move* (``request_rows_only``: a step moves the ID rows of the users whose
  interactions are erased and of the forgotten and content-deleted items, with :class:`~mmrecun_core.unlearning.row_adam.RowAdam`;
  every other parameter, the shared weights and the content copy included, stays the parent's; why: the same record);
* ``mmrecun-paper``: the objective as the paper writes it, none of the additions, for a fixed number of
  epochs (:data:`~mmrecun_core.unlearning.config.PAPER_EPOCHS` at :data:`~mmrecun_core.unlearning.config.PAPER_LR`;
  the paper states neither, see the decision record ``docs/decisions/002-unlearning-methods.md``);
* ``finetune``: keep training on the retain data only (BPR, the model's own loss);
* ``neggrad``: gradient ascent on the forget set's BPR loss (NegGrad).

Every method propagates over the *retain* graphs. An epoch walks as many forget triples ``(u, f, r)``
as there are forgotten training interactions, shuffled, in batches each paired with an equally large
batch of retain interactions; reverse BPR pushes ``s(u, f)`` below ``s(u, r)``, ``r`` a never-seen item
of ``u``, for a revoked item one from the cold pool (with retraining's references, revocations are item-centric
triples instead, their users drawn by their retain interactions). A forget set
that deletes content only has no forgotten interaction: an epoch then walks as many retain interactions as the
content-deleted items have, and the objective's forget terms are empty. Deleted content leaves the model's own copy of the features
before the first step.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch

from mmrecun_core.data import DataError, InteractionData
from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.unlearning.config import UnlearnConfig
from mmrecun_core.unlearning.criterion import Probe, ReferenceSampler, TopCutoffs, criterion_aucs, criterion_levels, probe_embeddings
from mmrecun_core.unlearning.forget import ForgetSet
from mmrecun_core.unlearning.objective import mmrecun_loss, parent_snapshot
from mmrecun_core.unlearning.replay import replay_rows
from mmrecun_core.unlearning.row_adam import RowAdam
from mmrecun_core.unlearning.rows import (
    TrainedOn,
    check_trained_on,
    delete_model_content,
    frozen_parameters,
    frozen_rows,
    reset_own_rows,
    withdraw_revoked_pull,
)

log = logging.getLogger("mmrecun.unlearn")


@dataclass
class UnlearnResult:
    """``stopped_by``: ``criterion`` or ``epoch cap``; ``criterion_auc``: per kind of request (see
    :func:`~mmrecun_core.unlearning.criterion.criterion_aucs`) at the end, ``initial_auc`` before the first step (after the
    reset, the pull and the replay); ``levels``: each kind's level (:func:`~mmrecun_core.unlearning.criterion.criterion_levels`;
    the criterion holds at level + tolerance); ``history``: per epoch loss, criterion AUCs and seconds; ``replay``: the revocation
    replay's facts (:func:`~mmrecun_core.unlearning.replay.replay_rows`), None without one; ``pull``: those of
    :func:`~mmrecun_core.unlearning.rows.withdraw_revoked_pull`, None without it."""

    epochs_run: int
    stopped_by: str
    seconds: float
    criterion_auc: dict[str, float]
    initial_auc: dict[str, float]
    levels: dict[str, float]
    history: list[dict] = field(default_factory=list)
    replay: dict | None = None
    pull: dict | None = None


def unlearn(
    model: GraphRecommender,
    data: InteractionData,
    forget: ForgetSet,
    retain: InteractionData,
    graphs: GraphBundle,
    config: UnlearnConfig = UnlearnConfig(),
    excluded_items: np.ndarray | None = None,
    trained_on: TrainedOn | None = None,
) -> UnlearnResult:
    """Unlearn ``forget`` from ``model`` (trained on ``data``) in place; ``retain`` / ``graphs``: what remains.

    ``excluded_items``: int64 items revoked by earlier model versions (the cumulative set's may be passed whole):
    the parent has unlearned them already, so they are not unlearned again, but with no retain interaction
    left they must not serve as cold reference items. ``trained_on``: what ``model`` was trained on (its interactions
    and final item embeddings, :class:`~mmrecun_core.unlearning.rows.TrainedOn`), needed when ``config.pulls(forget)``.
    Returns :class:`UnlearnResult`. Raises ``ValueError`` when the forget set holds no training interaction and
    deletes no content, or when ``trained_on`` is needed and missing or of another shape than ``model``.
    """
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    mask = forget.forgotten_mask(data.train).tocoo()
    f_users, f_items = mask.row.astype(np.int64), mask.col.astype(np.int64)
    content = forget.content_items
    if len(f_users) == 0 and len(content) == 0:
        raise DataError("the forget set removes no training interaction and deletes no content: nothing to unlearn from the model")
    reference = ReferenceSampler(data.train, retain.train, forget.items, config.reference_pool, excluded_items)
    revoked = reference.is_revoked(f_items)
    if config.resets_own_rows:  # an erased user's pairs are left to the reset of the user's row (module docstring)
        keep = revoked | ~np.isin(f_users, forget.users)
        f_users, f_items, revoked = f_users[keep], f_items[keep], revoked[keep]
    kinds = [k for k, present in (("erasures", (~revoked).any()), ("revocations", revoked.any())) if present]
    if not kinds and len(content):
        kinds = ["content"]  # no forgotten interaction: epochs of the objective's retain terms (module docstring)
    held_out = retain.valid if config.uses_retrained_references else None  # read only, as model selection reads it
    probe = Probe.draw(f_users, f_items, reference, np.random.default_rng(config.seed + 1), config.criterion_sample, held_out)
    k = config.rank_cutoff
    top_mask = retain.train if held_out is not None else None  # the top of the ranking is judged with retraining's references
    watched = np.unique(np.concatenate([probe.users, f_users[~revoked]]))  # the only users measured at each epoch
    parent_emb = probe_embeddings(model, graphs, np.union1d(watched, probe.level_users))  # the levels read the parent once
    levels = criterion_levels(parent_emb, probe, data.train if held_out is not None else None, k)  # the parent's
    threshold = {kind: level + config.auc_tolerance for kind, level in levels.items()}
    pulls = config.pulls(forget)
    if pulls:
        check_trained_on(trained_on, model)  # before anything changes
    delete_model_content(model, forget, retain)
    step = _Stepper(model, graphs, retain, config)
    started = time.perf_counter()
    if config.resets_own_rows:
        reset_own_rows(model, forget.users, np.union1d(forget.items, content), config.seed)
    fresh = forget.users if config.resets_own_rows else np.empty(0, np.int64)  # redrawn rows: no pull to withdraw
    pull = withdraw_revoked_pull(model, trained_on, forget.items, fresh) if pulls else None
    replay = None
    if config.replays and (len(forget.items) or len(content)):
        replay = replay_rows(model, graphs, retain.train, forget.items, content, config.replay, np.random.default_rng(config.seed + 2))
    parent = optimizer = None  # made at the first epoch: a run the redraw and replay already settle takes no step
    emb, cutoffs, aucs = _measure(model, graphs, probe, watched, f_users[~revoked], top_mask, k)
    initial = aucs  # the reset alone may already meet the criterion
    n_content = int(np.isin(retain.train.indices, content).sum())
    history: list[dict] = []
    model.train()
    with ExitStack() as scope:
        if config.moves_request_rows_only:  # why: docs/decisions/005-forgetting-criterion-references.md
            tables = (model.user_embedding.weight, model.item_embedding.weight)
            scope.enter_context(frozen_parameters(model, keep=tables))  # erased users' rows are not the request's: held
        elif config.resets_own_rows:  # erased users' fresh rows stay as a retrained model holds such rows: untouched
            scope.enter_context(frozen_rows(model.user_embedding.weight, forget.users))
        for epoch in range(config.epochs):
            pending = [kind for kind in kinds if not config.stops or _above(kind, aucs, threshold)]
            if not pending:
                break
            t0 = time.perf_counter()
            if optimizer is None:
                parent = parent_snapshot(model)  # the L2 term's anchor: what trains from here, as it stands
                optimizer = _optimizer(model, config, f_users[~revoked], np.union1d(f_items, content))
            if pending == ["content"]:
                batches = [np.empty(0, np.int64)] * -(-n_content // config.batch_size)
                fu = fi = fr = np.empty(0, np.int64)
                held = np.empty(0, bool)
            else:
                top = None
                if top_mask is not None and "erasures" in pending:
                    broad = aucs["erasures"] > threshold["erasures"]  # else only the top of the ranking is left
                    top = (*cutoffs.leaving(emb, f_users[~revoked], f_items[~revoked]), broad)
                fu, fi, fr, held = _forget_triples(
                    f_users, f_items, revoked, pending, reference, config.uses_retrained_references, top, rng
                )
                order = rng.permutation(len(fu))
                batches = np.array_split(order, -(-len(order) // config.batch_size))
            total = sum(step(optimizer, parent, fu[idx], fi[idx], fr[idx], held[idx], rng) for idx in batches)
            seconds = time.perf_counter() - t0
            emb, cutoffs, aucs = _measure(model, graphs, probe, watched, f_users[~revoked], top_mask, k)
            history.append({"epoch": epoch, "loss": total, "criterion_auc": aucs, "seconds": seconds})
            measured = ", ".join(f"{k} {v:.3f}" for k, v in aucs.items())
            log.info("%s epoch %3d  loss %.4f  criterion %s  %.2fs", config.method, epoch, total, measured, seconds)
    met = all(value <= threshold[key] for key, value in aucs.items())
    stopped_by = "criterion" if config.stops and met else "epoch cap"
    return UnlearnResult(len(history), stopped_by, time.perf_counter() - started, aucs, initial, levels, history, replay, pull)


def _optimizer(model: GraphRecommender, config: UnlearnConfig, users: np.ndarray, items: np.ndarray):
    """Adam over every parameter, or, with ``config.moves_request_rows_only``, over the ID rows of ``users`` and ``items``
    (int64, the request's own: the users of erasure pairs, the forgotten and content-deleted items) alone."""
    if not config.moves_request_rows_only:
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=True)
    device = model.user_embedding.weight.device
    rows = [(model.user_embedding.weight, np.unique(users)), (model.item_embedding.weight, items)]
    return RowAdam([(w, torch.from_numpy(index).to(device)) for w, index in rows], config.learning_rate)


def _above(kind: str, aucs: dict[str, float], threshold: dict[str, float]) -> bool:
    """Whether ``kind`` is still above its threshold, on its AUC or (erasures) the top of the ranking; a kind without a
    measure (content deletion) is not."""
    return any(value > threshold.get(key, 1.0) for key, value in aucs.items() if key.split("@")[0] == kind)


def _measure(model, graphs, probe: Probe, watched: np.ndarray, erasing: np.ndarray, mask, k: int):
    """The model's embeddings now (the ``watched`` users' rows: int64, the probe's and the erasing ones), the top-``k``
    cutoffs of the ``erasing`` users (int64, the users of the erasure pairs, the probe's among them; ranked once, for the
    criterion and for the next epoch's references; None without a ``mask`` or such users) and the criterion's measures
    (:func:`~mmrecun_core.unlearning.criterion.criterion_aucs`)."""
    emb = probe_embeddings(model, graphs, watched)
    cutoffs = TopCutoffs.rank(emb, erasing, mask, k) if mask is not None and len(erasing) else None
    return emb, cutoffs, criterion_aucs(emb, probe, cutoffs)


def _forget_triples(
    f_users: np.ndarray,
    f_items: np.ndarray,
    revoked: np.ndarray,
    pending: list[str],
    reference: ReferenceSampler,
    retrained_references: bool,
    top: tuple[np.ndarray, np.ndarray, bool] | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """One epoch's forget triples (user, forgotten item, reference item), int64 ``[t]`` each, for the ``pending`` kinds only
    (each kind is unlearned until its own criterion holds), and which hold their reference score (bool ``[t]``).
    ``f_users`` / ``f_items``: the forgotten training pairs ``[f]``; ``revoked``: bool ``[f]``, pairs of revoked items;
    ``retrained_references``: revocations as
    :meth:`~mmrecun_core.unlearning.criterion.ReferenceSampler.revocation_triples` (one per such pair) instead of the pairs;
    ``top``: for the erasure pairs, whether each is in its user's top of the ranking now and the first item out of it
    (the held reference of those that are), and whether the others are still pushed below never-seen items (their AUC
    above its threshold); None: never-seen references for all."""
    parts = []
    for kind, mask in (("erasures", ~revoked), ("revocations", revoked)):
        if kind not in pending:
            continue
        if kind == "revocations" and retrained_references:
            n = int(mask.sum())
            parts.append((*reference.revocation_triples(n, rng), np.zeros(n, bool)))
            continue
        u, f = f_users[mask], f_items[mask]
        r, held = reference.sample(u, f, rng), np.zeros(len(u), bool)
        if kind == "erasures" and top is not None:
            in_top, cut, broad = top
            keep = in_top | broad
            u, f, r, held = u[keep], f[keep], np.where(in_top, cut, r)[keep], in_top[keep]
        parts.append((u, f, r, held))
    return tuple(np.concatenate(a) for a in zip(*parts, strict=True))


class _Stepper:
    """One optimiser step of ``config.method`` on a batch of forget triples and an equally large retain batch (a batch of
    ``batch_size`` retain triples when there is no forget triple: a content-only forget set)."""

    def __init__(self, model: GraphRecommender, graphs: GraphBundle, retain: InteractionData, config: UnlearnConfig):
        self.model, self.graphs, self.config = model, graphs, config
        self.device = next(model.parameters()).device
        self.r_users, self.r_items = retain.train_pairs()
        self.retain_sampler = NegativeSampler(retain.train)

    def _tensors(self, *arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(a).to(self.device) for a in arrays)

    def __call__(
        self,
        optimizer: torch.optim.Optimizer,
        parent: dict[str, torch.Tensor],
        fu: np.ndarray,
        fi: np.ndarray,
        fr: np.ndarray,
        held: np.ndarray,
        rng: np.random.Generator,
    ) -> float:
        """Step on forget triples ``(fu, fi, fr)`` (int64 ``[b]``; ``fi`` is pushed below ``fr``, whose score is held where
        ``held``, bool ``[b]``: :func:`~mmrecun_core.losses.reverse_bpr_loss`); returns the loss."""
        pick = rng.integers(0, len(self.r_users), len(fu) or self.config.batch_size)
        ru, ri = self.r_users[pick], self.r_items[pick]
        forget_t = self._tensors(fu, fi, fr)
        retain_t = self._tensors(ru, ri, self.retain_sampler.sample(ru, rng))
        method = self.config.method
        if method in ("mmrecun", "mmrecun-paper"):
            held_t = torch.from_numpy(held).to(self.device) if held.any() else None
            loss = mmrecun_loss(self.model, self.graphs, forget_t, retain_t, parent, self.config.objective, held_t)["total"]
        elif method == "finetune":
            loss = self.model.batch_loss(self.graphs, *retain_t)["total"]
        else:  # neggrad
            loss = -self.model.batch_loss(self.graphs, *forget_t)["bpr"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()
