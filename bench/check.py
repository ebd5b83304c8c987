"""Smoke check of the benchmarks: every benchmark command of BENCHMARKS.md, run on a small slice with tiny settings.

    python bench/check.py --data ../shared/data/tiktok [--mmrec /path/to/MMRec] [--users 50]   # or: make bench-check

Reads the commands ``.venv/bin/python bench/<script>.py ...`` of BENCHMARKS.md (also those spelt out
after ``# =`` beside a make target) and runs each distinct one, in the file's order, with:

* ``--data`` replaced by a small MMRec-layout slice made in a temporary folder: the users with id
  below ``--users`` of the MMRec-layout folder ``--data``, or mmrecun's synthetic set in that layout
  when ``--data`` holds no ``<name>.inter``;
* ``--json`` replaced by a file in that temporary folder, ``--mmrec`` by this script's ``--mmrec``;
* the script's tiny settings (``TINY``) appended, which override the documented ones (argparse keeps
  the last value given);
* the temporary folder as working directory, so that default caches (``bench/results/parent_mgcn-*``)
  land there too and nothing is written over ``bench/results``;
* one thread (``OMP_NUM_THREADS=1``): on a shared machine two threads per process stall each other at
  every parallel operator, and this check times nothing.

Commands of ``bench/vs_mmrec.py`` run only with ``--mmrec`` and are reported as skipped without it.
Every command runs even after a failure; a failed command's output tail is printed. Exit status 1
if any command failed, or if a bench script has no command in BENCHMARKS.md or no tiny settings
here; 0 otherwise. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"^(?:# = )?\.venv/bin/python (bench/\w+\.py\b.*)$")
NOT_BENCHMARKS = {"check.py"}  # and every module whose name starts with "_": the scripts' shared parts
TINY = {  # per script: arguments appended to its documented command
    "train.py": ["--epochs", "2"],
    "vs_mmrec.py": ["--epochs", "1"],
    "kernels.py": ["--rounds", "2"],
    "knn.py": ["--items", "3000", "--check-rows", "50"],
    "unlearn.py": ["--max-epochs", "2", "--row-draws", "2"],
    "mia_draws.py": ["--draws", "2"],
    "ingest.py": ["--rows", "20000", "--users", "2000", "--items", "1000", "--dim", "16"],
    "workspace.py": ["--train-epochs", "1"],
}


def documented_commands(benchmarks: Path) -> list[list[str]]:
    """The distinct benchmark commands of ``benchmarks``, in order, as argument lists from ``bench/<script>.py`` on
    (the interpreter and any trailing ``# comment`` left out)."""
    commands = []
    for line in benchmarks.read_text().splitlines():
        found = COMMAND.match(line.strip())
        argv = shlex.split(found.group(1), comments=True) if found else None
        if argv and argv not in commands:
            commands.append(argv)
    return commands


def uncovered(commands: list[list[str]], benchmarks: str) -> list[str]:
    """One line per bench script that no command of ``commands`` runs, or that has no ``TINY`` settings."""
    scripts = {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")} - NOT_BENCHMARKS
    named = {Path(argv[0]).name for argv in commands}
    return [f"bench/{s}: no command in {benchmarks}" for s in sorted(scripts - named)] + [
        f"bench/{s}: no tiny settings in bench/check.py" for s in sorted(scripts - set(TINY))
    ]


def write_inter(path: Path, rows: np.ndarray, header: list[str]) -> None:
    """Write an MMRec ``.inter`` file: a tab-separated header line, then ``rows`` as integers."""
    np.savetxt(path, rows, fmt="%d", delimiter="\t", header="\t".join(header), comments="")


def slice_mmrec(src: Path, out: Path, users: int) -> Path:
    """Write ``out`` as an MMRec-layout folder holding the interactions of the users with id below ``users`` in the
    MMRec-layout folder ``src`` (every column kept, items renumbered 0..k-1 in id order, each ``<m>_feat.npy`` cut to
    those items); return ``out``."""
    inter = next(src.glob("*.inter"))
    header = inter.read_text().split("\n", 1)[0].split("\t")
    rows = np.loadtxt(inter, skiprows=1, dtype=np.int64, ndmin=2)
    rows = rows[rows[:, header.index("userID")] < users]
    item = header.index("itemID")
    kept, rows[:, item] = np.unique(rows[:, item], return_inverse=True)
    out.mkdir(parents=True)
    write_inter(out / inter.name, rows, header)
    for features in src.glob("*_feat.npy"):
        np.save(out / features.name, np.load(features)[kept])
    return out


def synthetic_mmrec(out: Path, users: int) -> Path:
    """Write ``out`` as an MMRec-layout folder holding mmrecun's synthetic catalogue of ``users`` users (image and
    audio features; ``x_label`` from the catalogue's split, missing feature rows filled as loaded); return ``out``."""
    from tasks.inputs.catalogue import load_catalogue
    from tasks.inputs.synthetic import make_synthetic

    make_synthetic(out.with_name("synthetic_catalogue"), n_users=users, n_items=2 * users, seed=0)
    data = load_catalogue(out.with_name("synthetic_catalogue")).data
    splits = [data.train.tocoo(), data.valid.tocoo(), data.test.tocoo()]
    rows = np.concatenate([np.stack([m.row, m.col, np.full(m.nnz, label)], axis=1) for label, m in enumerate(splits)])
    out.mkdir(parents=True)
    write_inter(out / "synthetic.inter", rows, ["userID", "itemID", "x_label"])
    for modality, features in data.features.items():
        np.save(out / f"{modality}_feat.npy", features.matrix)
    return out


def tiny_command(argv: list[str], values: dict[str, str], results: Path) -> list[str]:
    """``argv`` (from ``bench/<script>.py`` on) as a command to run: this interpreter, the script by absolute path,
    each option of ``values`` given that value, ``--json`` a file under ``results``, the script's ``TINY`` settings
    appended."""
    out = [sys.executable, str(ROOT / argv[0])]
    for option, arg in itertools.pairwise(argv):
        out.append(str(results / Path(arg).name) if option == "--json" else values.get(option, arg))
    return out + TINY[Path(argv[0]).name]


def run(command: list[str], cwd: Path, log: Path) -> tuple[int, float]:
    """Run ``command`` in ``cwd`` on one thread, its output (stdout and stderr) in ``log``; return its exit status and
    seconds."""
    started = time.perf_counter()
    with log.open("w") as out:
        status = subprocess.run(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        ).returncode
    return status, time.perf_counter() - started


def small_data(data: Path, out: Path, users: int) -> Path:
    """A slice of ``data`` (:func:`slice_mmrec`) if it is an MMRec-layout folder, else a synthetic set
    (:func:`synthetic_mmrec`), written to ``out``; says which on stdout."""
    if any(data.glob("*.inter")):
        print(f"slice: the users with id below {users} of {data}")
        return slice_mmrec(data, out, users)
    print(f"slice: {data} holds no <name>.inter; a synthetic set of {users} users instead")
    return synthetic_mmrec(out, users)


def run_commands(commands: list[list[str]], values: dict[str, str], work: Path) -> list[str]:
    """Run each command (:func:`tiny_command`) in ``work``, printing its outcome and, if it failed, its output's last
    lines; ``bench/vs_mmrec.py`` only when ``values`` has ``--mmrec``. Returns one line per failed command."""
    failed = []
    for i, argv in enumerate(commands, 1):
        if argv[0] == "bench/vs_mmrec.py" and "--mmrec" not in values:
            print(f"skipped (no MMREC given): {shlex.join(argv)}", flush=True)
            continue
        command, log = tiny_command(argv, values, work / "results"), work / f"command{i}.log"
        status, seconds = run(command, work, log)
        print(f"{'ok' if status == 0 else f'FAILED (exit {status})'} in {seconds:.0f} s: {shlex.join(command[1:])}", flush=True)
        if status:
            failed.append(f"exit {status}: {shlex.join(argv)}")
            print("".join(log.read_text().splitlines(keepends=True)[-40:]))
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tiktok", help="MMRec-layout folder (synthetic data if none)")
    parser.add_argument("--mmrec", help="an MMRec checkout, for bench/vs_mmrec.py (skipped without it)")
    parser.add_argument("--users", type=int, default=50, help="users in the slice (ids below this)")
    parser.add_argument("--benchmarks", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    commands = documented_commands(Path(args.benchmarks))
    problems = uncovered(commands, args.benchmarks)
    with tempfile.TemporaryDirectory(prefix="mmrecun-bench-check-") as tmp:
        work = Path(tmp)
        (work / "results").mkdir()
        values = {"--data": str(small_data(Path(args.data), work / "slice", args.users))}
        if args.mmrec:
            values["--mmrec"] = str(Path(args.mmrec).resolve())
        problems += run_commands([c for c in commands if Path(c[0]).name in TINY], values, work)
    print(f"\nbench-check: {len(commands)} documented commands, {time.perf_counter() - started:.0f} s in all")
    if problems:
        raise SystemExit("bench-check failed:\n  " + "\n  ".join(problems))
    print("bench-check passed")


if __name__ == "__main__":
    main()
