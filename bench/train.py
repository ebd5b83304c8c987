"""Benchmark: train MGCN and LightGCN on the TikTok set (MMRec defaults) and report quality and cost.

    python bench/train.py --data ../shared/data/tiktok --seed 999 --json bench/results/train.json

``--data`` is an MMRec-layout folder (converted first) or a catalogue folder. Each model trains
in its own process so that its peak RSS is its own. Prints best epoch, valid/test Recall@20 and
NDCG@20, median seconds per training epoch (evaluation excluded), total seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import catalogue_dir, machine, peak_rss_mib, print_table, write_json


def _child(args) -> None:
    """Train one model (in this process) and print its figures as JSON on the last line."""
    import logging

    from tasks.pipeline.train import train_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)

    t0 = time.perf_counter()
    ref = train_model(args.data, args.model, args.out, max_epochs=args.epochs, seed=args.seed, device=args.device)
    wall = time.perf_counter() - t0
    manifest = json.loads((Path(ref["model_dir"]) / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "model": args.model,
                "best_epoch": manifest["best_epoch"],
                "epochs_run": manifest["epochs_run"],
                "valid_recall@20": manifest["valid"]["recall@20"],
                "test_recall@20": manifest["test"]["recall@20"],
                "valid_ndcg@20": manifest["valid"]["ndcg@20"],
                "test_ndcg@20": manifest["test"]["ndcg@20"],
                "seconds_per_epoch": manifest["seconds_per_epoch"],
                "train_seconds": manifest["train_seconds"],
                "wall_s": wall,
                "peak_rss_mb": peak_rss_mib(),
                "device": manifest["device"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MMRec-layout folder or catalogue folder")
    parser.add_argument("--models", default="mgcn,lightgcn")
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--epochs", type=int, default=1000, help="epoch cap")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json")
    parser.add_argument("--child-model", dest="model", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", dest="out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model:
        return _child(args)

    with tempfile.TemporaryDirectory(prefix="mmrecun-bench-") as tmp:
        data = catalogue_dir(args.data, tmp)
        rows = []
        for model in args.models.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--data",
                str(data),
                "--seed",
                str(args.seed),
                "--epochs",
                str(args.epochs),
                "--device",
                args.device,
                "--child-model",
                model,
                "--child-out",
                str(Path(tmp) / model),
            ]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print()
    print_table(
        rows,
        [
            ("model", "{}"),
            ("best_epoch", "{}"),
            ("epochs_run", "{}"),
            ("valid_recall@20", "{:.4f}"),
            ("test_recall@20", "{:.4f}"),
            ("valid_ndcg@20", "{:.4f}"),
            ("test_ndcg@20", "{:.4f}"),
            ("seconds_per_epoch", "{:.2f}"),
            ("train_seconds", "{:.0f}"),
            ("peak_rss_mb", "{:.0f}"),
        ],
    )
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            print(
                f"\n{base['model']} / {r['model']} seconds per epoch (same run): {base['seconds_per_epoch'] / r['seconds_per_epoch']:.2f}"
            )
    write_json(args.json, {"seed": args.seed, "data": str(args.data), "models": {r["model"]: r for r in rows}, "machine": machine()})


if __name__ == "__main__":
    main()
