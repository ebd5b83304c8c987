"""The interface every recommender of mmrecun implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from mmrecun_core.graphs import GraphBundle


@dataclass
class Embeddings:
    """Output of one propagation, for a subset of users and items (all of them by default).

    ``users`` ``[u, d]`` and ``items`` ``[i, d]``: final embeddings of the requested users/items, in the
    requested order; the score of (user, item) is their dot product.
    ``ego_users`` ``[u, d]`` / ``ego_items`` ``[i, d]``: their free ID embeddings before propagation.
    ``side`` / ``content``: MGCN's two views ``[u + i, d]`` (users first) for its contrastive loss;
    None for LightGCN.
    """

    users: torch.Tensor
    items: torch.Tensor
    ego_users: torch.Tensor
    ego_items: torch.Tensor
    side: torch.Tensor | None = None
    content: torch.Tensor | None = None

    def pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The scores of the pairs (``users[k]``, ``items[k]``), int64 positions into these embeddings, as NumPy ``[k]``."""
        device = self.users.device
        return (self.users[torch.from_numpy(users).to(device)] * self.items[torch.from_numpy(items).to(device)]).sum(1).cpu().numpy()


@dataclass(frozen=True)
class Batch:
    """A BPR batch in the local indices of one propagation.

    ``users`` / ``items``: unique global indices propagated (int64 ``[u]``, ``[i]``);
    ``user``, ``pos``, ``neg``: int64 ``[b]`` positions into ``users`` / ``items``.
    """

    users: torch.Tensor
    items: torch.Tensor
    user: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor

    @classmethod
    def from_triples(cls, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> "Batch":
        """Build from global int64 ``[b]`` triples (user, positive item, negative item)."""
        u_unique, u_local = torch.unique(users, return_inverse=True)
        i_unique, i_local = torch.unique(torch.cat([pos, neg]), return_inverse=True)
        p_local, n_local = i_local.split([len(pos), len(neg)])
        return cls(u_unique, i_unique, u_local, p_local, n_local)


class LocalMap(Protocol):
    """``final(ego, which)``: final embeddings ``[j, d]`` of the items ``items[which]`` (int64 ``[j]`` positions,
    None = all ``k``) from their ID rows ``ego`` ``[j, d]``; see :meth:`GraphRecommender.local_items`."""

    def __call__(self, ego: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor: ...


class GraphRecommender(nn.Module):
    """A recommender whose embeddings come from propagating over a :class:`GraphBundle`.

    Graphs are inputs, not parameters: the same weights can be propagated over a changed graph
    (the retain graph of an unlearning run) without being rebuilt. ``propagate`` computes rows only
    for the users/items asked for where the model allows it (a BPR batch touches a fraction).
    """

    name: str
    n_users: int
    n_items: int

    @staticmethod
    def init_id_rows(weight: torch.Tensor) -> None:
        """Draw an ID embedding table ``[n, d]`` in place from the initialiser every model uses for its ID rows
        (Xavier-uniform, as MMRec). ``reset_parameters`` draws the user table first, then the item table."""
        nn.init.xavier_uniform_(weight)

    def propagate(self, graphs: GraphBundle, users: torch.Tensor | None = None, items: torch.Tensor | None = None) -> Embeddings:
        """Return :class:`Embeddings` for ``users`` / ``items`` (int64 ``[u]`` / ``[i]``; None = all)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def local_items(self, graphs: GraphBundle, items: torch.Tensor) -> LocalMap:
        """The map from the ID rows of ``items`` (int64 ``[k]``, unique) to their final embeddings over ``graphs``, every
        other ID row held at its present value.

        Differentiable in the rows; at the present rows it gives ``propagate``'s rows of ``items``. Exact in an item's
        own row; another of ``items``' rows enters only at its present value (other nodes' embeddings that read these
        rows are not recomputed either). For items without any edge (a revoked item on the retain graphs) it is
        exact outright.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def training_loss(self, emb: Embeddings, batch: Batch) -> dict[str, torch.Tensor]:
        """Return the named loss terms of ``batch`` given its :class:`Embeddings`; ``total`` is optimised."""
        raise NotImplementedError  # pragma: no cover - abstract

    def batch_loss(self, graphs: GraphBundle, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        """Propagate for the rows of BPR triples (global int64 ``[b]``) and return their :meth:`training_loss`."""
        batch = Batch.from_triples(users, pos, neg)
        return self.training_loss(self.propagate(graphs, batch.users, batch.items), batch)

    @staticmethod
    def score(emb: Embeddings, users: torch.Tensor) -> torch.Tensor:
        """Return scores ``[len(users), i]`` of ``emb``'s items for rows ``users`` (int64) of ``emb.users``."""
        return emb.users[users] @ emb.items.T


def rows(weight: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """``weight[index]``, or ``weight`` itself when ``index`` is None.

    ``index_select`` rather than ``weight[index]``: its gradient is an ``index_add`` instead of an
    accumulating ``index_put`` that sorts the indices first (measurably slower on CPU).
    """
    return weight if index is None else weight.index_select(0, index)


def own_weight(apply, n: int, index: torch.Tensor, layers: int, mean: bool) -> torch.Tensor:
    """The diagonal entries ``(M)_{jj}`` for ``j`` in ``index`` (int64 ``[k]``) of ``M = mean_{l=0..L} A^l`` (``mean``) or
    ``M = A^L`` (else), ``A`` ``[n, n]`` given by ``apply(x)`` = ``A @ x``: how much of a node's own row its propagated
    row holds. Float ``[k]``; one-hot columns are propagated in blocks, so no ``[n, k]`` matrix is held at once."""
    out = []
    block = max(1, (1 << 24) // max(n, 1))
    for start in range(0, len(index), block):
        chunk = index[start : start + block]
        x = torch.zeros(n, len(chunk), device=index.device)
        x[chunk, torch.arange(len(chunk), device=index.device)] = 1.0
        total = x.clone() if mean else None
        for _ in range(layers):
            x = apply(x)
            if mean:
                total += x
        picked = (total / (layers + 1) if mean else x)[chunk, torch.arange(len(chunk), device=index.device)]
        out.append(picked)
    return torch.cat(out) if out else torch.zeros(0, device=index.device)


def layer_mean(
    graphs: GraphBundle, ego: torch.Tensor, n_layers: int, users: torch.Tensor | None, items: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LightGCN propagation (He et al. 2020, eqs. 7-8): rows ``users`` / ``items`` (None = all) of ``mean_{l=0..L} Â^l E``.

    ``ego``: ``E`` ``[n_u + n_i, d]``, users first. Returns ``([u, d], [i, d])``.
    """
    n_users = graphs.user_item.shape[0]
    n_items = len(ego) - n_users
    user_rows = torch.arange(n_users, device=ego.device) if users is None else users
    item_rows = torch.arange(n_items, device=ego.device) if items is None else items
    mean = graphs.adj.power_mean(ego, n_layers, torch.cat([user_rows, item_rows + n_users]))
    return mean.split([len(user_rows), len(item_rows)])
