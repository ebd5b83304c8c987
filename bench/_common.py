"""Helpers shared by the benchmarks: peak memory, table printing, JSON output."""

from __future__ import annotations

import json
import platform
import resource
from pathlib import Path

import torch


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """What the numbers were measured on."""
    import os

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned table; ``columns`` = (key, format) pairs."""
    cells = [[key for key, _ in columns]] + [[fmt.format(r[key]) if r.get(key) is not None else "-" for key, fmt in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for j, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def catalogue_dir(data: str | Path, tmp: str | Path) -> Path:
    """``data`` itself if it is a catalogue folder; an MMRec-layout folder is converted under ``tmp`` first."""
    data = Path(data)
    if not any(data.glob("*.inter")):
        return data
    from tasks.convert_mmrec import convert_mmrec

    convert_mmrec(data, Path(tmp) / "data")
    return Path(tmp) / "data"


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2))
        print(f"\nJSON written to {path}")
