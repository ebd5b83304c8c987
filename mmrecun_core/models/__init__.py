"""Graph recommenders: MGCN (multi-modal) and LightGCN (plain baseline) behind one small interface."""

from __future__ import annotations

from mmrecun_core.models.base import Embeddings, GraphRecommender
from mmrecun_core.models.lightgcn import LightGCN, LightGCNConfig
from mmrecun_core.models.mgcn import MGCN, MGCNConfig

MODEL_TYPES: dict[str, tuple[type[GraphRecommender], type]] = {
    "mgcn": (MGCN, MGCNConfig),
    "lightgcn": (LightGCN, LightGCNConfig),
}

__all__ = ["Embeddings", "GraphRecommender", "LightGCN", "LightGCNConfig", "MGCN", "MGCNConfig", "MODEL_TYPES"]
