"""Benchmark: how much the membership AUC of whole-user erasures owes to the random row an erased user is scored with.

    python bench/mia_draws.py --data ../shared/data/tiktok --seeds 0,1,2 --draws 20 --json bench/results/mia_draws.json

For each forget set (``make-requests --scenario users --fraction F --seed S``) the parent's erased users' ID rows are
redrawn from the initialiser ``--draws`` times (unlearning seeds 0, 1, ...), which is all MMRecUN does for them, and
the evidence's membership AUC (same 5,000 forgotten/never-seen pairs every time) is measured for each draw. Gold, too,
scores an erased user through an untrained row drawn from the initialiser, so the spread printed here is the noise
any comparison of the two carries for this scenario. ``bench/unlearn.py --row-draws`` makes the same draws in Gold too
and reports the paired differences.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import catalogue_dir, machine, paired_row_draws, parent_dir, print_table, seed_list, write_json
from mmrecun_core.graphs import build_graphs
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.requests import make_requests
from tasks.pipeline.unlearn import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MMRec-layout folder or catalogue folder")
    parser.add_argument(
        "--parent",
        help="parent model directory (default: the one bench/unlearn.py trains for --data, bench/results/parent_mgcn-<data sha256>)",
    )
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seeds", type=seed_list, default="0,1,2", help="forget-set seeds")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="mmrecun-mia-") as tmp:
        data_dir = catalogue_dir(args.data, tmp)
        loaded = load_catalogue(data_dir)
        parent_path = parent_dir(args.parent, loaded, args.data)
        if not (parent_path / "manifest.json").is_file():
            parser.error(f"{parent_path}: no parent model for --data {args.data}; run bench/unlearn.py on it first (it trains one)")
        catalogue = loaded.data
        for seed in args.seeds:
            forget_dir = Path(tmp) / f"forget{seed}"
            make_requests(catalogue, "users", args.fraction, seed, forget_dir)
            parent, data, requests, retain, knn, dev = prepare(data_dir, parent_path, forget_dir, "cpu")
            graphs = build_graphs(retain.train, knn, dev)
            draws = paired_row_draws({"parent + reset": (parent.model, graphs)}, data, retain, requests.forget, args.draws)
            a = np.asarray(draws["mia_auc"]["parent + reset"]["values"])
            rows.append(
                {
                    "forget_seed": seed,
                    "erased_users": len(requests.forget.users),
                    "draws": args.draws,
                    "mean": float(a.mean()),
                    "sd": float(a.std(ddof=1)),
                    "min": float(a.min()),
                    "max": float(a.max()),
                    "aucs": a.tolist(),
                }
            )
    print(f"\nmembership AUC of erased users over {args.draws} draws of their rows (parent + reset, fraction {args.fraction}):")
    print_table(
        rows,
        [
            ("forget_seed", "{}"),
            ("erased_users", "{}"),
            ("draws", "{}"),
            ("mean", "{:.3f}"),
            ("sd", "{:.3f}"),
            ("min", "{:.3f}"),
            ("max", "{:.3f}"),
        ],
    )
    write_json(
        args.json,
        {
            "fraction": args.fraction,
            "data": str(args.data),
            "data_sha256": loaded.sha256,
            "parent": str(parent_path),
            "rows": rows,
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
