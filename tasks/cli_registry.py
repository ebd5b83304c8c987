"""The registry commands of the ``mmrecun`` command line: publish, verify-ledger, runs, rollback, gc."""

from __future__ import annotations

import argparse
import json

from tasks.cli_types import at_least
from tasks.pipeline.workspace import open_workspace
from tasks.storage import ledger
from tasks.storage.index import run_rows
from tasks.storage.registry import current_version, rollback
from tasks.storage.store import Retention, open_store


def _retention(args):
    return None if args.no_retention else Retention(args.lock_mode, args.lock_days)


def _publish(args) -> None:
    from tasks.storage.publish import publish  # the report's renderers load for this command only

    out = publish(args.run, open_store(args.store, args.endpoint_url), _retention(args))
    if out["already_published"]:
        print(f"run already published as version {out['version']} (ledger entry {out['ledger_seq']}); nothing written")
    else:
        version = f"version {out['version']}" if out["version"] else "the report, no new version"
        print(
            f"published {version} ({out['status']}), {len(out['artifacts'])} objects verified; "
            f"CURRENT {'moved' if out['current_moved'] else 'unchanged'}; ledger entry {out['ledger_seq']}"
        )


def _verify_ledger(args) -> None:
    result = ledger.verify(open_store(args.store, args.endpoint_url, create=False))
    if not result.ok:
        raise ledger.LedgerBroken(
            f"ledger broken at {result.broken}" + (f" ({len(result.problems) - 1} more problem(s))" if len(result.problems) > 1 else "")
        )
    print(f"ledger intact: {result.entries} entries, {result.artifacts} artifacts checked")


def _runs(args) -> None:
    store = open_store(args.store, args.endpoint_url, create=False)
    rows = [r for r in run_rows(store) if r["status"] == "FAILED" or r.get("kind") in ("train", "unlearn")]
    if not rows:
        print(f"no run in {store.uri()}")
        return
    width = max(len(r["status"]) for r in rows)
    print(f"{'#':>3}  {'status':<{width}} {'kind':<8} {'version':<44} {'test R@20':>9} {'forget R@20':>11} {'Gold R@20':>9}")
    for e in rows:
        if e["status"] == "FAILED":  # published nothing: its failure record says where
            print(f"{'-':>3}  {e['status']:<{width}} {'-':<8} {e['run_id']:<44} {e['detail']}")
            continue
        report = json.loads(store.get_bytes(f"reports/{e['run_id']}/report.json"))
        evidence = {r["key"]: r for r in report["evidence"]}
        retain = evidence.get("retain_test_recall@20") or {}
        test = retain.get("unlearned", (report["model"].get("test") or {}).get("recall@20"))
        forget = (evidence.get("forget_recall@20") or {}).get("unlearned")
        cells = [f"{v:.4f}" if v is not None else "-" for v in (test, forget, retain.get("gold"))]
        mark = "*" if e["version"] and current_version(store, e["model"]) == e["version"] else " "
        version = f"{e['model']}/{e['version']}" if e["version"] else "no new version"  # nothing to forget
        print(f"{e['seq']:>3}{mark} {e['status']:<{width}} {e['kind']:<8} {version:<44} {cells[0]:>9} {cells[1]:>11} {cells[2]:>9}")
    newest = next((r["report"] for r in rows if r.get("report")), None)
    print("* = CURRENT." + (f" Newest report: {store.uri(newest)};" if newest else "") + f" all runs: {store.uri('reports/index.html')}")


def _rollback(args) -> None:
    entry = rollback(open_store(args.store, args.endpoint_url, create=False), args.model, args.to, _retention(args))
    print(f"CURRENT of {args.model} moved back from {entry['replaced_version']} to {entry['version']}; ledger entry {entry['seq']}")


def _gc(args) -> None:
    cleaned = open_workspace(args.workspace, args.endpoint_url).collect_garbage(abandoned_days=args.abandoned_days)
    print(f"removed the personal parts of {len(cleaned)} run(s) in {args.workspace}" + (f": {', '.join(cleaned)}" if cleaned else ""))


def _store_arguments(p: argparse.ArgumentParser, retained: str) -> None:
    """``--store``, ``--endpoint-url`` and the Object Lock options of a command that writes ``retained``."""
    p.add_argument("--store", required=True, help="local folder or s3://bucket/prefix")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: boto3's environment)")
    p.add_argument("--lock-mode", choices=["GOVERNANCE", "COMPLIANCE"], default="GOVERNANCE", help=f"Object Lock mode for {retained}")
    p.add_argument("--lock-days", type=at_least(1), default=365, help="Object Lock retention in days")
    p.add_argument("--no-retention", action="store_true", help=f"write {retained} without Object Lock retention")


def add_registry_commands(sub) -> None:
    """Add the registry commands to the ``mmrecun`` subparsers ``sub``."""
    p = sub.add_parser("publish", help="publish a run's model version and report to a store; move CURRENT if its gates passed")
    p.add_argument("--run", required=True, help="run directory (with model/ and report/)")
    _store_arguments(p, "reports and ledger entries")
    p.set_defaults(func=_publish)

    p = sub.add_parser("verify-ledger", help="check the audit ledger's hash chain and every artifact it references")
    p.add_argument("--store", required=True, help="local folder or s3://bucket/prefix")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: boto3's environment)")
    p.set_defaults(func=_verify_ledger)

    p = sub.add_parser(
        "runs", help="list the runs of a store, newest first: published ones with their status and key evidence, failed ones with where"
    )
    p.add_argument("--store", required=True, help="local folder or s3://bucket/prefix")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: boto3's environment)")
    p.set_defaults(func=_runs)

    p = sub.add_parser("rollback", help="move a model's CURRENT back to a version that applied every request CURRENT applied")
    p.add_argument("--model", required=True, help="registry name of the model")
    p.add_argument("--to", required=True, help="the version to serve again")
    _store_arguments(p, "the ledger entry")
    p.set_defaults(func=_rollback)

    p = sub.add_parser("gc", help="remove the personal parts of finished runs whose kept days are over (MMRECUN_WORKSPACE_KEEP_DAYS)")
    p.add_argument("--workspace", required=True, help="the run workspace (MMRECUN_WORKSPACE): a folder or s3://bucket/prefix")
    p.add_argument("--endpoint-url", default=None, help="S3 endpoint of an s3:// workspace (default: boto3's environment)")
    p.add_argument(
        "--abandoned-days",
        type=at_least(0),
        default=7,
        help="also clean runs that never ended (no cleanup.json) started this many days ago",
    )
    p.set_defaults(func=_gc)
