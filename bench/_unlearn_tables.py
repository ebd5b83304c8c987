"""Tables of the unlearning benchmark (``bench/unlearn.py``): per forget set, the paper's shape over forget sets, targets."""

from __future__ import annotations

import numpy as np

from _common import PAIRED, print_table

KEYS = [
    "wall_s",
    "retain_valid_recall@20",
    "retain_test_recall@20",
    "retain_test_ndcg@20",
    "forget_recall@20",
    "item_recall@500",
    "item_recall@1000",
    "item_recall@1500",
    "exposure@20",
    "model_exposure@20",
    "bpr_div_parent",
    "bpr_div_gold",
    "mia_auc",
    "erasure_mia_auc",
    "erasure_heldout_auc",
    "erasure_heldout_level",
    "erasure_peer_auc",
    "erasure_peer_level",
    "content_trace",
    "content_trace_reference",
    "content_item_recall@500",
]
PAPER = [
    ("retain_valid_recall@20", "R@20 retain valid"),
    ("retain_test_recall@20", "R@20 retain test"),
    ("forget_recall@20", "R@20 forget"),
    ("item_recall@500", "item R@500"),
    ("item_recall@1000", "item R@1000"),
    ("item_recall@1500", "item R@1500"),
    ("bpr_div_gold", "BPR div. to Gold"),
    ("mia_auc", "MIA AUC"),
    ("content_trace", "content trace"),
    ("s_per_epoch", "s / epoch"),
    ("wall_s", "total s"),
]
BASELINES = ("finetune", "neggrad")


def _scalar(entry: dict, key: str) -> float | None:
    """One number per entry: the content trace (a dict per modality) is averaged over the modalities."""
    value = entry.get(key)
    if isinstance(value, dict):
        value = float(np.mean(list(value.values()))) if value else None
    return None if isinstance(value, float) and np.isnan(value) else value


def print_seed_tables(scenario: str, per_seed: list[dict]) -> None:
    """Each forget set's table (every model and replicate, every measure) and, where there are any, its paired row draws."""
    for run in per_seed:
        models = {**run["methods"], **run["gold_replicates"], **run["mmrecun_replicates"]}
        rows = [{"method": m, **{k: _scalar(r, k) for k in r}} for m, r in models.items()]
        print(f"\nscenario {scenario}, seed {run['seed']}: {run['requests']}")
        print_table(
            rows,
            [
                ("method", "{}"),
                ("wall_s", "{:.1f}"),
                ("epochs_run", "{}"),
                ("retain_valid_recall@20", "{:.4f}"),
                ("retain_test_recall@20", "{:.4f}"),
                ("forget_recall@20", "{:.4f}"),
                ("item_recall@500", "{:.4f}"),
                ("content_item_recall@500", "{:.4f}"),
                ("model_exposure@20", "{}"),
                ("bpr_div_gold", "{:.4f}"),
                ("mia_auc", "{:.3f}"),
                ("erasure_mia_auc", "{:.3f}"),
                ("erasure_heldout_level", "{:.3f}"),
                ("erasure_heldout_auc", "{:.3f}"),
                ("erasure_peer_auc", "{:.3f}"),
                ("erasure_peer_level", "{:.3f}"),
                ("content_trace", "{:.3f}"),
                ("content_trace_reference", "{:.3f}"),
            ],
        )
        for measure, per_model in (run["paired_row_draws"] or {}).items():
            target, how = PAIRED[measure]
            diff = "{:+.3f}" if how == "absolute" else "{:+.1%}"
            print(f"{measure}, erased users' rows redrawn alike in every model (difference from Gold, {how}):")
            print_table(
                [{"model": m, **r} for m, r in per_model.items()],
                [("model", "{}"), ("mean", "{:.4f}"), ("sd", "{:.4f}"), ("diff_mean", diff), ("within", "{:.0%}")],
            )


def _mean_sd(s: dict | None) -> str:
    return "-" if s is None else f"{s['mean']:.4f} ± {s['sd']:.4f}"


