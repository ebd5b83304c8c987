"""Benchmark: mmrecun's MGCN against MMRec's own MGCN, the two alternating on this machine in one run.

    python bench/vs_mmrec.py --mmrec /path/to/MMRec --data ../shared/data/tiktok --epochs 1000 --rounds 2 --json bench/results/vs_mmrec.json

The training speed target is a ratio to MMRec's MGCN (seconds per training epoch). Timings on a shared
machine drift by tens of percent between hours, so a ratio is only worth reporting when both sides
ran in the same run: each round trains MMRec's MGCN and mmrecun's, each in its own process (odd
rounds start with MMRec, even rounds with mmrecun), for ``--epochs`` epochs (or to early stopping
with ``--epochs 1000``), on the CPU, with the same seed and MGCN defaults (contrastive weight 0.01).
A round's figure is the median training epoch of each side (evaluation excluded on both: MMRec's
``epoch N training [time: ...]`` lines and mmrecun's manifest), and its ratio mmrecun / MMRec. The JSON is
rewritten after every round, so a failure in a later round keeps the rounds before it.

``--mmrec`` is a checkout of https://github.com/enoche/MMRec (its ``src/`` layout); it is not part
of mmrecun and is run unmodified, from its ``src/`` folder as MMRec's own ``main.py`` is (MMRec
reads ``configs/`` relative to the working directory and writes ``log/`` there). ``--data`` is an
MMRec-layout folder (``<name>.inter`` with ``x_label``, ``<modality>_feat.npy``); MMRec's MGCN
takes exactly two modalities, ``--vision`` and ``--text`` (TikTok has ``image`` and ``audio``, both
128-d). MMRec gets the data through a temporary folder of links, where it caches its kNN graphs.
MMRec runs on the CPU here, with only what mmrecun's environment installs; four things stand in for
what it expects, none of them doing work inside a timed epoch:

* ``Tensor.cuda`` returns the tensor where it is (MGCN moves its kNN graphs with ``.cuda()``);
* an empty ``torchvision`` / ``lmdb`` where those are not installed (MMRec imports them for
  raw-image models; MGCN calls neither);
* ``torch_scatter.scatter_add`` as PyTorch's own ``scatter_add`` where that package is not
  installed (MGCN's kNN-graph normalisation calls it once per modality, before training);
* NumPy's aliases of builtin types that NumPy 1.24 removed (``np.float``, ``np.int``, ``np.bool``,
  ``np.object``, ``np.str``, ``np.complex``), where absent, as the builtins they stood for (MMRec's
  ranking metrics, run at each evaluation, call ``np.float``).

The JSON records the stand-ins used and a SHA-256 of the checkout's ``src/``.

Both walls are timed inside the child process, around the whole fit (data, kNN graphs, training,
evaluation). MMRec evaluates the test split after every epoch, mmrecun once at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mmrec import EPOCH_LINE, child_mmrec, mmrec_quality


def _run(cmd: list[str], what: str) -> str:
    """Run a child process; return its output (stdout and stderr), or stop with its last lines if it failed."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise SystemExit(f"{what} failed (exit {proc.returncode}); its output ends:\n{proc.stdout[-3000:]}")
    return proc.stdout


def _last_json(out: str) -> dict:
    """The JSON object a child prints on its last JSON line."""
    return json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))


def _run_mmrec(args) -> dict:
    cmd = [
        sys.executable,
        "-u",
        __file__,
        "--mmrec",
        str(Path(args.mmrec).resolve()),
        "--data",
        str(Path(args.data).resolve()),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
        "--vision",
        args.vision,
        "--text",
        args.text,
        "--child-mmrec",
    ]
    out = _run(cmd, "MMRec's MGCN")
    epochs = [float(s) for _, s in EPOCH_LINE.findall(out)]
    if not epochs:
        raise SystemExit(f"MMRec printed no 'epoch N training [time: ...]' line; its output ends:\n{out[-3000:]}")
    return {
        "epoch_seconds": epochs,
        "seconds_per_epoch": statistics.median(epochs),
        "epochs_run": len(epochs),
        **_last_json(out),
        **mmrec_quality(out),
    }


def _run_mmrecun(args, catalogue: Path, out_dir: Path) -> dict:
    train = Path(__file__).resolve().with_name("train.py")
    cmd = [
        sys.executable,
        str(train),
        "--data",
        str(catalogue),
        "--seed",
        str(args.seed),
        "--epochs",
        str(args.epochs),
        "--device",
        "cpu",
        "--child-model",
        "mgcn",
        "--child-out",
        str(out_dir),
    ]
    return _last_json(_run(cmd, "mmrecun's MGCN"))


