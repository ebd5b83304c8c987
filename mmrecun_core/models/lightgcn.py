"""LightGCN (He et al., SIGIR 2020), the plain collaborative baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmrecun_core.graphs import GraphBundle
from mmrecun_core.losses import bpr_loss, embedding_l2
from mmrecun_core.models.base import Batch, Embeddings, GraphRecommender, LocalMap, layer_mean, own_weight, rows


@dataclass(frozen=True)
class LightGCNConfig:
    """Hyper-parameters; defaults are MMRec's (embedding 64, 2 layers, reg 1e-4)."""

    embedding_dim: int = 64
    n_layers: int = 2
    reg_weight: float = 1e-4


class LightGCN(GraphRecommender):
    r"""LightGCN: ``E^{(l+1)} = Â E^{(l)}``, final ``E = mean_{l=0..L} E^{(l)}`` (paper eqs. 7-8).

    Loss: BPR on final embeddings + ``reg_weight`` * L2 of the ego embeddings of the batch (eq. 15).
    Content features are ignored (``features`` is accepted so every model is built the same way).
    """

    name = "lightgcn"

    def __init__(
        self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None, config: LightGCNConfig = LightGCNConfig()
    ):
        super().__init__()
        self.n_users, self.n_items, self.config = n_users, n_items, config
        self.user_embedding = nn.Embedding(n_users, config.embedding_dim)
        self.item_embedding = nn.Embedding(n_items, config.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.init_id_rows(self.user_embedding.weight)
        self.init_id_rows(self.item_embedding.weight)

    def propagate(self, graphs: GraphBundle, users: torch.Tensor | None = None, items: torch.Tensor | None = None) -> Embeddings:
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        final_users, final_items = layer_mean(graphs, ego, self.config.n_layers, users, items)
        return Embeddings(
            final_users,
            final_items,
            rows(self.user_embedding.weight, users),
            rows(self.item_embedding.weight, items),
        )

    def local_items(self, graphs: GraphBundle, items: torch.Tensor) -> LocalMap:
        """``E_i + a_i (ego - e_i)`` for the present final embeddings ``E_i`` and rows ``e_i`` of ``items``, ``a_i`` the
        own weight of ``mean_l Â^l`` (``1 / (L + 1)`` without edges); see :class:`LocalMap`."""
        with torch.no_grad():
            e0 = self.item_embedding.weight[items].clone()
            final0 = self.propagate(graphs, items=items).items
            a = own_weight(lambda x: graphs.adj @ x, graphs.adj.shape[0], items + self.n_users, self.config.n_layers, mean=True)

        def final(ego: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
            return rows(final0, which) + rows(a, which).unsqueeze(1) * (ego - rows(e0, which))

        return final

    def training_loss(self, emb: Embeddings, batch: Batch) -> dict[str, torch.Tensor]:
        bpr = bpr_loss(rows(emb.users, batch.user), rows(emb.items, batch.pos), rows(emb.items, batch.neg))
        reg = self.config.reg_weight * embedding_l2(
            rows(emb.ego_users, batch.user), rows(emb.ego_items, batch.pos), rows(emb.ego_items, batch.neg)
        )
        return {"total": bpr + reg, "bpr": bpr, "reg": reg}
