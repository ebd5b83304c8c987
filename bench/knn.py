"""Benchmark: exact item kNN graph (cosine, k = 10) for a large synthetic catalogue.

    python bench/knn.py --items 200000 --dim 128 --json bench/results/knn.json

Features are clustered like real content embeddings (a Gaussian mixture). Prints wall time, peak
RSS and a check of exactness against a dense computation on a random sample of rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, peak_rss_mib, print_table, write_json
from mmrecun_core.graphs import knn_adjacency, knn_graph


def synthetic_features(n: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(max(n // 500, 1), dim, generator=g)
    return centers[torch.randint(0, len(centers), (n,), generator=g)] + 0.8 * torch.randn(n, dim, generator=g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--check-rows", type=int, default=500, help="rows compared with a dense reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()

    x = synthetic_features(args.items, args.dim, args.seed)
    t0 = time.perf_counter()
    graph = knn_graph(x, args.k)
    knn_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    knn_adjacency(graph, args.items)
    norm_s = time.perf_counter() - t1

    rows = torch.randperm(args.items, generator=torch.Generator().manual_seed(1))[: args.check_rows]
    xn = F.normalize(x, dim=1)
    dense = (xn[rows] @ xn.T).topk(args.k, dim=1)
    exact = bool(torch.equal(torch.sort(dense.indices, 1).values, torch.sort(graph.index[rows], 1).values))

    result = {
        "items": args.items,
        "dim": args.dim,
        "k": args.k,
        "knn_s": knn_s,
        "normalise_s": norm_s,
        "wall_s": knn_s + norm_s,
        "peak_rss_mb": peak_rss_mib(),
        "exact_on_sample": exact,
        "sample_rows": args.check_rows,
        "machine": machine(),
    }
    print_table(
        [result],
        [
            ("items", "{:,}"),
            ("dim", "{}"),
            ("k", "{}"),
            ("knn_s", "{:.1f}"),
            ("normalise_s", "{:.2f}"),
            ("wall_s", "{:.1f}"),
            ("peak_rss_mb", "{:.0f}"),
            ("exact_on_sample", "{}"),
        ],
    )
    write_json(args.json, result)


if __name__ == "__main__":
    main()
