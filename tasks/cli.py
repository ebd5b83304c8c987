"""The ``mmrecun`` command line: the same steps the DAGs run, without Airflow."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from schemas.errors import UserError
from schemas.run_params import GATE_PREFIX, RUN_PARAMS
from tasks.cli_registry import add_registry_commands
from tasks.cli_types import add_run_options, at_least, cutoff, device, float_in
from tasks.inputs.scenarios import SCENARIOS
from tasks.paths import check_output
from tasks.reporting.gates import Gates

# Each command imports its pipeline step when it runs, as `validate` and `report` import GX and the renderers:
# the steps bring in torch and SciPy (2 s), which `--help`, `runs`, `rollback` and `gc` never need.

# The run parameters each command takes as options (schemas.run_params.RUN_PARAMS: spelling, default, checks, help).
RUN_OPTIONS = {
    "train": ("model", "train_epochs", "seed", "device"),
    "unlearn": ("method", "alpha", "max_epochs", "run_gold", "seed", "device"),
    "validate": ("cutoff", "endpoint_url"),
    "forget-set": ("cutoff",),
    "report": tuple(name for name in RUN_PARAMS if name.startswith(GATE_PREFIX)),
    "evaluate": ("device",),
}
PARSE = {"device": device, "cutoff": cutoff}  # read first: the device must exist here, the cutoff becomes a datetime


def _print_metrics(title: str, metrics: dict) -> None:
    keys = ("recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50", "precision@20", "hit@20")
    print(f"{title:<6} " + "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics))


def _convert(args) -> None:
    from tasks.inputs.convert_mmrec import convert_mmrec

    out = convert_mmrec(args.src_dir, args.out_dir)
    print(f"wrote {out['out']}: " + ", ".join(f"{t} {n} rows" for t, n in out["rows"].items()))


def _synthetic(args) -> None:
    from tasks.inputs.synthetic import make_synthetic

    out = make_synthetic(args.out_dir, n_users=args.users, n_items=args.items, modalities=tuple(args.modalities.split(",")), seed=args.seed)
    print(f"wrote synthetic catalogue {out['out']}: " + ", ".join(f"{t} {n} rows" for t, n in out["rows"].items()))


def _train(args) -> None:
    from tasks.pipeline.train import train_model

    patience = {} if args.patience is None else {"patience": args.patience}  # None: the trainer's own (MMRec's 20)
    ref = train_model(args.data, args.model, args.out, max_epochs=args.train_epochs, seed=args.seed, device=args.device, **patience)
    print(f"model written to {ref['model_dir']} (best epoch {ref['best_epoch']})")
    _print_metrics("valid", ref["valid"])
    _print_metrics("test", ref["test"])


def _evaluate(args) -> None:
    from tasks.pipeline.evaluate import evaluate_model

    result = evaluate_model(args.data, args.model, args.json, device=args.device)
    print(f"{result['model']} at {result['model_dir']}")
    _print_metrics("valid", result["valid"])
    _print_metrics("test", result["test"])
    if args.json:
        print(f"metrics written to {args.json}")


def _make_requests(args) -> None:
    from tasks.inputs.catalogue import load_catalogue
    from tasks.inputs.requests import make_requests

    check_output(args.out, [args.data])
    out = make_requests(load_catalogue(args.data).data, args.scenario, args.fraction, args.seed, args.out)
    print(f"wrote {out['out']}: {out['erasures']} erasure requests, {out['revocations']} licence revocations")


def _unlearn(args) -> None:
    from tasks.pipeline.unlearn import unlearn_model

    check_output(args.out, [args.data, args.model, args.forget])
    ref = unlearn_model(
        args.data,
        args.model,
        args.forget,
        args.out,
        method=args.method,
        alpha=args.alpha,
        max_epochs=args.max_epochs,
        seed=args.seed,
        device=args.device,
        run_gold=args.run_gold,
    )
    e = ref["evidence"]
    print(f"{ref['method']} model written to {ref['model_dir']} (evidence.json beside it), {e['wall_s']:.1f}s")
    for key in (
        "retain_test_recall@20",
        "retain_test_ndcg@20",
        "forget_recall@20",
        "item_recall@500",
        "exposure@20",
        "bpr_div_parent",
        "mia_auc",
    ):
        value = e.get(key)
        print(f"  {key:<22} {'-' if value is None else f'{value:.4f}' if isinstance(value, float) else value}")


def _validate(args) -> None:
    from tasks.pipeline.ingest import ingest
    from tasks.pipeline.validate import validate  # Great Expectations loads for this command only

    workspace = args.workspace or f"var/runs/validate-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    check_output(workspace, [args.data, args.requests])
    ingest(args.data, workspace, args.requests, endpoint_url=args.endpoint_url)
    summary = validate(workspace, cutoff=args.cutoff, duplicate_threshold=args.duplicate_threshold)
    for table, s in summary["tables"].items():
        print(
            f"{table:<28} {s['rows']:>12,} rows  {s['expectations']:>3} expectations passed"
            + (f"  {sum(w['unexpected'] or 0 for w in s['warnings'])} rows not applicable" if s["warnings"] else "")
        )
    print(f"valid. GX results and Data Docs: {summary['docs']}")


def _forget_set(args) -> None:
    from tasks.pipeline.forget_set import build_forget_set

    s = build_forget_set(args.data, args.requests, cutoff=args.cutoff, parent_dir=args.parent, out_dir=args.out)
    c, new, cum = s["counts"], s["new"], s["cumulative"]
    print(
        f"requests effective at {s['cutoff']}: {len(s['new_request_ids'])} new, {c['already_applied']} already applied by the parent, "
        f"{c['deferred']} not yet effective, {c['not_applicable']} not applicable"
    )
    if s["nothing_to_forget"]:
        print("nothing to forget")
    for label, f in (("new", new), ("cumulative", cum)):
        modality = ", ".join(f"{n} {m}" for m, n in f["modality_items"].items()) or "none"
        print(
            f"{label:<11} users {f['users']}, items {f['items']}, interactions {f['interactions']}, modality deletions: {modality}; "
            f"interactions forgotten: " + ", ".join(f"{k} {v}" for k, v in f["forgotten_interactions"].items())
        )
    print(f"retained interactions: {s['retained_interactions']:,}")
    for reason, ids in s["not_applicable"].items():
        print(f"not applicable ({reason.replace('_', ' ')}): {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}")
    if args.out:
        print(f"forget set written to {args.out}")


def _synthetic_items(text: str) -> int:
    """``--items`` of ``make-synthetic``: at least the generator's minimum (read when the option is given)."""
    from tasks.inputs.synthetic import MIN_ITEMS

    return at_least(MIN_ITEMS)(text)


