"""Helpers shared by the benchmarks: seed lists, peak memory, table printing, JSON output, paired redraws of erased users'
rows."""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
from pathlib import Path

import numpy as np
import torch

from mmrecun_core.sampling import NegativeSampler, PopularityPeerSampler
from mmrecun_core.unlearning.evidence import forget_recall
from mmrecun_core.unlearning.held_out import item_degree
from mmrecun_core.unlearning.membership import membership_auc, membership_scores
from mmrecun_core.unlearning.rows import reset_own_rows


def seed_list(text: str) -> list[int]:
    """An argparse type: comma-separated seeds, each a whole number >= 0 (``""`` = none); a bad one is a usage error
    before anything runs."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if any(x < 0 for x in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {text!r}")
    return seeds


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned table; ``columns`` = (key, format) pairs."""
    cells = [[key for key, _ in columns]] + [[fmt.format(r[key]) if r.get(key) is not None else "-" for key, fmt in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for j, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def catalogue_dir(data: str | Path, tmp: str | Path) -> Path:
    """``data`` itself if it is a catalogue folder; an MMRec-layout folder is converted under ``tmp`` first.

    The conversion is made afresh in the caller's temporary folder on every call (nothing is cached across runs), and
    is deterministic: the same MMRec folder gives the same catalogue fingerprint (``load_catalogue(...).sha256``).
    """
    data = Path(data)
    if not any(data.glob("*.inter")):
        return data
    from tasks.inputs.convert_mmrec import convert_mmrec

    convert_mmrec(data, Path(tmp) / "data")
    return Path(tmp) / "data"


PARENTS = Path("bench/results")  # default home of the benchmarks' cached parent models, relative to the working folder


def parent_dir(parent: str | None, catalogue, data: str) -> Path:
    """The parent model directory for a benchmark on ``catalogue`` (a :class:`tasks.inputs.catalogue.Catalogue` read from the
    user's ``--data`` folder ``data``).

    ``parent`` None gives the default cache ``bench/results/parent_mgcn-<first 12 hex digits of catalogue.sha256>``: one
    parent per data set, so a cached parent serves only the data it was trained on. A directory (given or default)
    whose manifest records other data (``data_sha256``) is refused with a one-line :class:`SystemExit` naming both data
    sets. A directory without a manifest is returned as it is, for the caller to train or to refuse.
    """
    path = Path(parent) if parent else PARENTS / f"parent_mgcn-{catalogue.sha256[:12]}"
    manifest = path / "manifest.json"
    if manifest.is_file():
        trained_on = json.loads(manifest.read_text()).get("data_sha256")
        if trained_on != catalogue.sha256:
            raise SystemExit(
                f"parent {path} was trained on data with sha256 {str(trained_on)[:12]}, not on --data "
                f"{data} (sha256 {catalogue.sha256[:12]}): pass the parent of that data, or no --parent"
            )
    return path


def write_json(path: str | None, payload: dict) -> None:
    if path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, out)  # a run killed while writing keeps the previous file whole
        print(f"\nJSON written to {path}")


PAIRED = {  # measure: (target, how it is compared)
    "mia_auc": (0.05, "absolute"),
    "erasure_peer_auc": (0.05, "absolute"),
    "forget_recall@20": (0.20, "relative"),
}


@torch.no_grad()
def paired_row_draws(models: dict, data, retain, forget, draws: int) -> dict:
    """The user-centric measures (membership AUC, against uniformly drawn never-seen items and against the erased
    items' popularity peers, and forget Recall@20) of every model in ``models`` (name -> ``(model, graphs)``;
    ``"gold"`` among them for the differences) with the erased users' ID rows redrawn from the initialiser, the same
    draw (seeds 0 .. ``draws`` - 1) in every model.

    Only for models whose erased rows are untrained initialiser draws that nothing else reads (Gold, MMRecUN with its
    reset): then each draw is a model the method itself could have produced. The membership pairs are the evidence's
    (same sample, same seed; the peers' on the pairs of items still served, as ``erasure_peer_auc``). Returns
    ``{measure: {model: {"values", "mean", "sd", "diff_mean", "diff_sd", "within"}}}``: the differences from Gold's
    value under the same draw are absolute for the AUCs and relative for the recall (as the targets state them,
    ``PAIRED``), ``within`` the share of draws inside the target. A draw where Gold's recall is 0 has no relative
    difference: it is left out of the difference figures (``compared`` counts the draws kept; the
    figures are None when none is). Without a ``"gold"`` model only ``"values"``, ``"mean"`` and ``"sd"`` are given.
    """
    forgotten = forget.forgotten_mask(data.train)
    erased = forget.without_revoked(forgotten)
    never_seen = NegativeSampler(data.train)  # built once, not per draw and model
    peers = PopularityPeerSampler(never_seen, item_degree(retain.train))
    values = {m: {name: [] for name in models} for m in PAIRED if m != "erasure_peer_auc" or erased.nnz}
    for name, (model, graphs) in models.items():
        model = copy.deepcopy(model)
        model.eval()
        for draw in range(draws):
            reset_own_rows(model, forget.users, np.empty(0, np.int64), draw)
            emb = model.propagate(graphs)
            values["mia_auc"][name].append(membership_auc(*membership_scores(emb, forgotten, never_seen)))
            if "erasure_peer_auc" in values:
                values["erasure_peer_auc"][name].append(membership_auc(*membership_scores(emb, erased, never_seen, peers=peers)))
            values["forget_recall@20"][name].append(forget_recall(emb, forgotten, retain.train))

    def sd(x: np.ndarray) -> float:
        return float(x.std(ddof=1)) if len(x) > 1 else 0.0

    out: dict = {}
    for measure, per_model in values.items():
        target, how = PAIRED[measure]
        gold = np.asarray(per_model["gold"]) if "gold" in per_model else None
        out[measure] = {}
        for name, v in per_model.items():
            v = np.asarray(v)
            out[measure][name] = {"values": v.tolist(), "mean": float(v.mean()), "sd": sd(v)}
            if gold is not None:
                kept = np.ones(len(v), bool) if how == "absolute" else gold != 0
                diff = v[kept] - gold[kept] if how == "absolute" else (v[kept] - gold[kept]) / gold[kept]
                out[measure][name].update(
                    compared=int(kept.sum()),
                    **(
                        {"diff_mean": float(diff.mean()), "diff_sd": sd(diff), "within": float((np.abs(diff) <= target + 1e-12).mean())}
                        if len(diff)
                        else {"diff_mean": None, "diff_sd": None, "within": None}
                    ),
                )
    return out
