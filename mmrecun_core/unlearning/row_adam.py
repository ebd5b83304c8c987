"""Adam on chosen rows of tensors, in place (:class:`RowAdam`): what the replay and MMRecUN's loop step, each moving
only the rows of the items and users a request names."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class RowAdam:
    """Adam (PyTorch's defaults: betas 0.9 / 0.999, eps 1e-8, bias-corrected, no weight decay) on rows ``index`` (int64
    ``[k]``; None: every row) of each tensor ``param`` ``[n, d]`` of ``params`` (pairs ``(param, index)``), from
    ``param.grad``, with a torch optimiser's ``zero_grad`` / ``step`` calls. The other rows stay as they are, whatever
    their gradient.

    On the rows it steps, the update is ``torch.optim.Adam``'s. The moments are ``[k, d]``: a step costs the rows that
    move, not the table. It skips torch.optim's per-step dispatch (hooks, parameter groups), which on a few hundred
    rows costs more than the arithmetic, and the import of ``torch._dynamo`` that torch.optim's first use makes in a
    process (1.2 to 1.7 s on the benchmark machine).
    """

    def __init__(
        self,
        params: list[tuple[torch.Tensor, torch.Tensor | None]],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.params = params
        with torch.no_grad():
            self.state = [_Moments.zeros(p if index is None else p[index]) for p, index in params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every stepped tensor's gradient (``set_to_none`` is accepted for a torch optimiser's signature; always
        None)."""
        for p, _ in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of the chosen rows from the gradients now in ``param.grad`` (a tensor without one is skipped, its
        step count unchanged, as in torch.optim)."""
        b1, b2 = self.betas
        for (p, index), s in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            grad = p.grad if index is None else p.grad[index]
            s.steps += 1
            s.m.lerp_(grad, 1 - b1)
            s.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (s.v / (1 - b2**s.steps)).sqrt_().add_(self.eps)
            if index is None:
                p.addcdiv_(s.m, denom, value=-self.lr / (1 - b1**s.steps))
            else:
                p.index_add_(0, index, s.m / denom, alpha=-self.lr / (1 - b1**s.steps))


@dataclass
class _Moments:
    """Adam's first and second moments of the rows one tensor steps, and how many steps it has taken."""

    m: torch.Tensor
    v: torch.Tensor
    steps: int = 0

    @classmethod
    def zeros(cls, rows: torch.Tensor) -> "_Moments":
        return cls(torch.zeros_like(rows), torch.zeros_like(rows))
