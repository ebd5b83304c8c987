"""Ingest + validate throughput: N synthetic interactions and a 100,000-item 128-d feature table.

    python bench/ingest.py --rows 10000000 --json bench/results/ingest.json

The input tables (and small request tables, so all four suites run) are generated first and not
timed; then ``tasks.pipeline.ingest.ingest`` and ``tasks.pipeline.validate.validate`` run as a pipeline run would,
each phase timed. Reports wall seconds of ingest + validate and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _common import machine, peak_rss_mib, print_table, write_json
from schemas.contracts import ERASURES_FILE, FEATURES_DIR, INTERACTIONS_FILE, REVOCATIONS_FILE, TS_TYPE
from tasks.inputs.catalogue import embedding_column
from tasks.pipeline.ingest import ingest
from tasks.pipeline.validate import validate

CUTOFF = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds * 1_000_000, pa.int64()).cast(pa.timestamp("us")).cast(TS_TYPE)


def write_inputs(root: Path, rows: int, users: int, items: int, dim: int, seed: int) -> None:
    """Zipf-popular items, uniform users, one year of timestamps before the cutoff, non-negative weights."""
    rng = np.random.default_rng(seed)
    start = int(CUTOFF.timestamp()) - 365 * 86400
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    item = rng.choice(items, rows, p=popularity / popularity.sum())
    (root / "data" / FEATURES_DIR).mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "user_id": rng.integers(0, users, rows),
                "item_id": item,
                "ts": _ts(rng.integers(start, start + 365 * 86400, rows)),
                "weight": rng.exponential(1.0, rows).astype(np.float32),
            }
        ),
        root / "data" / INTERACTIONS_FILE,
    )
    pq.write_table(
        pa.table({"item_id": np.arange(items), "embedding": embedding_column(rng.standard_normal((items, dim), np.float32))}),
        root / "data" / FEATURES_DIR / "image.parquet",
    )
    (root / "requests").mkdir()
    n = 1000
    effective = _ts(rng.integers(start, start + 365 * 86400, n))
    pq.write_table(
        pa.table(
            {
                "request_id": [f"ER-{i:06d}" for i in range(n)],
                "user_id": rng.integers(0, users, n),
                "item_id": pa.nulls(n, pa.int64()),
                "received_at": effective,
                "effective_at": effective,
                "legal_basis": ["GDPR Art. 17(1)(b)"] * n,
            }
        ),
        root / "requests" / ERASURES_FILE,
    )
    pq.write_table(
        pa.table(
            {
                "revocation_id": [f"RV-{i:06d}" for i in range(n)],
                "item_id": rng.integers(0, items, n),
                "licence_id": [f"LIC-{i // 4:05d}" for i in range(n)],
                "scope": ["item"] * n,
                "effective_at": effective,
                "reason": ["licence expired"] * n,
            }
        ),
        root / "requests" / REVOCATIONS_FILE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=500_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="mmrecun-bench-ingest-"))
    try:
        started = time.perf_counter()
        write_inputs(root, args.rows, args.users, args.items, args.dim, args.seed)
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        ref = ingest(root / "data", root / "workspace", root / "requests")
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = validate(root / "workspace", cutoff=CUTOFF)
        validate_s = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    phases = {
        "ingest_s": ingest_s,
        **{f"validate_{t}_s": s["seconds"] for t, s in summary["tables"].items()},
        "data_docs_s": summary["docs_seconds"],
        "validate_s": validate_s,
    }
    result = {
        "rows": args.rows,
        "items": args.items,
        "dim": args.dim,
        "wall_s": ingest_s + validate_s,
        "peak_rss_mb": peak_rss_mib(),
        "phases": phases,
        "generate_s": generate_s,
        "expectations": sum(s["expectations"] for s in summary["tables"].values()),
        "snapshot_bytes": sum(t["bytes"] for t in ref["tables"].values()),
        "machine": machine(),
    }
    print_table(
        [{"phase": k, "seconds": v} for k, v in phases.items()] + [{"phase": "total (ingest + validate)", "seconds": result["wall_s"]}],
        [("phase", "{}"), ("seconds", "{:.2f}")],
    )
    print(
        f"\n{args.rows:,} interactions, {args.items:,} x {args.dim} features: {result['wall_s']:.1f} s, "
        f"peak RSS {result['peak_rss_mb']:,.0f} MiB"
    )
    write_json(args.json, result)


if __name__ == "__main__":
    main()
