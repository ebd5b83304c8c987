"""The ``mmrecun`` command line: the same steps the DAGs run, without Airflow."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from mmrecun_core.checkpoint import CheckpointError
from mmrecun_core.trainer import TrainConfig

USER_ERRORS = (ValueError, FileNotFoundError, CheckpointError, RuntimeError)


def _print_metrics(title: str, metrics: dict) -> None:
    keys = ("recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50", "precision@20", "hit@20")
    print(f"{title:<6} " + "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics))


def _convert(args) -> None:
    from tasks.convert_mmrec import convert_mmrec

    out = convert_mmrec(args.src_dir, args.out_dir)
    print(f"wrote {out['out']}: " + ", ".join(f"{t} {n} rows" for t, n in out["rows"].items()))


def _synthetic(args) -> None:
    from tasks.synthetic import make_synthetic

    out = make_synthetic(args.out_dir, n_users=args.users, n_items=args.items, modalities=tuple(args.modalities.split(",")), seed=args.seed)
    print(f"wrote synthetic catalogue {out['out']}: " + ", ".join(f"{t} {n} rows" for t, n in out["rows"].items()))


def _train(args) -> None:
    from tasks.train import train_model

    ref = train_model(args.data, args.model, args.out, max_epochs=args.epochs, patience=args.patience, seed=args.seed, device=args.device)
    print(f"model written to {ref['model_dir']} (best epoch {ref['best_epoch']})")
    _print_metrics("valid", ref["valid"])
    _print_metrics("test", ref["test"])


def _evaluate(args) -> None:
    from tasks.evaluate import evaluate_model

    result = evaluate_model(args.data, args.model, args.json, device=args.device)
    print(f"{result['model']} at {result['model_dir']}")
    _print_metrics("valid", result["valid"])
    _print_metrics("test", result["test"])
    if args.json:
        print(f"metrics written to {args.json}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrecun", description="Make multi-modal recommenders forget, with evidence.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and results")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert-mmrec", help="convert an MMRec-layout folder (<name>.inter + <modality>_feat.npy) to Parquet")
    p.add_argument("src_dir")
    p.add_argument("out_dir")
    p.set_defaults(func=_convert)

    p = sub.add_parser("make-synthetic", help="write a realistic synthetic catalogue (when no real data is at hand)")
    p.add_argument("out_dir")
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--modalities", default="image,audio", help="comma-separated modality names")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_synthetic)

    p = sub.add_parser("train", help="train a recommender on a catalogue and write a model directory")
    p.add_argument("--data", required=True, help="catalogue folder (Parquet contract)")
    p.add_argument("--model", choices=["mgcn", "lightgcn"], default="mgcn")
    p.add_argument("--out", required=True, help="model directory to write (replaced on success)")
    p.add_argument("--epochs", type=int, default=TrainConfig.max_epochs, help="epoch cap (default %(default)s)")
    p.add_argument("--patience", type=int, default=TrainConfig.patience, help="epochs without validation gain before stopping")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="full-ranking metrics of a model directory on valid and test")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        args.func(args)
    except USER_ERRORS as exc:
        print(f"mmrecun {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
