"""Sparse operators for graph propagation: ``A @ X`` with a gradient that uses a precomputed ``A^T``.

PyTorch's generic sparse backward re-derives the transpose on every step; keeping ``A^T`` (or
``A`` itself when it is symmetric) as a CSR tensor makes the backward pass one more SpMM.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


def csr_to_torch(m: sp.spmatrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """Return a float32 ``torch.sparse_csr_tensor`` with the shape and entries of scipy matrix ``m``."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data),
            size=m.shape,
            device=device,
            check_invariants=False,  # built here from a canonical scipy CSR
        )


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, torch.sparse.mm(ctx.a_t, grad)


@dataclass(frozen=True)
class SparseOperator:
    """A fixed sparse matrix ``A`` ``[n, m]`` (CSR) and its transpose ``[m, n]`` (the same tensor if symmetric)."""

    a: torch.Tensor
    a_t: torch.Tensor

    @classmethod
    def from_scipy(cls, m: sp.spmatrix, device: torch.device | str, symmetric: bool = False) -> "SparseOperator":
        a = csr_to_torch(m, device)
        return cls(a, a if symmetric else csr_to_torch(sp.csr_matrix(m).T, device))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.a.shape)  # type: ignore[return-value]

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``A @ x``: ``[n, d]`` for ``x`` ``[m, d]``; differentiable in ``x``."""
        return _SpMM.apply(self.a, self.a_t, x)

    def to(self, device: torch.device | str) -> "SparseOperator":
        a = self.a.to(device)
        return SparseOperator(a, a if self.a_t is self.a else self.a_t.to(device))
