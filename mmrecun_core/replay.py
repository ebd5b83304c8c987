"""Revocation replay: give revoked items the state retraining gives them, without retraining.

On the retain graphs a revoked item has no interaction left and no content neighbour (its content
is missing, so the kNN graphs give it a self-loop only, :mod:`mmrecun_core.graphs`). Its final
embedding is then a function of its own ID row alone (``GraphRecommender.isolated_items``), and
no other user's or item's final embedding depends on that row.

Retraining from scratch (Gold) starts such an item from the initialiser and meets it only as a
sampled negative: in every batch of ``b`` retain interactions, uniform negative sampling draws
about ``b |R| / n_items`` revoked items, each paired with a retain interaction ``(u, j)``, and
BPR pushes ``s(u, i)`` below ``s(u, j)`` (that is reverse BPR on the revoked item, against the
user's own retained item). Its row moves at training's learning rate for as many steps as
training takes, and through its whole final embedding (content and side view alike), which is
why it ends below even the catalogue's never-interacted items, whose side views read their
content neighbours' rows.

The replay runs exactly those steps on the revoked rows and nothing else: Adam at the training
learning rate, ``steps`` = (the parent's best epoch + 1) x batches per epoch of the retain
interactions (the parent's manifest gives both; no Gold is involved), each step drawing
``Binomial(b, |R| / n_items)`` triples of a uniformly drawn retain interaction and a uniformly
drawn revoked item, and the loss the BPR sum over the batch size ``b``, as in training (MGCN's L2
term on these rows is weighted 1e-4 and left out; its contrastive term never sees a negative).
The users' and retained items' final embeddings are held at the unlearned model's: exact for
everything the revoked rows feed into, an approximation of retraining, where they evolve along.
A step is a few dozen operators on ``[k, d]`` tensors (``k`` about 100), run on one CPU thread:
the 1,316 steps of a 5% revocation on TikTok take about two seconds on the 2-core benchmark
machine (``bench/unlearn.py``).
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


def replay_revocations(model: GraphRecommender, graphs: GraphBundle, retain_train: sp.csr_matrix, revoked: np.ndarray,
                       schedule: ReplaySchedule, rng: np.random.Generator) -> dict:
    """Replay retraining's treatment of the ``revoked`` items (int64) on their ID rows, in place; return its facts.

    ``graphs``: the retain graphs, on which ``revoked`` must be isolated (checked: a revoked item with a retain
    interaction raises ``ValueError``). ``retain_train``: CSR ``[n_u, n_i]``. Returns ``steps``, ``triples`` and
    ``seconds``.
    """
    revoked = np.unique(np.asarray(revoked, dtype=np.int64))
    _check_isolated(graphs, retain_train, revoked)
    started = time.perf_counter()
    weight = model.item_embedding.weight
    device = weight.device
    coo = retain_train.tocoo()
    r_users, r_items = (torch.from_numpy(a.astype(np.int64)).to(device) for a in (coo.row, coo.col))
    with torch.no_grad():  # what the revoked rows are pushed against; none of it depends on them
        emb = model.propagate(graphs)
        users, items = emb.users.detach(), emb.items.detach()
    index = torch.from_numpy(revoked).to(device)
    final = model.isolated_items(index)  # ID rows -> final embeddings
    rows = weight.detach()[index].clone().requires_grad_(True)  # [|R|, d], the only thing that moves
    optimizer = torch.optim.Adam([rows], lr=schedule.lr, fused=True)
    steps = schedule.steps(len(r_users))
    p_revoked = len(revoked) / retain_train.shape[1]
    triples = 0
    with _one_cpu_thread():
        for _ in range(steps):
            k = int(rng.binomial(schedule.batch_size, p_revoked))  # 0 still steps: Adam's moments carry on, as in training
            pick = torch.from_numpy(rng.integers(0, len(r_users), k)).to(device)
            drawn, local = torch.from_numpy(rng.integers(0, len(revoked), k)).to(device).unique(return_inverse=True)
            u = users[r_users[pick]]
            pos = (u * items[r_items[pick]]).sum(1)
            neg = (u * final(rows[drawn], drawn)[local]).sum(1)
            loss = -torch.nn.functional.logsigmoid(pos - neg).sum() / schedule.batch_size
            (rows.grad,) = torch.autograd.grad(loss, rows)  # nothing else accumulates a gradient
            optimizer.step()
            triples += k
    with torch.no_grad():
        weight[index] = rows.detach()
    facts = {"steps": steps, "triples": triples, "seconds": time.perf_counter() - started}
    log.info("revocation replay: %d revoked items, %d steps, %d triples, %.2fs", len(revoked), steps, triples, facts["seconds"])
    return facts


def _check_isolated(graphs: GraphBundle, retain_train: sp.csr_matrix, revoked: np.ndarray) -> None:
    """Raise ``ValueError`` unless every ``revoked`` item has no retain interaction and, in every kNN graph, only a
    self-loop and no place in another item's row: otherwise other embeddings depend on its row and a replay is not
    exact (for example graphs built without the ``missing`` flags of :func:`~mmrecun_core.graphs.knn_graph`)."""
    degree = np.asarray(retain_train[:, revoked].sum(axis=0)).ravel()
    if degree.any():
        raise ValueError(f"{int((degree > 0).sum())} revoked items still have retain interactions, e.g. item "
                         f"{int(revoked[degree > 0][0])}: they are not isolated, a replay would not be exact")
    for m, op in graphs.modality.items():
        indptr, indices = op.a.indptr.cpu().numpy(), op.a.indices.cpu().numpy()
        own = (indptr[revoked + 1] - indptr[revoked] == 1) & (indices[np.minimum(indptr[revoked], len(indices) - 1)] == revoked)
        cited = np.isin(indices, revoked).sum()  # a revoked item may appear in its own row only
        if not own.all() or cited != len(revoked):
            bad = revoked[~own][0] if not own.all() else revoked[0]
            raise ValueError(f"modality {m!r}: revoked items still have content neighbours or are neighbours of other "
                             f"items (e.g. item {int(bad)}): the kNN graph was not built with their content missing")


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
