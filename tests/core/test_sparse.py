"""The sparse product of graph propagation against dense arithmetic."""

import numpy as np
import scipy.sparse as sp
import torch

from mmrecun_core.sparse import SparseOperator


def _matrix(seed: int) -> sp.csr_matrix:
    m = sp.random(9, 7, density=0.3, random_state=seed, format="csr", dtype=np.float32)
    keep = np.ones(9, dtype=np.float32)
    keep[[2, 5, 8]] = 0  # rows without entries (the last one too) must come out as zeros, never stale memory
    m = (sp.diags(keep) @ m).tocsr()
    m.eliminate_zeros()
    return m


def test_product_and_gradient_equal_dense():
    m = _matrix(0)
    dense = torch.from_numpy(m.toarray())
    op = SparseOperator.from_scipy(m, "cpu")
    x = torch.randn(7, 4, requires_grad=True)
    for _ in range(3):  # repeated after other allocations: empty rows must never pick up stale memory
        torch.full((64, 64), float("nan"))
        y = op @ x
        torch.testing.assert_close(y, dense @ x.detach())
        assert torch.equal(y[[2, 5, 8]], torch.zeros(3, 4))
    (y * torch.arange(4.0)).sum().backward()
    torch.testing.assert_close(x.grad, dense.T @ torch.arange(4.0).expand(9, 4))


def test_symmetric_operator_reuses_itself_as_transpose():
    m = _matrix(1)
    sym = (m[:7] + m[:7].T).tocsr()
    op = SparseOperator.from_scipy(sym, "cpu", symmetric=True)
    assert op.a_t is op.a
    x = torch.randn(7, 3, requires_grad=True)
    (op @ x).sum().backward()
    torch.testing.assert_close(x.grad, torch.from_numpy(sym.toarray()).T @ torch.ones(7, 3))


def test_power_mean_equals_layer_by_layer_dense_form():
    m = _matrix(2)
    sym = (m[:7] + m[:7].T).tocsr()
    dense = torch.from_numpy(sym.toarray())
    op = SparseOperator.from_scipy(sym, "cpu", symmetric=True)
    x = torch.randn(7, 3, requires_grad=True)
    index = torch.tensor([6, 0, 3, 3])  # a repeat must count twice in the gradient
    weights = torch.randn(4, 3)
    (op.power_mean(x, 2, index) * weights).sum().backward()
    fast = x.grad
    x.grad = None
    expected = ((x + dense @ x + dense @ (dense @ x)) / 3)[index]
    torch.testing.assert_close(op.power_mean(x.detach(), 2, index), expected.detach())
    (expected * weights).sum().backward()
    torch.testing.assert_close(fast, x.grad)
