"""Benchmark: MMRecUN against Gold (retrain from scratch), the paper's form, fine-tune and NegGrad on one scenario.

    python bench/unlearn.py --data ../shared/data/tiktok --scenario users --seeds 0,1,2 --json bench/results/unlearn_users.json

Scenarios: ``users``, ``items``, ``both``, ``interactions`` (a share of chosen users' interactions),
``modality`` (one modality's content of some items). Every forget-set seed of ``--seeds`` is a separate
forget set; the paper-shaped table gives each measure's mean and standard deviation over them, and the
targets table says, seed by seed, whether MMRecUN is within the targets against the Gold of the same run.
The ablation ladder (``--ladder``, on by default) adds the paper's form with this project's additions
turned on one by one: ``+ row redraw``, ``+ replay``, ``+ pull withdrawn``; ``mmrecun`` is the last rung (adding the
item-centric references, the stopping criterion and its learning rate).

Trains the parent MGCN (seed 999) on ``--data`` unless it is there already, writes the request
tables of the scenario, then runs every method from the same parent and measures the evidence. The
parent is cached per data set: without ``--parent`` it lives in ``bench/results/parent_mgcn-<12 hex
digits of the data's sha256>``; a ``--parent`` trained on other data is refused (:func:`parent_dir`).
``wall_s`` is each method's own time to produce its model (Gold's early-stopping evaluations
included, evidence excluded).

``--gold-seeds 1,2`` (the default for ``modality``, whose content-trace target is Gold's own spread) retrains Gold
again with other training seeds (same data, same forget set) and prints their figures in each forget set's table:
the spread that retraining itself shows, beside MMRecUN's distance (JSON ``gold_replicates``; the content-trace target
is the range of all the Golds). ``--unlearn-seeds 10,11`` does the same on MMRecUN's side: it unlearns the same forget
set again with other unlearning seeds (the row redraw, the replay's draws, the triples and the criterion's probe; the
main run's unlearning seed is the forget-set seed, and a seed equal to it is skipped), to show how much of a distance
from Gold is MMRecUN's own draw (JSON ``mmrecun_replicates``). Its replicates do not enter the targets, which compare
the main runs. Seeds are whole numbers >= 0; anything else is a usage error before any work.

For scenarios with erased users, ``--row-draws N`` (default 20) measures the user-centric evidence
(membership AUC, against uniformly drawn never-seen items and against popularity peers, forget Recall@20) again
with the erased users' ID rows redrawn from the initialiser,
the same ``N`` draws in Gold (its replicates too) and MMRecUN. In both an erased user's row is an
initialiser draw that nothing trains and nothing else reads (the user has no edge), so each draw
gives the pair of models the two methods would have produced had that row been drawn so. The paired
differences measure what the rest of the model keeps of the erased users' interactions, without
the noise of the row itself (JSON ``paired_row_draws``; :func:`paired_row_draws`).

For scenarios with revocations a second table places the revoked items' scores among those of the
cold pool (the criterion's reference items) and of uniformly drawn items, for users drawn by their
retain interactions, with MGCN's two views apart (see :func:`score_profile`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import catalogue_dir, machine, paired_row_draws, parent_dir, seed_list, write_json
from _unlearn_tables import KEYS, paper_table, print_seed_tables, target_checks
from mmrecun_core.unlearning.criterion import cold_pool, paired_auc
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.requests import make_requests
from tasks.inputs.scenarios import SCENARIOS
from tasks.pipeline.unlearn import measure_and_erase, prepare, run_method


def score_profile(emb, n_users: int, retain_train, revoked: np.ndarray, excluded: np.ndarray, seed: int, size: int = 5000) -> dict:
    """Scores of revoked items against the cold pool and uniformly drawn items, under one model's embeddings ``emb``.

    ``size`` users are drawn by their retain training interactions; each is paired with a uniformly drawn revoked item,
    cold item (:func:`~mmrecun_core.unlearning.criterion.cold_pool`, the criterion's reference) and catalogue item. Returns, per
    kind, the mean score and (MGCN) its content-view and side-view parts ``<e_u, C_i>`` and ``<e_u, H_i>``; the paired
    AUCs of revoked against cold and against uniform items; and the mean norm of all items' final embeddings (the
    model's score scale).
    """
    rng = np.random.default_rng(seed)
    coo = retain_train.tocoo()
    users = torch.from_numpy(coo.row[rng.integers(0, len(coo.row), size)].astype(np.int64))
    cold = cold_pool(retain_train, np.union1d(revoked, excluded), 100)
    drawn = {
        "revoked": revoked[rng.integers(0, len(revoked), size)],
        "cold": cold[rng.integers(0, len(cold), size)],
        "uniform": rng.integers(0, retain_train.shape[1], size),
    }
    emb = dataclasses.replace(emb, **{k: v.cpu() for k, v in vars(emb).items() if v is not None})  # a CUDA run too
    u = emb.users[users]
    out: dict = {"item_norm": float(emb.items.norm(dim=1).mean())}
    scores = {}
    for kind, items in drawn.items():
        index = torch.from_numpy(np.asarray(items, dtype=np.int64))
        scores[kind] = (u * emb.items[index]).sum(1).numpy()
        out[f"{kind}_score"] = float(scores[kind].mean())
        if emb.side is not None:
            out[f"{kind}_side"] = float((u * emb.side[n_users + index]).sum(1).mean())
            out[f"{kind}_content"] = float((u * emb.content[n_users + index]).sum(1).mean())
    out["auc_revoked_vs_cold"] = paired_auc(scores["revoked"], scores["cold"])
    out["auc_revoked_vs_uniform"] = paired_auc(scores["revoked"], scores["uniform"])
    return out


LADDER = {  # row -> (method, run_method keyword arguments): the paper's form, then one addition per rung
    "mmrecun-paper": ("mmrecun-paper", {"replay": False}),
    "+ row redraw": ("mmrecun-paper", {"replay": False, "overrides": {"reset_own_rows": True}}),
    "+ replay": ("mmrecun-paper", {"replay": True, "overrides": {"reset_own_rows": True}}),
    "+ pull withdrawn": ("mmrecun-paper", {"replay": True, "overrides": {"reset_own_rows": True, "withdraw_pull": True}}),
}


def run_seed(args, data_dir: Path, catalogue, parent_path: Path, seed: int, tmp: str) -> dict:
    """Every method on the forget set of ``seed``: ``{"methods", "gold_replicates", "mmrecun_replicates", "paired_row_draws",
    "requests"}``."""
    forget_dir = Path(tmp) / f"forget-{seed}"
    make_requests(catalogue.data, args.scenario, args.fraction, seed, forget_dir)
    parent, data, requests, retain, knn, dev = prepare(data_dir, parent_path, forget_dir, args.device)
    with torch.no_grad():
        parent.model.eval()
        parent_emb = parent.model.propagate(parent.graphs(dev))
    gold_emb, redrawable, reference = None, {}, None
    gold_seeds = args.gold_seeds if args.gold_seeds is not None else [1, 2] if args.scenario == "modality" else []
    methods = args.methods.split(",")
    runs = [("methods", m, (m, {})) for m in methods if m not in LADDER] + [("methods", m, LADDER[m]) for m in LADDER if args.ladder]
    runs += [("gold_replicates", f"gold (seed {g})", ("gold", {"gold_seed": g})) for g in gold_seeds]
    unlearn_seeds = [u for u in args.unlearn_seeds if u != seed]  # the main run's unlearning seed is the forget set's
    runs += [("mmrecun_replicates", f"mmrecun (seed {u})", ("mmrecun", {"seed": u})) for u in unlearn_seeds]
    out: dict = {"seed": seed, "methods": {}, "gold_replicates": {}, "mmrecun_replicates": {}}
    for group, name, (method, kwargs) in runs:
        kwargs = {"replay": not args.no_replay, "seed": seed, **kwargs}
        model, graphs, facts = run_method(
            method, copy.deepcopy(parent), data, requests, retain, knn, dev, max_epochs=args.max_epochs, **kwargs
        )
        with torch.no_grad():
            model.eval()
            emb = model.propagate(graphs)
        if name == "gold":
            gold_emb = emb
        if len(requests.forget.users) and args.row_draws and (method == "gold" or facts.get("resets_own_rows")):
            redrawable[name] = (copy.deepcopy(model), graphs)  # before measure_and_erase zeroes the erased rows
        profile = (
            score_profile(emb, data.n_users, retain.train, requests.forget.items, requests.cumulative.items, seed)
            if len(requests.forget.items)
            else None
        )
        evidence = measure_and_erase(model, graphs, data, retain, requests.forget, parent_emb, gold_emb, reference)
        reference = evidence["content_trace_reference"]  # the data's alone: measured once per forget set
        epochs = facts.get("epochs_run") or 0
        entry = {
            "wall_s": facts["wall_s"],
            **{k: evidence.get(k) for k in KEYS[1:]},
            "s_per_epoch": facts["wall_s"] / epochs if epochs else None,
            "epochs_run": epochs,
            "stopped_by": facts.get("stopped_by", "early stopping"),
            "criterion_auc": facts.get("criterion_auc"),
            "initial_criterion_auc": facts.get("initial_criterion_auc"),
            "criterion_levels": facts.get("criterion_levels"),
            "replay": facts.get("replay"),
            "pull": facts.get("pull"),
            "score_profile": profile,
        }
        out[group][name] = entry
    out["paired_row_draws"] = paired_row_draws(redrawable, data, retain, requests.forget, args.row_draws) if "gold" in redrawable else None
    return {**out, "requests": requests.counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MMRec-layout folder or catalogue folder")
    parser.add_argument("--scenario", required=True, choices=list(SCENARIOS))
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seeds", type=seed_list, default="0", help="comma-separated forget-set seeds (each its own forget set)")
    parser.add_argument(
        "--parent", help="parent model directory, trained if absent (default: one per data set, bench/results/parent_mgcn-<data sha256>)"
    )
    parser.add_argument("--methods", default="gold,mmrecun,finetune,neggrad")
    parser.add_argument("--no-ladder", dest="ladder", action="store_false", help="leave out the paper's form and its rungs")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap of the approximate methods (default: each method's own)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-replay", action="store_true", help="MMRecUN without the replay")
    parser.add_argument(
        "--gold-seeds",
        type=seed_list,
        default=None,
        help="comma-separated training seeds of extra Gold retrainings (default: 1,2 for modality, none otherwise)",
    )
    parser.add_argument(
        "--unlearn-seeds", type=seed_list, default="", help="comma-separated unlearning seeds of extra MMRecUN runs (default: none)"
    )
    parser.add_argument("--row-draws", type=int, default=20, help="paired redraws of erased users' rows (0 = none)")
    parser.add_argument("--json")
    args = parser.parse_args()
    if "gold" not in args.methods.split(","):
        parser.error("gold must be among --methods: every target is against it")

    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("mmrecun.train").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mmrecun-unlearn-") as tmp:
        data_dir = catalogue_dir(args.data, tmp)
        catalogue = load_catalogue(data_dir)
        parent_path = parent_dir(args.parent, catalogue, args.data)
        if not (parent_path / "manifest.json").is_file():
            from tasks.pipeline.train import train_model

            print(f"training the parent of data {catalogue.sha256[:12]} into {parent_path}", flush=True)
            train_model(data_dir, "mgcn", parent_path, seed=999, device=args.device)
        else:
            print(f"parent of data {catalogue.sha256[:12]}: {parent_path}", flush=True)
        per_seed = [run_seed(args, data_dir, catalogue, parent_path, seed, tmp) for seed in args.seeds]
    payload = {
        "scenario": args.scenario,
        "fraction": args.fraction,
        "seeds": [r["seed"] for r in per_seed],
        "data": str(args.data),
        "data_sha256": catalogue.sha256,
        "parent": str(parent_path),
        "per_seed": per_seed,
        "machine": machine(),
    }
    write_json(args.json, payload)  # the measurements first: a table that fails to print loses nothing
    print_seed_tables(args.scenario, per_seed)
    payload.update(summary=paper_table(per_seed), targets=target_checks(args.scenario, per_seed))
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
