"""The MMRecUN objective (Sinha et al., arXiv 2405.15328) on a graph recommender.

``L = α L_revBPR(forget) + (1 - α) L_BPR(retain) - β L_CL(forget) + λ ||θ - θ_parent||²``

* ``L_revBPR``: :func:`~mmrecun_core.losses.reverse_bpr_loss` on (user, forgotten item, reference
  item) triples: forgotten items are pushed below what a retrained model would score them like
  (:mod:`mmrecun_core.unlearning.criterion`): an erased interaction below a never-seen item of its user; a
  revoked item, for users drawn by their retain interactions (not its former users), below one of
  the least-interacted retained items.
* ``L_BPR``: ordinary BPR on triples sampled from the retain training edges, so that what is
  kept stays ranked.
* ``L_CL``: the model's own contrastive term (MGCN's InfoNCE between its two views) on the forget
  batch's users and forgotten items, *subtracted*: the views of forgotten content are pulled apart.
  Zero for models without one (LightGCN). (The users of revocation triples are retain users: their
  views are pulled apart too, at weight ``beta``.)
* ``λ ||θ - θ_parent||²``: anchors every parameter to the parent model so that unlearning moves
  the model no further than it must.

Both batches share one propagation over the *retain* graph (forgotten edges and content removed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmrecun_core.graphs import GraphBundle
from mmrecun_core.losses import bpr_loss, reverse_bpr_loss
from mmrecun_core.models.base import Batch, GraphRecommender, rows


@dataclass(frozen=True)
class MMRecUNConfig:
    """Weights of the objective: ``alpha`` (forget vs retain), ``beta`` (contrastive), ``l2`` (anchor)."""

    alpha: float = 0.5
    beta: float = 0.01
    l2: float = 1e-4

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.beta < 0 or self.l2 < 0:
            raise ValueError(f"beta and l2 must be >= 0, got beta={self.beta}, l2={self.l2}")


def parent_snapshot(model: GraphRecommender) -> dict[str, torch.Tensor]:
    """Detached copies of the model's parameters that train (``requires_grad``), the anchor of the L2 term
    (:func:`anchor_l2` reads the same ones); a frozen one, the content copy of every item say, is not copied."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def anchor_l2(model: GraphRecommender, parent: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Σ ||θ - θ_parent||²`` over every parameter that trains (scalar); a frozen one (``requires_grad`` False) stays the
    parent's and adds nothing."""
    return sum(((p - parent[name]) ** 2).sum() for name, p in model.named_parameters() if p.requires_grad)


def mmrecun_loss(
    model: GraphRecommender,
    graphs: GraphBundle,
    forget: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    retain: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    parent: dict[str, torch.Tensor],
    config: MMRecUNConfig = MMRecUNConfig(),
    held: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The named terms of the MMRecUN objective for one step; ``total`` is minimised.

    ``forget``: global int64 ``[f]`` (user, forgotten item, reference item) triples;
    ``retain``: global int64 ``[r]`` (user, retained item, negative item) triples; ``held``: bool ``[f]``, forget
    triples whose reference score is held where it stands (:func:`~mmrecun_core.losses.reverse_bpr_loss`).
    """
    n_forget = len(forget[0])
    batch = Batch.from_triples(*(torch.cat([f, r]) for f, r in zip(forget, retain, strict=True)))
    emb = model.propagate(graphs, batch.users, batch.items)
    u = rows(emb.users, batch.user)
    p = rows(emb.items, batch.pos)
    n = rows(emb.items, batch.neg)
    zero = torch.zeros((), device=u.device)  # a content-only forget set has no forget triple: its terms vanish
    reverse = reverse_bpr_loss(u[:n_forget], p[:n_forget], n[:n_forget], held) if n_forget else zero
    kept = bpr_loss(u[n_forget:], p[n_forget:], n[n_forget:])
    contrastive = getattr(model, "contrastive_loss", None)
    cl = contrastive(emb, batch.user[:n_forget], batch.pos[:n_forget]) if contrastive and n_forget else zero
    anchor = anchor_l2(model, parent)
    total = config.alpha * reverse + (1 - config.alpha) * kept - config.beta * cl + config.l2 * anchor
    return {"total": total, "reverse_bpr": reverse, "retain_bpr": kept, "contrastive": cl, "anchor_l2": anchor}
