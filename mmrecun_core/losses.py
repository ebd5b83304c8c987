"""Loss terms shared by the recommenders and the unlearning objective. Shapes: ``b`` = batch, ``d`` = dim."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


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


MIN_TEMPERATURE = 0.025


class _InfoNCE(torch.autograd.Function):
    r"""InfoNCE of unit rows ``a`` ``[r, d]`` (already divided by the temperature ``t``) and ``b`` ``[r, d]``.

    With ``S = a b^T``, row counts ``c`` and ``C = sum c``, the value is
    ``sum_u c_u (log sum_w c_w exp S_uw - S_uu) / C``. ``|S_uw| <= 1/t``, so ``E = exp(S)`` lies in
    ``[exp(-1/t), exp(1/t)]``, inside float32's normal range with room for the row sums whenever
    ``t >= MIN_TEMPERATURE``: no row maximum is needed to keep them finite. (Without it the gradient
    carries float32's absolute rounding error instead of one relative to ``1 - p_uu``, which matters
    only for a saturated softmax at temperatures far below MGCN's 0.2.) The only ``r x r`` work is the
    product and one in-place ``exp``; the row sums are ``E c`` and the backward (differentiable once)
    is two products with ``E``, the softmax's row and column scalings moved onto the ``[r, d]`` factors:
    ``da = k ⊙ (E (c ⊙ b)) - (c / C) ⊙ b`` and ``db = c ⊙ (E^T (k ⊙ a)) - (c / C) ⊙ a``, with
    ``k_u = c_u / (C sum_w c_w E_uw)``.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        e = torch.mm(a, b.T).exp_()  # E [r, r]
        row_sum = e @ counts  # [r]
        total = counts.sum()
        ctx.save_for_backward(a, b, counts, e, counts / (total * row_sum))
        ctx.total = total
        return (counts * (row_sum.log() - (a * b).sum(1))).sum() / total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        a, b, c, e, k = ctx.saved_tensors
        own = (c / ctx.total).unsqueeze(1)
        grad_a = k.unsqueeze(1) * (e @ (c.unsqueeze(1) * b)) - own * b
        grad_b = c.unsqueeze(1) * (e.T @ (k.unsqueeze(1) * a)) - own * a
        return grad * grad_a, grad * grad_b, None


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float, counts: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE between two views of the same nodes (MGCN eq. 16; MMRec ``MGCN.InfoNCE``).

    ``view1``, ``view2``: ``[r, d]``, cosine-normalised here; row ``i`` of each is a positive pair and
    every row of ``view2`` is a candidate (the positive included) in the softmax denominator.
    ``counts``: int ``[r]``, how often each row occurs in the batch (None = once each). A batch
    with duplicated rows gives exactly the loss MMRec computes on the ``b x b`` matrix of the
    duplicated batch, at ``r x r`` cost: the duplicates of column ``w`` multiply its term of the
    denominator by ``c_w``, and row ``u``'s term is weighted by ``c_u``. ``temperature`` must be at
    least ``MIN_TEMPERATURE`` (MGCN's is 0.2). Returns a scalar; see :class:`_InfoNCE` for the arithmetic.
    """
    if temperature < MIN_TEMPERATURE:
        raise ValueError(
            f"InfoNCE temperature {temperature} is below {MIN_TEMPERATURE}: float32 exponentials of its logits would leave the normal range"
        )
    v1 = F.normalize(view1, dim=1) / temperature
    v2 = F.normalize(view2, dim=1)
    c = torch.ones(len(v1), dtype=v1.dtype, device=v1.device) if counts is None else counts.to(v1.dtype)
    return _InfoNCE.apply(v1, v2, c)


def reverse_bpr_loss(user: torch.Tensor, forgotten: torch.Tensor, neg: torch.Tensor, held: torch.Tensor | None = None) -> torch.Tensor:
    """Reverse BPR (MMRecUN, arXiv 2405.15328, eq. for L_rev): ``-mean log σ(<u,n> - <u,f>)``.

    Minimising it pushes each forgotten item ``f`` below a never-seen item ``n`` for its user: BPR
    with the roles of positive and negative swapped. ``[b, d]`` inputs; returns a scalar. ``held``: bool ``[b]``,
    rows where ``<u,n>`` is a level to go below, held where it stands, and only the user moves: ``f`` stays where the
    other users have it (no gradient flows through ``<u,n>`` or ``f``).
    """
    if held is None:
        return bpr_loss(user, neg, forgotten)
    reference = (user * neg).sum(dim=1)
    level = torch.where(held, reference.detach(), reference)
    forgotten = torch.where(held[:, None], forgotten.detach(), forgotten)
    return -F.logsigmoid(level - (user * forgotten).sum(dim=1)).mean()
