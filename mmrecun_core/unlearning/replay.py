"""Replay: give redrawn item rows the state retraining gives them, without retraining.

Retraining from scratch (Gold) starts every item row from the initialiser and, in every batch of
``b`` retain interactions, moves it where the item is met: as the positive of its own retain
interactions and, through uniform negative sampling, as a negative of about ``b / n_items`` of
them. The replay runs exactly those steps on the rows of a set of items, redrawn beforehand,
and on nothing else: Adam at training's learning rate, ``steps`` = (the parent's best epoch + 1)
x batches per epoch of the retain interactions (the parent's manifest gives both; no Gold is
involved), each step drawing ``Binomial(b, |E_I| / |E|)`` of the items' own retain interactions
(a uniformly drawn negative each) and ``Binomial(b, |I| / n_items)`` triples of a uniformly drawn
retain interaction and a uniformly drawn replayed item as its negative; the loss is the BPR sum
over ``b``, as in training (MGCN's L2 term, weighted 1e-4, and its contrastive term are left out).

The items' final embeddings come from :meth:`~mmrecun_core.models.base.GraphRecommender.local_items`:
exact in their own rows, with everything else held at the unlearned model's present embeddings
(retraining evolves them along; that is the approximation).

* Revoked items must be isolated on the retain graphs (no interaction, no content neighbour;
  checked): the map is then exact, and nothing else reads their rows.
* Items whose content in a modality was deleted keep their interactions: the redraw removes what
  their rows learned from the content, the replay re-learns what the interactions alone teach.

Why: docs/decisions/002-unlearning-methods.md (the replay rung) and
docs/decisions/005-forgetting-criterion-references.md (why revoked rows need it).

A step is a few dozen operators on ``[k, d]`` tensors (``k`` about 100 to 300), run on one CPU thread.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.graphs import GraphBundle
from mmrecun_core.models.base import GraphRecommender
from mmrecun_core.unlearning.row_adam import RowAdam
from mmrecun_core.unlearning.rows import frozen_parameters

log = logging.getLogger("mmrecun.unlearn")


@dataclass(frozen=True)
class ReplaySchedule:
    """Retraining's schedule: ``epochs`` (the parent's best epoch + 1), ``batch_size`` and ``lr`` of its training."""

    epochs: int
    batch_size: int = 2048
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"a replay needs epochs >= 1, batch_size >= 1 and lr > 0, got {self}")

    def steps(self, n_interactions: int) -> int:
        """Optimiser steps of retraining on ``n_interactions`` retain training interactions."""
        return self.epochs * math.ceil(n_interactions / self.batch_size)


def replay_rows(
    model: GraphRecommender,
    graphs: GraphBundle,
    retain_train: sp.csr_matrix,
    revoked: np.ndarray,
    content: np.ndarray,
    schedule: ReplaySchedule,
    rng: np.random.Generator,
) -> dict:
    """Replay retraining's treatment of the rows of the ``revoked`` items and of the items whose ``content`` was deleted
    (int64 each, disjoint), in place; return its facts.

    ``graphs``: the retain graphs, on which ``revoked`` must be isolated (checked: a revoked item with a retain
    interaction or a content neighbour raises ``ValueError``). ``retain_train``: CSR ``[n_u, n_i]``. Returns
    ``steps``, ``triples`` and ``seconds``.
    """
    revoked = np.unique(np.asarray(revoked, dtype=np.int64))
    items = np.union1d(revoked, np.asarray(content, dtype=np.int64))
    _check_isolated(graphs, retain_train, revoked)
    started = time.perf_counter()
    weight = model.item_embedding.weight
    device = weight.device
    coo = retain_train.tocoo()
    r_users, r_items = (torch.from_numpy(a.astype(np.int64)).to(device) for a in (coo.row, coo.col))
    own = np.flatnonzero(np.isin(coo.col, items))  # the replayed items' own retain interactions
    slot = np.full(retain_train.shape[1], -1, np.int64)
    slot[items] = np.arange(len(items))
    own_users, own_slots = (torch.from_numpy(a.astype(np.int64)).to(device) for a in (coo.row[own], slot[coo.col[own]]))
    index = torch.from_numpy(items).to(device)
    with torch.no_grad():  # what the rows are pushed against, held at the present model's
        emb = model.propagate(graphs)
        users, fixed = emb.users.detach(), emb.items.detach()
    final = model.local_items(graphs, index)  # ID rows -> final embeddings
    rows = weight.detach()[index].clone().requires_grad_(True)  # [|I|, d], the only thing that moves
    adam = RowAdam([(rows, None)], schedule.lr)
    steps = schedule.steps(len(r_users))
    p_negative, p_positive = len(items) / retain_train.shape[1], len(own) / max(len(r_users), 1)
    triples = 0
    with _one_cpu_thread(), frozen_parameters(model):  # autograd records only the path to the rows
        for _ in range(steps):
            # as a negative: a drawn retain interaction (u, j) and a replayed item below j (0 still steps, as in training)
            k = int(rng.binomial(schedule.batch_size, p_negative))
            pick = torch.from_numpy(rng.integers(0, len(r_users), k)).to(device)
            negative = torch.from_numpy(rng.integers(0, len(items), k)).to(device)
            u_neg, j = users[r_users[pick]], fixed[r_items[pick]]
            # as a positive: one of the items' own retain interactions (u, i) above a uniformly drawn item
            kp = int(rng.binomial(schedule.batch_size, p_positive)) if len(own) else 0
            if kp:
                mine = torch.from_numpy(rng.integers(0, len(own), kp)).to(device)
                other = torch.from_numpy(rng.integers(0, retain_train.shape[1], kp)).to(device)
                drawn, local = torch.cat([negative, own_slots[mine]]).unique(return_inverse=True)
                e = final(rows[drawn], drawn)[local]
                u_pos = users[own_users[mine]]
                margin = torch.cat([(u_neg * (j - e[:k])).sum(1), (u_pos * (e[k:] - fixed[other])).sum(1)])
            else:  # no own retain interaction drawn (a revoked item has none)
                drawn, local = negative.unique(return_inverse=True)
                margin = (u_neg * (j - final(rows[drawn], drawn)[local])).sum(1)
            loss = -torch.nn.functional.logsigmoid(margin).sum() / schedule.batch_size
            adam.zero_grad()
            loss.backward()  # nothing else accumulates a gradient
            adam.step()
            triples += k + kp
    with torch.no_grad():
        weight[index] = rows.detach()
    facts = {"steps": steps, "triples": triples, "seconds": time.perf_counter() - started}
    log.info(
        "replay: %d revoked and %d content-deleted items, %d steps, %d triples, %.2fs",
        len(revoked),
        len(items) - len(revoked),
        steps,
        triples,
        facts["seconds"],
    )
    return facts


def _check_isolated(graphs: GraphBundle, retain_train: sp.csr_matrix, revoked: np.ndarray) -> None:
    """Raise ``ValueError`` unless every ``revoked`` item has no retain interaction and, in every kNN graph, only a
    self-loop and no place in another item's row: otherwise other embeddings depend on its row and a replay is not
    exact (for example graphs built without the ``missing`` flags of :func:`~mmrecun_core.graphs.knn_graph`)."""
    degree = np.asarray(retain_train[:, revoked].sum(axis=0)).ravel()
    if degree.any():
        raise ValueError(
            f"{int((degree > 0).sum())} revoked items still have retain interactions, e.g. item "
            f"{int(revoked[degree > 0][0])}: they are not isolated, a replay would not be exact"
        )
    for m, op in graphs.modality.items():
        indptr, indices = op.a.indptr.cpu().numpy(), op.a.indices.cpu().numpy()
        own = (indptr[revoked + 1] - indptr[revoked] == 1) & (indices[np.minimum(indptr[revoked], len(indices) - 1)] == revoked)
        cited = np.isin(indices, revoked).sum()  # a revoked item may appear in its own row only
        if not own.all() or cited != len(revoked):
            bad = revoked[~own][0] if not own.all() else revoked[0]
            raise ValueError(
                f"modality {m!r}: revoked items still have content neighbours or are neighbours of other "
                f"items (e.g. item {int(bad)}): the kNN graph was not built with their content missing"
            )


@contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """Run PyTorch's CPU operators on one thread while inside. A replay step is a few dozen operators on ``[100, 64]``
    tensors, which a second thread slows down (about 1.5 against 5 ms a step on the 2-core benchmark machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
