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
    duplicated batch, at ``r x r`` cost: the duplicates of column ``w`` multiply its term of the
    denominator by ``c_w``, and row ``u``'s term is weighted by ``c_u``. Returns a scalar.
    """
    v1 = F.normalize(view1, dim=1) / temperature
    v2 = F.normalize(view2, dim=1)
    c = torch.ones(len(v1), dtype=v1.dtype, device=v1.device) if counts is None else counts.to(v1.dtype)
    return _WeightedNCE.apply(v1, v2, c)


class _WeightedNCE(torch.autograd.Function):
    r"""``sum_u c_u (log sum_w c_w exp(L_uw) - L_uu) / sum_u c_u`` with ``L = a b^T`` ``[r, r]``; gradients in ``a``, ``b``.

    The same value as ``F.cross_entropy(L + log c, arange(r), weight=c)`` plus its constant, in fewer passes
    over the ``r x r`` matrix: the forward keeps the row softmax ``P`` it computes anyway, and the backward
    is ``G = diag(c) (P - I) / sum c`` and two products (``G b``, ``G^T a``), without re-deriving ``P``.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        p = (a @ b.T).add_(c.log())  # [r, r] logits with the column weights as log c_w
        shift = p.amax(dim=1, keepdim=True)
        p.sub_(shift).exp_()
        total = p.sum(dim=1, keepdim=True)
        p.div_(total)  # row softmax P
        lse = (shift + total.log()).squeeze(1)
        ctx.save_for_backward(a, b, c, p)
        return (c * (lse - (a * b).sum(dim=1))).sum() / c.sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        a, b, c, p = ctx.saved_tensors
        weight = c * (grad / c.sum())  # [r]
        g = p * weight.unsqueeze(1)
        g.diagonal().sub_(weight)
        return g @ b, g.T @ a, None


def reverse_bpr_loss(user: torch.Tensor, forgotten: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Reverse BPR (MMRecUN, arXiv 2405.15328, eq. for L_rev): ``-mean log σ(<u,n> - <u,f>)``.

    Minimising it pushes each forgotten item ``f`` below a never-seen item ``n`` for its user: BPR
    with the roles of positive and negative swapped. ``[b, d]`` inputs; returns a scalar.
    """
    return bpr_loss(user, neg, forgotten)
