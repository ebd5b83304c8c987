"""Sparse operators for graph propagation: ``A @ X`` with a gradient that uses a precomputed ``A^T``.

The product is computed as a weighted embedding-bag sum: row ``r`` of ``A @ X`` is the sum of
``A[r, c] * X[c]`` over the stored columns ``c`` of row ``r``, which is exactly what
``torch.nn.functional.embedding_bag(mode="sum", per_sample_weights=...)`` computes from CSR's
``indptr`` / ``indices`` / ``values``. On CPU that kernel is faster than ``torch.sparse.mm`` on the
TikTok graphs (``bench/kernels.py``; figures in BENCHMARKS.md); PyTorch provides it on CUDA too.
PyTorch's generic sparse backward would re-derive the transpose on every step; keeping ``A^T`` (or
``A`` itself when it is symmetric) makes the backward pass one more product of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class CSR:
    """A fixed float32 CSR matrix ``[n_rows, n_cols]`` as three tensors on one device.

    ``indptr`` int64 ``[n_rows + 1]``, ``indices`` int64 ``[nnz]``, ``values`` float32 ``[nnz]``.
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor
    n_cols: int

    @classmethod
    def from_scipy(cls, m: sp.spmatrix, device: torch.device | str = "cpu") -> "CSR":
        m = sp.csr_matrix(m, dtype=np.float32)
        m.sum_duplicates()  # canonical: sorted, one entry per position
        return cls(*(torch.from_numpy(a).to(device) for a in (m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data)), m.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.n_cols

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``self @ x`` ``[n_rows, d]`` for dense ``x`` ``[n_cols, d]`` (rows without entries are 0).

        Not differentiable itself (``x`` is detached, which keeps PyTorch on its forward-only kernel);
        :class:`SparseOperator` supplies the gradient.
        """
        return F.embedding_bag(self.indices, x.detach(), self.indptr, mode="sum", per_sample_weights=self.values, include_last_offset=True)

    def to(self, device: torch.device | str) -> "CSR":
        return CSR(self.indptr.to(device), self.indices.to(device), self.values.to(device), self.n_cols)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, a: CSR, a_t: CSR) -> torch.Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return a.matmul(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return ctx.a_t.matmul(grad.contiguous()), None, None


class _PowerMean(torch.autograd.Function):
    """``mean_{l=0..L} (A^l x)[index]``; the backward is ``sum_l (A^T)^l G`` with ``G`` the scattered gradient.

    Written out so that no ``[n, d]`` intermediate beyond the ``L`` products is kept or built in the
    forward pass (only the ``index`` rows are summed) and the backward accumulates in place. Like
    :class:`_SpMM` it is differentiable once (a second derivative raises).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, op: "SparseOperator", n_layers: int, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.op, ctx.n_layers, ctx.n_rows = op, n_layers, len(x)
        ctx.save_for_backward(index)
        h, total = x, x.index_select(0, index)
        for _ in range(n_layers):
            h = op.a.matmul(h)
            total += h.index_select(0, index)
        return total.div_(n_layers + 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (index,) = ctx.saved_tensors
        total = power = grad.new_zeros(ctx.n_rows, grad.shape[1]).index_add_(0, index, grad, alpha=1.0 / (ctx.n_layers + 1))
        for _ in range(ctx.n_layers):
            power = ctx.op.a_t.matmul(power)  # (A^T)^l G, computed before G's storage is added to
            total += power
        return total, None, None, None


@dataclass(frozen=True)
class SparseOperator:
    """A fixed sparse matrix ``A`` ``[n, m]`` and its transpose ``[m, n]`` (the same object if symmetric)."""

    a: CSR
    a_t: CSR

    @classmethod
    def from_scipy(cls, m: sp.spmatrix, device: torch.device | str, symmetric: bool = False) -> "SparseOperator":
        a = CSR.from_scipy(m, device)
        return cls(a, a if symmetric else CSR.from_scipy(sp.csr_matrix(m).T, device))

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``A @ x``: ``[n, d]`` for ``x`` ``[m, d]``; differentiable in ``x``."""
        return _SpMM.apply(x, self.a, self.a_t)

    def power_mean(self, x: torch.Tensor, n_layers: int, index: torch.Tensor) -> torch.Tensor:
        """Return ``mean_{l=0..n_layers} (A^l x)[index]`` ``[len(index), d]`` for square ``A`` and ``x`` ``[n, d]``.

        ``index``: int64 row indices (repeats allowed). Differentiable in ``x``; the same values as
        the layer-by-layer autograd form, with fewer full-size temporaries.
        """
        return _PowerMean.apply(x, self, n_layers, index)

    def to(self, device: torch.device | str) -> "SparseOperator":
        a = self.a.to(device)
        return SparseOperator(a, a if self.a_t is self.a else self.a_t.to(device))