def paper_table(per_seed: list[dict]) -> dict:
    """Print and return the paper-shaped table: each measure's mean and standard deviation over the forget sets, per
    method; and MMRecUN's relative improvement over the best baseline (fine-tune, NegGrad) in retain test Recall@20."""
    methods = list(per_seed[0]["methods"])
    summary: dict = {}
    for m in methods:
        summary[m] = {}
        for key, _ in PAPER:
            values = [v for run in per_seed if (v := _scalar(run["methods"][m], key)) is not None]
            summary[m][key] = (
                {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0} if values else None
            )
    print(f"\nmean ± sd over {len(per_seed)} forget set(s):")
    print_table(
        [{"method": m, **{label: _mean_sd(summary[m][k]) for k, label in PAPER}} for m in methods],
        [("method", "{}"), *((label, "{}") for _, label in PAPER)],
    )
    recall = {b: (summary.get(b) or {}).get("retain_test_recall@20") for b in BASELINES}
    baselines = [b for b, r in recall.items() if r and r["mean"] > 0]  # a relative improvement over 0 is undefined
    if "mmrecun" in summary and baselines:
        best = max(baselines, key=lambda b: summary[b]["retain_test_recall@20"]["mean"])
        ours, theirs = summary["mmrecun"]["retain_test_recall@20"]["mean"], summary[best]["retain_test_recall@20"]["mean"]
        summary["improvement_over_best_baseline"] = {"baseline": best, "retain_test_recall@20": (ours - theirs) / theirs}
        print(f"MMRecUN over the best baseline ({best}) in retain test Recall@20: {(ours - theirs) / theirs:+.1%}")
    return summary


def _within(value, gold, tolerance: float, relative: bool) -> tuple[float | None, bool | None]:
    if value is None or gold is None or np.isnan(value) or np.isnan(gold) or (relative and gold == 0):
        return None, None
    diff = (value - gold) / gold if relative else value - gold
    return diff, abs(diff) <= tolerance + 1e-12


def _run_checks(scenario: str, run: dict) -> list[dict]:
    """The rows of :func:`target_checks` for one forget set (``run``)."""
    ours, gold, paired = run["methods"]["mmrecun"], run["methods"]["gold"], run["paired_row_draws"] or {}
    rows = []

    def add(measure: str, value, target: str, holds) -> None:
        rows.append({"seed": run["seed"], "measure": measure, "mmrecun": value, "target": target, "holds": holds})

    gold_recall = gold["retain_test_recall@20"]
    ratio = ours["retain_test_recall@20"] / gold_recall if gold_recall else None  # a Gold that finds nothing: undefined
    add("retain test R@20 / Gold's", ratio, ">= 0.95", None if ratio is None else ratio >= 0.95)
    for key, tolerance, relative in (("forget_recall@20", 0.20, True), ("mia_auc", 0.05, False), ("erasure_peer_auc", 0.05, False)):
        if key in paired and "mmrecun" in paired[key]:
            diff, holds = paired[key]["mmrecun"]["diff_mean"], None
            holds = diff is not None and abs(diff) <= tolerance + 1e-12
        else:
            diff, holds = _within(ours.get(key), gold.get(key), tolerance, relative)
        add(f"{key} vs Gold's", diff, f"±{tolerance:.0%}" if relative else f"±{tolerance}", holds)
    item_key = "content_item_recall@500" if scenario == "modality" else "item_recall@500"
    diff, holds = _within(ours.get(item_key), gold.get(item_key), 0.20, True)
    add(f"{item_key} vs Gold's", diff, "±20%", holds)
    if ours.get("content_trace"):
        golds = [gold, *run["gold_replicates"].values()]
        for m, value in ours["content_trace"].items():
            spread = [g["content_trace"][m] for g in golds]
            add(
                f"content trace {m} (Golds {min(spread):.3f}-{max(spread):.3f})",
                value,
                "inside the Golds' range",
                min(spread) <= value <= max(spread) if len(spread) > 1 else None,
            )
    add("wall / Gold's", ours["wall_s"] / gold["wall_s"], "<= 0.05", ours["wall_s"] / gold["wall_s"] <= 0.05)
    return rows


def target_checks(scenario: str, per_seed: list[dict]) -> list[dict]:
    """Print and return, per forget set, MMRecUN against the Gold of the same run on every target of the benchmark:
    retain test Recall@20 >= 95 % of Gold's; forget Recall@20 and item Recall@500 within ±20 % (paired row draws
    where erased users' rows are draws); membership AUC within 0.05, and so its form against never-seen items of
    the erased items' popularity (paired row draws too); content trace inside the range of the Golds' (every training
    seed run); wall time <= 1/20 of Gold's."""
    rows = [row for run in per_seed if run["methods"].get("mmrecun") is not None for row in _run_checks(scenario, run)]
    print("\nMMRecUN against the Gold of the same run (None: not defined for this scenario):")
    print_table(rows, [("seed", "{}"), ("measure", "{}"), ("mmrecun", "{:+.4f}"), ("target", "{}"), ("holds", "{}")])
    return rows