def _source_sha256(checkout: Path) -> str:
    """SHA-256 over the paths and bytes of the checkout's ``src/`` Python and YAML files (which MMRec was measured)."""
    digest = hashlib.sha256()
    for f in sorted(p for p in (checkout / "src").rglob("*") if p.suffix in {".py", ".yaml"}):
        digest.update(str(f.relative_to(checkout)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mmrec", required=True, help="an MMRec checkout (github.com/enoche/MMRec)")
    parser.add_argument("--data", required=True, help="MMRec-layout folder")
    parser.add_argument("--epochs", type=int, default=1000, help="epoch cap of each training (1000: to early stopping)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--vision", default="image", help="modality in MMRec's vision slot")
    parser.add_argument("--text", default="audio", help="modality in MMRec's text slot")
    parser.add_argument("--json")
    parser.add_argument("--child-mmrec", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (Path(args.mmrec) / "src" / "utils" / "quick_start.py").is_file():
        parser.error(f"--mmrec {args.mmrec}: not an MMRec checkout (no src/utils/quick_start.py)")
    if not any(Path(args.data).glob("*.inter")):
        parser.error(f"--data {args.data}: not an MMRec-layout folder (no <name>.inter)")
    modalities = sorted(p.name.removesuffix("_feat.npy") for p in Path(args.data).glob("*_feat.npy"))
    if modalities != sorted({args.vision, args.text}) or args.vision == args.text:
        parser.error(
            f"--data has modalities {modalities}; MMRec's MGCN takes exactly two, here --vision {args.vision} and --text {args.text}"
        )
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.child_mmrec:
        return child_mmrec(args)
    from _common import catalogue_dir, machine, print_table, write_json  # not in the MMRec child: it imports mmrecun

    source = _source_sha256(Path(args.mmrec))
    print(f"MMRec checkout {args.mmrec}: src/ SHA-256 {source}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="mmrecun-bench-") as tmp:
        catalogue = catalogue_dir(args.data, tmp)
        for r in range(1, args.rounds + 1):
            order = ("MMRec", "mmrecun") if r % 2 else ("mmrecun", "MMRec")  # odd rounds start with MMRec, even ones with mmrecun
            got = {}
            for side in order:
                got[side] = _run_mmrec(args) if side == "MMRec" else _run_mmrecun(args, catalogue, Path(tmp) / f"mgcn_{r}")
            mmrec, ours, first = got["MMRec"], got["mmrecun"], order[0]
            rows.append(
                {
                    "round": r,
                    "first": first,
                    "mmrec_s": mmrec["seconds_per_epoch"],
                    "mmrecun_s": ours["seconds_per_epoch"],
                    "ratio": ours["seconds_per_epoch"] / mmrec["seconds_per_epoch"],
                    "mmrec_wall_s": mmrec["wall_s"],
                    "mmrecun_wall_s": ours["wall_s"],
                    "mmrec_epochs": mmrec["epochs_run"],
                    "mmrecun_epochs": ours["epochs_run"],
                    "mmrec_rss_mb": mmrec["peak_rss_mb"],
                    "mmrecun_rss_mb": ours["peak_rss_mb"],
                    "mmrec_best": mmrec["best_epoch"],
                    "mmrecun_best": ours["best_epoch"],
                    "mmrec_test_r20": mmrec.get("test_recall@20"),
                    "mmrecun_test_r20": ours["test_recall@20"],
                    "mmrec": mmrec,
                    "mmrecun": ours,
                }
            )
            print(f"round {r}: MMRec {mmrec['seconds_per_epoch']:.2f} s/epoch, mmrecun {ours['seconds_per_epoch']:.2f} s/epoch", flush=True)
            ratios = [row["ratio"] for row in rows]
            write_json(
                args.json,
                {
                    "epochs": args.epochs,
                    "seed": args.seed,
                    "data": str(args.data),
                    "mmrec": str(args.mmrec),
                    "mmrec_src_sha256": source,
                    "rounds_planned": args.rounds,
                    "rounds": rows,
                    "median_ratio": statistics.median(ratios),
                    "machine": machine(),
                },
            )
    print()
    print_table(
        rows,
        [
            ("round", "{}"),
            ("first", "{}"),
            ("mmrec_s", "{:.2f}"),
            ("mmrecun_s", "{:.2f}"),
            ("ratio", "{:.3f}"),
            ("mmrec_epochs", "{}"),
            ("mmrecun_epochs", "{}"),
            ("mmrec_wall_s", "{:.0f}"),
            ("mmrecun_wall_s", "{:.0f}"),
            ("mmrec_rss_mb", "{:.0f}"),
            ("mmrecun_rss_mb", "{:.0f}"),
            ("mmrec_best", "{}"),
            ("mmrecun_best", "{}"),
            ("mmrec_test_r20", "{:.4f}"),
            ("mmrecun_test_r20", "{:.4f}"),
        ],
    )
    print(
        f"\nmmrecun / MMRec seconds per training epoch: median {statistics.median(ratios):.3f} over {len(ratios)} rounds "
        f"(range {min(ratios):.3f} to {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