def _run_records(run: str) -> list[Path]:
    """What a report reads: every entry of the run directory but its ``report`` folder (the run itself if absent)."""
    root = Path(run)
    return [p for p in root.iterdir() if p.name != "report"] if root.is_dir() else [root]


def _report(args) -> None:
    from tasks.reporting.report import build_report  # matplotlib and fpdf load for this command only

    check_output(args.out or Path(args.run) / "report", _run_records(args.run))
    report = build_report(args.run, args.out, Gates.from_params(vars(args)))
    print(f"{report['status']}: " + ", ".join(f"{g['name']} {'PASS' if g['passed'] else 'FAIL'}" for g in report["gates"]))
    print(f"report written to {args.out or f'{args.run}/report'} (report.html, report.pdf, report.json)")


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
    p.add_argument("--users", type=at_least(1), default=3000)
    p.add_argument("--items", type=_synthetic_items, default=2000)
    p.add_argument("--modalities", default="image,audio", help="comma-separated modality names")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.set_defaults(func=_synthetic)

    p = sub.add_parser("train", help="train a recommender on a catalogue and write a model directory")
    p.add_argument("--data", required=True, help="catalogue folder (Parquet contract)")
    p.add_argument("--out", required=True, help="model directory to write (replaced on success)")
    add_run_options(p, *RUN_OPTIONS["train"], parse=PARSE)
    p.add_argument("--patience", type=at_least(1), help="epochs without validation gain before stopping (default: 20, as MMRec)")
    p.set_defaults(func=_train)

    p = sub.add_parser("make-requests", help="write realistic licence revocations / erasure requests for a catalogue")
    p.add_argument("--data", required=True)
    p.add_argument("--scenario", required=True, choices=SCENARIOS)
    p.add_argument("--fraction", type=float_in("(0, 1]"), default=0.05)
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--out", required=True, help="FORGET_DIR to write")
    p.set_defaults(func=_make_requests)

    p = sub.add_parser("unlearn", help="make a model forget the requests of a FORGET_DIR; writes a new model directory and evidence.json")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True, help="parent model directory")
    p.add_argument("--forget", required=True, help="FORGET_DIR with licence_revocations.parquet / erasure_requests.parquet")
    p.add_argument("--out", required=True, help="new model directory (replaced on success)")
    add_run_options(p, *RUN_OPTIONS["unlearn"], parse=PARSE)
    p.set_defaults(func=_unlearn)

    p = sub.add_parser("validate", help="ingest the tables (folder or s3://) and validate them with the Great Expectations suites")
    p.add_argument("--data", required=True, help="catalogue folder or s3://bucket/prefix")
    p.add_argument("--requests", help="requests folder or s3://bucket/prefix (licence_revocations / erasure_requests)")
    add_run_options(p, *RUN_OPTIONS["validate"], parse=PARSE)
    p.add_argument("--workspace", help="run workspace to snapshot into (default var/runs/validate-<UTC time>)")
    p.add_argument(
        "--duplicate-threshold", type=float_in("[0, 1)"), default=0.01, help="largest tolerated fraction of repeated interactions"
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser("forget-set", help="resolve the requests effective at a cutoff into the forget set, minus what the parent applied")
    p.add_argument("--data", required=True, help="catalogue folder")
    p.add_argument("--requests", required=True, help="requests folder")
    add_run_options(p, *RUN_OPTIONS["forget-set"], parse=PARSE)
    p.add_argument("--parent", help="parent model directory: the requests its manifest lists are not applied again")
    p.add_argument("--out", help="also write summary.json and forget_set.npz here")
    p.set_defaults(func=_forget_set)

    p = sub.add_parser("report", help="write the compliance report (HTML, PDF, JSON) of a run directory")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--out", help="output folder (default RUN/report)")
    add_run_options(p, *RUN_OPTIONS["report"])
    p.set_defaults(func=_report)

    add_registry_commands(sub)

    p = sub.add_parser("evaluate", help="full-ranking metrics of a model directory on valid and test")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    add_run_options(p, *RUN_OPTIONS["evaluate"], parse=PARSE)
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. A :class:`~schemas.errors.UserError` is printed as one line and exits with status 2 (like
    argparse's usage errors); anything else (a storage failure, a torch ``RuntimeError``, a bug) keeps its traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        args.func(args)
    except UserError as exc:
        print(f"mmrecun {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
