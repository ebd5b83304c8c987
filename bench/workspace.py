"""What staging a run through object storage costs per task, beside a local workspace, on the same data.

    python bench/workspace.py --data ../shared/data/tiktok --train-epochs 5 --json bench/results/workspace.json

The demo's two runs (``mmrecun_train``'s steps, then ``mmrecun_unlearn``'s on requests for 5% of the users
and items) go through :mod:`tasks.pipeline.staging`'s reads, once with the workspace in a local folder and once
on ``s3://`` (moto's server on loopback: a real HTTP endpoint, no network latency). For each step it reports
the step's own seconds in both, and for the object-store run the seconds spent staging its reads in and
handing its outputs back (verified puts, the index) and the megabytes moved. The store is a local folder in
both runs, so only the workspace differs. ``--train-epochs`` keeps training short: the staging cost does not
depend on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.s3_server: the loopback S3 endpoint

from _common import catalogue_dir, machine, print_table, write_json
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.requests import make_requests
from tasks.pipeline import steps
from tasks.pipeline.staging import READS
from tasks.pipeline.workspace import open_workspace
from tasks.storage.s3 import s3_client
from tests.s3_server import moto_server

CUTOFF = "2026-03-01T00:00:00+00:00"
RUNS = {
    "train": ["ingest", "validate", "train", "evaluate", "report", "publish"],
    "unlearn": ["ingest", "validate", "fetch_parent", "forget_set", "unlearn", "evaluate", "report", "publish"],
}
NO_GATES = {"gate_retain_ratio": 1e-9, "gate_erasure_margin": 1.0, "gate_revoked_exposure_max": 1e3, "gate_content_tolerance": 1.0}


def _megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run_both(location: str, catalogue: Path, requests: Path, store: Path, epochs: int) -> list[dict]:
    """The train run then the unlearn run in the workspace ``location``; one row per step: seconds in, running,
    out, and MB staged."""
    space, rows = open_workspace(location), []
    for kind, names in RUNS.items():
        params = {"data": str(catalogue), "store": str(store), "cutoff": CUTOFF, "device": "cpu", **NO_GATES}
        params |= {"requests": str(requests), "max_epochs": epochs} if kind == "unlearn" else {"train_epochs": epochs}
        started = time.perf_counter()
        steps.begin(location, f"{kind}-run", kind, params)
        rows.append({"run": kind, "step": "begin", "step_s": time.perf_counter() - started})
        for name in names:
            t0 = time.perf_counter()
            with space.staged(f"{kind}-run", READS[name]) as run_dir:
                t1 = time.perf_counter()
                staged_mb = _megabytes(run_dir)
                getattr(steps, name)(str(run_dir))
                t2 = time.perf_counter()
                out_mb = _megabytes(run_dir)
            t3 = time.perf_counter()
            rows.append(
                {"run": kind, "step": name, "in_s": t1 - t0, "step_s": t2 - t1, "out_s": t3 - t2, "in_mb": staged_mb, "out_mb": out_mb}
            )
        t0 = time.perf_counter()
        space.clean(f"{kind}-run", 0)
        rows.append({"run": kind, "step": "cleanup", "step_s": time.perf_counter() - t0})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="an MMRec-layout folder or a Parquet catalogue")
    parser.add_argument("--train-epochs", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mmrecun-bench-workspace-") as tmp:
        root = Path(tmp)
        catalogue = catalogue_dir(args.data, root)
        make_requests(load_catalogue(catalogue).data, "both", 0.05, 0, root / "requests")
        local = run_both(str(root / "runs"), catalogue, root / "requests", root / "store-local", args.train_epochs)
        with moto_server(root / "moto.log") as endpoint:
            s3_client(endpoint).create_bucket(Bucket="bench-work")
            os.environ.update(MMRECUN_S3_ENDPOINT=endpoint, MMRECUN_SCRATCH=str(root / "scratch"))
            remote = run_both("s3://bench-work/runs", catalogue, root / "requests", root / "store-s3", args.train_epochs)
    rows = []
    for near, far in zip(local, remote, strict=True):
        staging = (far.get("in_s") or 0) + (far.get("out_s") or 0)
        rows.append(
            {
                "run": near["run"],
                "step": near["step"],
                "local_step_s": near["step_s"],
                "s3_step_s": far["step_s"],
                "stage_in_s": far.get("in_s"),
                "hand_back_s": far.get("out_s"),
                "staging_s": staging if "in_s" in far else None,
                "in_mb": far.get("in_mb"),
                "out_mb": far.get("out_mb"),
            }
        )
    print_table(
        rows,
        [
            ("run", "{}"),
            ("step", "{}"),
            ("local_step_s", "{:.2f}"),
            ("s3_step_s", "{:.2f}"),
            ("stage_in_s", "{:.2f}"),
            ("hand_back_s", "{:.2f}"),
            ("in_mb", "{:.1f}"),
            ("out_mb", "{:.1f}"),
        ],
    )
    staged = [r for r in rows if r["staging_s"] is not None]
    total = sum(r["staging_s"] for r in staged)
    print(
        f"\nstaging through s3 (moto on loopback): {total:.1f} s over {len(staged)} tasks, {total / len(staged):.2f} s per task on average"
    )
    write_json(
        args.json, {"machine": machine(), "data": args.data, "train_epochs": args.train_epochs, "rows": rows, "staging_total_s": total}
    )


if __name__ == "__main__":
    main()
