"""Loss terms shared by the recommenders and (later) the unlearner. Shapes: ``b`` = batch, ``d`` = dim."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(user: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking (Rendle et al. 2009): ``-mean log σ(<u,p> - <u,n>)``.

    ``user``, ``pos``, ``neg``: ``[b, d]``. Returns a scalar.
    """
    diff = (user * pos).sum(dim=1) - (user * neg).sum(dim=1)
    return -F.logsigmoid(diff).mean()


def embedding_l2(*embeddings: torch.Tensor) -> torch.Tensor:
    """MMRec's embedding regulariser: ``sum_i ||e_i||^2 / 2 / b`` over the given ``[b, d]`` tensors. Scalar."""
    batch = embeddings[0].shape[0]
    return sum(e.pow(2).sum() for e in embeddings) / (2 * batch)


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float, counts: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE between two views of the same nodes (MGCN eq. 16; MMRec ``MGCN.InfoNCE``).

    ``view1``, ``view2``: ``[r, d]``, cosine-normalised here; row ``i`` of each is a positive pair and
    every row of ``view2`` is a candidate (the positive included) in the softmax denominator.
    ``counts``: int ``[r]``, how often each row occurs in the batch (None = once each). A batch
    with duplicated rows gives exactly the loss MMRec computes on the ``b x b`` matrix of the
    duplicated batch, at ``r x r`` cost: the duplicates of column ``w`` add ``log c_w`` to its logit,
    and row ``u``'s term is weighted by ``c_u``. Returns a scalar.
    """
    v1 = F.normalize(view1, dim=1) / temperature
    v2 = F.normalize(view2, dim=1)
    logits = v1 @ v2.T  # [r, r]
    target = torch.arange(len(logits), device=logits.device)
    if counts is None:
        return F.cross_entropy(logits, target)
    c = counts.to(logits.dtype)
    # weight=c gives sum_u c_u (lse_u - s'_uu) / sum c with s' = s + log c; s'_uu carries log c_u, added back
    # by the constant sum_u c_u log c_u / sum c (no gradient, kept so the value equals MMRec's).
    return F.cross_entropy(logits + c.log(), target, weight=c) + (c * c.log()).sum() / c.sum()


def reverse_bpr_loss(user: torch.Tensor, forgotten: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Reverse BPR (MMRecUN, arXiv 2405.15328, eq. for L_rev): ``-mean log σ(<u,n> - <u,f>)``.

    Minimising it pushes each forgotten item ``f`` below a never-seen item ``n`` for its user: BPR
    with the roles of positive and negative swapped. ``[b, d]`` inputs; returns a scalar.
    """
    return bpr_loss(user, neg, forgotten)
