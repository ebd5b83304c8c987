"""Benchmark: MGCN's hot kernels against their plain PyTorch forms, on the TikTok training graphs.

    python bench/kernels.py --data ../shared/data/tiktok --json bench/results/kernels.json

Each pair computes the same values (checked here) and is timed in alternating rounds in one
process, so machine noise hits both alike; the table gives the median milliseconds of one call
(forward and backward where the kernel trains) and their ratio.

* ``A @ X`` for the user-item adjacency, one modality's kNN graph and ``R̂``: ``torch.sparse.mm``
  on a CSR tensor against :class:`mmrecun_core.sparse.CSR` (a weighted embedding-bag sum);
* LightGCN's layer mean over the adjacency for one batch's rows: the layer-by-layer autograd form
  (``torch.sparse.mm`` with a symmetric backward, all rows, then gathered) against
  :meth:`SparseOperator.power_mean`;
* InfoNCE at one batch's unique rows with counts: MMRec's log-softmax form against
  :func:`mmrecun_core.losses.info_nce`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import catalogue_dir, machine, print_table, write_json
from mmrecun_core.graphs import build_graphs, knn_graph
from mmrecun_core.losses import info_nce
from mmrecun_core.sampling import NegativeSampler
from mmrecun_core.sparse import CSR
from tasks.inputs.catalogue import load_catalogue


def torch_csr(m: CSR) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(m.indptr, m.indices, m.values, size=m.shape, check_invariants=False)


def plain_info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float, counts: torch.Tensor) -> torch.Tensor:
    """MMRec's form on unique rows: cross-entropy of the log-count-shifted logits, weighted by the counts."""
    logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).T / temperature
    c = counts.float()
    return F.cross_entropy(logits + c.log(), torch.arange(len(c)), weight=c) + (c * c.log()).sum() / c.sum()


class _SymmetricSparseMM(torch.autograd.Function):
    """``torch.sparse.mm(A, X)`` for symmetric ``A`` with the backward ``A @ G`` (no transpose re-derived)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.a = a
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, torch.sparse.mm(ctx.a, grad)


def plain_layer_mean(adj: torch.Tensor, ego: torch.Tensor, n_layers: int, index: torch.Tensor) -> torch.Tensor:
    """Layer by layer under autograd over every row, then the batch's rows gathered."""
    total, h = ego, ego
    for _ in range(n_layers):
        h = _SymmetricSparseMM.apply(adj, h)
        total = total + h
    return (total / (n_layers + 1)).index_select(0, index)


def trained(fn, *inputs: torch.Tensor):
    """Return a callable running ``fn`` forward and backward (a fixed random upstream gradient) on fresh leaves."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    upstream = None

    def run():
        nonlocal upstream
        for x in leaves:
            x.grad = None
        out = fn(*leaves)
        if upstream is None:  # the same for both forms of a case: drawn from a fixed seed
            upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        out.backward(upstream)
        return out.detach(), [x.grad for x in leaves]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MMRec-layout folder or catalogue folder")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="mmrecun-kernels-") as tmp:
        data = load_catalogue(catalogue_dir(args.data, tmp)).data
    knn = {m: knn_graph(torch.from_numpy(f.matrix), 10) for m, f in data.features.items()}
    graphs = build_graphs(data.train, knn, "cpu")
    first = next(iter(graphs.modality))

    # one training batch, drawn as the trainer draws it
    users, items = data.train_pairs()
    pick = rng.permutation(len(users))[: args.batch]
    b_users, b_pos = torch.from_numpy(users[pick]), torch.from_numpy(items[pick])
    b_neg = torch.from_numpy(NegativeSampler(data.train).sample(users[pick], rng))
    rows = torch.cat([torch.unique(b_users), torch.unique(torch.cat([b_pos, b_neg])) + data.n_users])
    pos, pos_counts = torch.unique(b_pos, return_counts=True)
    d = 64

    cases = []
    for name, op in [("adjacency", graphs.adj), (f"kNN {first}", graphs.modality[first]), ("R", graphs.user_item)]:
        x, csr = torch.randn(op.shape[1], d), torch_csr(op.a)
        cases.append(
            (
                f"A @ X, {name}",
                f"{op.shape[0]}x{op.shape[1]}, nnz {len(op.a.values):,}",
                lambda a=csr, x=x: (torch.sparse.mm(a, x), []),
                lambda a=op.a, x=x: (a.matmul(x), []),
            )
        )
    ego, adj = torch.randn(data.n_users + data.n_items, d), torch_csr(graphs.adj.a)
    cases.append(
        (
            "layer mean, 2 layers",
            f"{len(rows):,} of {len(ego):,} rows",
            trained(lambda e: plain_layer_mean(adj, e, 2, rows), ego),
            trained(lambda e: graphs.adj.power_mean(e, 2, rows), ego),
        )
    )
    v1, v2 = torch.randn(len(pos), d), torch.randn(len(pos), d)
    cases.append(
        (
            "InfoNCE, batch items",
            f"{len(pos):,} unique of {args.batch}",
            trained(lambda a, b: plain_info_nce(a, b, 0.2, pos_counts), v1, v2),
            trained(lambda a, b: info_nce(a, b, 0.2, pos_counts), v1, v2),
        )
    )

    table = []
    for label, shape, plain, ours in cases:
        (p_out, p_grads), (o_out, o_grads) = plain(), ours()
        torch.testing.assert_close(o_out, p_out, rtol=1e-4, atol=1e-5)
        for pg, og in zip(p_grads, o_grads, strict=True):
            torch.testing.assert_close(og, pg, rtol=1e-3, atol=1e-6)
        times = {"plain": [], "ours": []}
        for _ in range(args.rounds):
            for key, fn in (("plain", plain), ("ours", ours)):
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1e3)
        p_ms, o_ms = statistics.median(times["plain"]), statistics.median(times["ours"])
        table.append({"kernel": label, "size": shape, "plain_ms": p_ms, "mmrecun_ms": o_ms, "ratio": o_ms / p_ms})
    print_table(table, [("kernel", "{}"), ("size", "{}"), ("plain_ms", "{:.2f}"), ("mmrecun_ms", "{:.2f}"), ("ratio", "{:.2f}")])
    write_json(args.json, {"machine": machine(), "rounds": args.rounds, "kernels": table})


if __name__ == "__main__":
    main()
