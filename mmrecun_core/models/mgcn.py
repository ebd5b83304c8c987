"""MGCN: Multi-View Graph Convolutional Network for multimedia recommendation (Yu et al., ACM MM 2023).

Follows MMRec's implementation (enoche/MMRec ``models/mgcn.py``) for any number ``M >= 1`` of
modalities with any names; for ``M = 2`` it computes exactly MMRec's function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmrecun_core.graphs import GraphBundle
from mmrecun_core.losses import bpr_loss, embedding_l2, info_nce
from mmrecun_core.models.base import Batch, Embeddings, GraphRecommender, LocalMap, layer_mean, own_weight, rows


@dataclass(frozen=True)
class MGCNConfig:
    """Hyper-parameters; defaults are MMRec's MGCN on TikTok (embedding 64, reg 1e-4, cl 0.01, k = 10)."""

    embedding_dim: int = 64
    n_ui_layers: int = 2
    n_mm_layers: int = 1
    knn_k: int = 10
    reg_weight: float = 1e-4
    cl_weight: float = 0.01
    cl_temperature: float = 0.2


def _gate(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid())


class MGCN(GraphRecommender):
    r"""MGCN with ``n_users`` users, ``n_items`` items and content ``features`` (modality -> ``[n_i, d_m]``).

    With ``d`` = ``embedding_dim``, ``N = n_u + n_i`` and ``E^{id}_i`` the item ID embeddings:

    * content (trainable, initialised from the features, as MMRec's ``from_pretrained(freeze=False)``):
      ``X_m`` ``[n_i, d_m]``, projected ``X̃_m = W_m X_m + b_m`` ``[n_i, d]``;
    * behaviour-guided purifier (eq. 1): ``Ė_m = E^{id}_i ⊙ σ(W_{g,m} X̃_m + b)`` ``[n_i, d]`` (see :meth:`_purifier_gate`);
    * user-item view (eqs. 4-5): LightGCN over ``Â``, ``n_ui_layers`` layers, mean of layers -> ``C`` ``[N, d]``;
    * item-item view (eqs. 2-3, 6): ``n_mm_layers`` layers over the modality kNN graph ``S_m``, users by
      ``R̂ Ė_m`` -> ``V_m`` ``[N, d]``;
    * behaviour-aware fuser (eqs. 7-11): attention ``α_m = softmax_m(q^T tanh(W V_m + b))`` (shared
      query), common ``V_c = Σ_m α_m V_m``, specific ``V_m - V_c`` gated by the user-item view
      ``σ(W_{p,m} C + b)``, side ``H = (Σ_m gate_m ⊙ (V_m - V_c) + V_c) / (M + 1)``;
    * prediction (eq. 12): ``E = C + H``; score ``<e_u, e_i>``.

    Loss (eqs. 13-17): BPR on ``E`` + ``reg_weight`` · L2 of the batch's final embeddings +
    ``cl_weight`` · (InfoNCE(H_items, C_items) + InfoNCE(H_users, C_users)) at temperature ``cl_temperature``.
    """

    name = "mgcn"

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], config: MGCNConfig = MGCNConfig()):
        super().__init__()
        if not features:
            raise ValueError("MGCN needs at least one content modality")
        d = config.embedding_dim
        self.n_users, self.n_items, self.config = n_users, n_items, config
        self.modalities = list(features)
        self.user_embedding = nn.Embedding(n_users, d)
        self.item_embedding = nn.Embedding(n_items, d)
        self.features = nn.ParameterDict({m: nn.Parameter(f.detach().float().clone()) for m, f in features.items()})
        self.projections = nn.ModuleDict({m: nn.Linear(f.shape[1], d) for m, f in features.items()})
        self.purifiers = nn.ModuleDict({m: _gate(d) for m in features})
        self.preference_gates = nn.ModuleDict({m: _gate(d) for m in features})
        self.query = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The ID embeddings from :meth:`init_id_rows` (users, then items); PyTorch's default for the linear layers."""
        self.init_id_rows(self.user_embedding.weight)
        self.init_id_rows(self.item_embedding.weight)
        for module in [*self.projections.values(), *self.purifiers.values(), *self.preference_gates.values(), self.query]:
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()

    def propagate(self, graphs: GraphBundle, users: torch.Tensor | None = None, items: torch.Tensor | None = None) -> Embeddings:
        """Return :class:`Embeddings` for ``users``/``items`` (None = all).

        Graph propagation always runs over every node (its inputs are global); the per-node fusion
        (attention, gates) runs only on the requested rows, which is what makes a training step cheap.
        """
        item_id = self.item_embedding.weight
        ego = torch.cat([self.user_embedding.weight, item_id])
        content = torch.cat(layer_mean(graphs, ego, self.config.n_ui_layers, users, items))  # C [r, d]

        views = []
        for m in self.modalities:
            purified = item_id * self._purifier_gate(m)  # Ė_m [n_i, d]
            for _ in range(self.config.n_mm_layers):
                purified = graphs.modality[m] @ purified
            views.append(torch.cat([rows(graphs.user_item @ purified, users), rows(purified, items)]))  # V_m [r, d]
        side = self._fuse(content, torch.stack(views, dim=1))  # H [r, d]

        n_u = self.n_users if users is None else len(users)
        final_users, final_items = (content + side).split([n_u, len(content) - n_u])
        return Embeddings(
            final_users, final_items, rows(self.user_embedding.weight, users), rows(item_id, items), side=side, content=content
        )

    def local_items(self, graphs: GraphBundle, items: torch.Tensor) -> LocalMap:
        """The map from the ID rows of ``items`` (int64 ``[k]``, unique) to their final embeddings, every other row held
        (see :class:`LocalMap`).

        ``C`` and each ``V_m`` are linear in the ID rows: with ``Δ = ego - e`` (``e`` the present rows),
        ``C = C⁰ + a Δ`` and ``V_m = V_m⁰ + s_m (Δ ⊙ σ(W_{g,m} X̃_m + b))``, ``a`` the item's own weight in
        ``mean_l Â^l`` and ``s_m`` in ``S_m^{n_mm}``; the fuser works row by row on ``(C, V)``. Without edges
        (a revoked item on the retain graphs: a self-loop of weight 1 in every kNN graph) ``a = 1 / (L + 1)``,
        ``s_m = 1``. The purifier gates are taken now, as constants; a gradient reaches the ID rows and the
        fuser's layers (the replay asks for the rows' alone).
        """
        n_u, n_mm = self.n_users, self.config.n_mm_layers
        with torch.no_grad():
            e0 = self.item_embedding.weight[items].clone()
            gates = torch.stack([self._purifier_gate(m, items) for m in self.modalities], dim=1)  # [k, M, d]
            ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
            c0 = layer_mean(graphs, ego, self.config.n_ui_layers, items[:0], items)[1]  # [k, d]
            v0 = []
            for m in self.modalities:
                purified = self.item_embedding.weight * self._purifier_gate(m)
                for _ in range(n_mm):
                    purified = graphs.modality[m] @ purified
                v0.append(purified[items])
            v0 = torch.stack(v0, dim=1)  # [k, M, d]
            a = own_weight(lambda x: graphs.adj @ x, graphs.adj.shape[0], items + n_u, self.config.n_ui_layers, mean=True)
            s = torch.stack(
                [own_weight(lambda x, op=graphs.modality[m]: op @ x, self.n_items, items, n_mm, mean=False) for m in self.modalities], dim=1
            )  # [k, M]

        def final(ego: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
            delta = ego - rows(e0, which)
            content = rows(c0, which) + rows(a, which).unsqueeze(1) * delta
            v = rows(v0, which) + rows(s, which).unsqueeze(-1) * delta.unsqueeze(1) * rows(gates, which)
            return content + self._fuse(content, v)

        return final

    def _fuse(self, content: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The behaviour-aware fuser (eqs. 7-11): side view ``H`` ``[r, d]`` from ``C`` ``[r, d]`` and the views ``V`` ``[r, M, d]``."""
        attention = torch.softmax(self.query(v).squeeze(-1), dim=1)  # [r, M]
        common = (attention.unsqueeze(-1) * v).sum(dim=1)  # V_c [r, d]
        gates = self._preference_gates(content)  # [r, M, d]
        return ((gates * (v - common.unsqueeze(1))).sum(dim=1) + common) / (len(self.modalities) + 1)

    def _preference_gates(self, content: torch.Tensor) -> torch.Tensor:
        """``σ(W_{p,m} C + b_{p,m})`` for every modality ``m`` at once: ``[r, M, d]`` for ``content`` ``[r, d]``
        (the fuser's preference gates).

        The ``M`` gates' weights are stacked into one ``[M d, d]`` map at each call (the parameters
        stay per modality), so the rows pass through one matrix product instead of ``M``.
        """
        layers = [self.preference_gates[m][0] for m in self.modalities]
        weight = torch.cat([layer.weight for layer in layers])
        bias = torch.cat([layer.bias for layer in layers])
        return torch.sigmoid(torch.nn.functional.linear(content, weight, bias)).view(len(content), len(layers), self.config.embedding_dim)

    def _purifier_gate(self, m: str, items: torch.Tensor | None = None) -> torch.Tensor:
        """``σ(W_g (W_p X_m + b_p) + b_g)`` ``[n_i, d]`` (eq. 1), computed as ``σ((W_g W_p) X_m + (W_g b_p + b_g))``;
        only the rows ``items`` (int64 ``[k]``) when given.

        The two affine maps compose into one (exactly the same function and gradients up to rounding),
        so the ``n_i x d_m`` features pass through one matrix product instead of two, forward and back.
        """
        proj, gate = self.projections[m], self.purifiers[m][0]
        weight = gate.weight @ proj.weight  # [d, d_m]
        bias = gate.weight @ proj.bias + gate.bias  # [d]
        return torch.sigmoid(torch.nn.functional.linear(rows(self.features[m], items), weight, bias))

    def contrastive_loss(self, emb: Embeddings, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """MGCN's self-supervised term (eq. 16): InfoNCE(H, C) over the batch's items plus over its users.

        ``users`` / ``items``: int64 ``[b]`` rows of ``emb.users`` / ``emb.items``, repeats allowed (each
        repeat counts, as in MMRec's ``b x b`` computation; see :func:`info_nce`).
        """
        t = self.config.cl_temperature
        n_u = len(emb.users)
        u, u_count = torch.unique(users, return_counts=True)
        i, i_count = torch.unique(items, return_counts=True)
        i = i + n_u
        return info_nce(rows(emb.side, i), rows(emb.content, i), t, i_count) + info_nce(rows(emb.side, u), rows(emb.content, u), t, u_count)

    def training_loss(self, emb: Embeddings, batch: Batch) -> dict[str, torch.Tensor]:
        u, p, n = rows(emb.users, batch.user), rows(emb.items, batch.pos), rows(emb.items, batch.neg)
        bpr = bpr_loss(u, p, n)
        reg = self.config.reg_weight * embedding_l2(u, p, n)
        cl = self.config.cl_weight * self.contrastive_loss(emb, batch.user, batch.pos)
        return {"total": bpr + reg + cl, "bpr": bpr, "reg": reg, "cl": cl}
