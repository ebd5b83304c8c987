"""Benchmark: MMRecUN against Gold (retrain from scratch), fine-tune and NegGrad on one forget scenario.

    python bench/unlearn.py --data ../shared/data/tiktok --scenario users --fraction 0.05 --seed 0 --json bench/results/unlearn_users.json

Trains the parent MGCN (seed 999) on ``--data`` unless it is there already, writes the request
tables of the scenario, then runs every method from the same parent and measures the evidence. The
parent is cached per data set: without ``--parent`` it lives in ``bench/results/parent_mgcn-<12 hex
digits of the data's sha256>``; a ``--parent`` trained on other data is refused (:func:`parent_dir`).
``wall_s`` is each method's own time to produce its model (Gold's early-stopping evaluations
included, evidence excluded).

``--gold-seeds 1,2`` retrains Gold again with other training seeds (same data, same forget set) and
prints how far those Golds sit from the parent-seeded Gold on each target measure: the spread that
retraining itself shows, beside MMRecUN's distance (JSON ``gold_replicates``).

For scenarios with erased users, ``--row-draws N`` (default 20) measures the user-centric evidence
(membership AUC, forget Recall@20) again with the erased users' ID rows redrawn from the initialiser,
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
import dataclasses
import copy
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PAIRED, catalogue_dir, machine, paired_row_draws, parent_dir, print_table, write_json  # noqa: E402

from mmrecun_core.criterion import cold_pool, paired_auc  # noqa: E402
from tasks.catalogue import load_catalogue  # noqa: E402
from tasks.requests import make_requests  # noqa: E402
from tasks.unlearn import measure_and_erase, prepare, run_method  # noqa: E402

KEYS = ["wall_s", "retain_valid_recall@20", "retain_test_recall@20", "retain_test_ndcg@20", "forget_recall@20",
        "item_recall@500", "item_recall@1000", "item_recall@1500", "exposure@20", "bpr_div_parent", "bpr_div_gold", "mia_auc"]


def score_profile(emb, n_users: int, retain_train, revoked: np.ndarray, excluded: np.ndarray, seed: int, size: int = 5000) -> dict:
    """Scores of revoked items against the cold pool and uniformly drawn items, under one model's embeddings ``emb``.

    ``size`` users are drawn by their retain training interactions; each is paired with a uniformly drawn revoked item,
    cold item (:func:`~mmrecun_core.criterion.cold_pool`, the criterion's reference) and catalogue item. Returns, per
    kind, the mean score and (MGCN) its content-view and side-view parts ``<e_u, C_i>`` and ``<e_u, H_i>``; the paired
    AUCs of revoked against cold and against uniform items; and the mean norm of all items' final embeddings (the
    model's score scale).
    """
    rng = np.random.default_rng(seed)
    coo = retain_train.tocoo()
    users = torch.from_numpy(coo.row[rng.integers(0, len(coo.row), size)].astype(np.int64))
    cold = cold_pool(retain_train, np.union1d(revoked, excluded), 100)
    drawn = {"revoked": revoked[rng.integers(0, len(revoked), size)], "cold": cold[rng.integers(0, len(cold), size)],
             "uniform": rng.integers(0, retain_train.shape[1], size)}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MMRec-layout folder or catalogue folder")
    parser.add_argument("--scenario", required=True, choices=["users", "items", "both", "interactions", "modality"])
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parent", help="parent model directory, trained if absent (default: one per data set, "
                        "bench/results/parent_mgcn-<data sha256>)")
    parser.add_argument("--methods", default="gold,mmrecun,finetune,neggrad")
    parser.add_argument("--max-epochs", type=int, default=50, help="epoch cap of the approximate methods")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-replay", action="store_true", help="MMRecUN without the revocation replay")
    parser.add_argument("--gold-seeds", default="", help="comma-separated training seeds of extra Gold retrainings")
    parser.add_argument("--row-draws", type=int, default=20, help="paired redraws of erased users' rows (0 = none)")
    parser.add_argument("--json")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("mmrecun.train").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mmrecun-unlearn-") as tmp:
        data_dir = catalogue_dir(args.data, tmp)
        catalogue = load_catalogue(data_dir)
        parent_path = parent_dir(args.parent, catalogue, args.data)
        if not (parent_path / "manifest.json").is_file():
            from tasks.train import train_model

            print(f"training the parent of data {catalogue.sha256[:12]} into {parent_path}", flush=True)
            train_model(data_dir, "mgcn", parent_path, seed=999, device=args.device)
        else:
            print(f"parent of data {catalogue.sha256[:12]}: {parent_path}", flush=True)
        make_requests(catalogue.data, args.scenario, args.fraction, args.seed, Path(tmp) / "forget")
        parent, data, requests, retain, knn, dev = prepare(data_dir, parent_path, Path(tmp) / "forget", args.device)
        with torch.no_grad():
            parent.model.eval()
            parent_emb = parent.model.propagate(parent.graphs(dev))
        results, replicates, gold_emb, redrawable = {}, {}, None, {}
        gold_seeds = [int(s) for s in args.gold_seeds.split(",") if s]
        if gold_seeds and "gold" not in args.methods.split(","):
            parser.error("--gold-seeds needs gold among --methods (the replicates are compared with it)")
        runs = [(m, None) for m in args.methods.split(",")] + [("gold", s) for s in gold_seeds]
        for method, gold_seed in runs:
            model, graphs, facts = run_method(method, copy.deepcopy(parent), data, requests, retain, knn, dev,
                                              max_epochs=args.max_epochs, seed=args.seed, gold_seed=gold_seed,
                                              replay=not args.no_replay)
            with torch.no_grad():
                model.eval()
                emb = model.propagate(graphs)
            if method == "gold" and gold_seed is None:
                gold_emb = emb
            if len(requests.forget.users) and args.row_draws and (method == "gold" or facts.get("resets_own_rows")):
                name = method if gold_seed is None else f"gold (seed {gold_seed})"
                redrawable[name] = (copy.deepcopy(model), graphs)  # before measure_and_erase zeroes the erased rows
            profile = (score_profile(emb, data.n_users, retain.train, requests.forget.items, requests.cumulative.items, args.seed)
                       if len(requests.forget.items) else None)
            evidence = measure_and_erase(model, graphs, data, retain, requests.forget, parent_emb, gold_emb)
            entry = {"wall_s": facts["wall_s"], **{k: evidence.get(k) for k in KEYS[1:]},
                     "epochs_run": facts.get("epochs_run"), "stopped_by": facts.get("stopped_by", "early stopping"),
                     "criterion_auc": facts.get("criterion_auc"), "initial_criterion_auc": facts.get("initial_criterion_auc"),
                     "replay": facts.get("replay"), "score_profile": profile}
            if gold_seed is None:
                results[method] = entry
            else:
                replicates[str(gold_seed)] = {**entry, "best_epoch": facts["best_epoch"]}
        paired = None
        if "gold" in redrawable:
            paired = paired_row_draws(redrawable, data, retain, requests.forget, args.row_draws)
    rows = [{"method": m, **r} for m, r in results.items()]
    print(f"\nscenario {args.scenario}, fraction {args.fraction}, seed {args.seed}: {requests.counts}")
    print_table(rows, [("method", "{}"), ("wall_s", "{:.1f}"), ("epochs_run", "{}"), ("retain_valid_recall@20", "{:.4f}"),
                       ("retain_test_recall@20", "{:.4f}"), ("retain_test_ndcg@20", "{:.4f}"), ("forget_recall@20", "{:.4f}"),
                       ("item_recall@500", "{:.4f}"), ("item_recall@1000", "{:.4f}"), ("item_recall@1500", "{:.4f}"),
                       ("exposure@20", "{}"), ("bpr_div_gold", "{:.4f}"), ("mia_auc", "{:.3f}")])
    profiles = [{"method": m, **r["score_profile"]} for m, r in results.items() if r["score_profile"]]
    if profiles:
        print("\nrevoked items against cold and uniformly drawn items (mean scores for users of retain interactions):")
        parts = [f"{k}_{p}" for k in ("revoked", "cold", "uniform") for p in ("score", "content", "side") if f"{k}_{p}" in profiles[0]]
        print_table(profiles, [("method", "{}"), *((c, "{:+.3f}") for c in parts),
                               ("auc_revoked_vs_cold", "{:.3f}"), ("auc_revoked_vs_uniform", "{:.3f}"), ("item_norm", "{:.3f}")])
    if "gold" in results and "mmrecun" in results:
        print(f"\nMMRecUN / Gold wall time (same run): {results['mmrecun']['wall_s'] / results['gold']['wall_s']:.3f}")
    if replicates:
        print_gold_spread(results, replicates)
    for measure, per_model in (paired or {}).items():
        target, how = PAIRED[measure]
        print(f"\n{measure} with the erased users' rows redrawn alike in every model ({args.row_draws} paired draws; "
              f"difference from Gold under the same draw, {how}; within: share of draws within ±{target:g}):")
        diff = "{:+.3f}" if how == "absolute" else "{:+.1%}"
        print_table([{"model": m, **r} for m, r in per_model.items()],
                    [("model", "{}"), ("mean", "{:.4f}"), ("sd", "{:.4f}"), ("diff_mean", diff), ("diff_sd", diff.replace("+", "")),
                     ("within", "{:.0%}")])
    write_json(args.json, {"scenario": args.scenario, "fraction": args.fraction, "seed": args.seed,
                           "data": str(args.data), "data_sha256": catalogue.sha256, "parent": str(parent_path),
                           "methods": results, "gold_replicates": replicates, "paired_row_draws": paired,
                           "requests": requests.counts, "machine": machine()})


SPREAD_KEYS = ["retain_test_recall@20", "forget_recall@20", "item_recall@500", "mia_auc"]


def print_gold_spread(results: dict, replicates: dict) -> None:
    """Print each target measure for Gold, its replicates (other training seeds) and the approximate methods.

    Two columns per model: the value, and its difference from the parent-seeded Gold (absolute for
    the AUC, relative for recalls, as the targets state them). ``bpr_div_gold`` of a replicate is
    the divergence between two retrainings.
    """
    gold = results["gold"]
    models = {f"gold (seed {s})": r for s, r in replicates.items()}
    models.update({m: r for m, r in results.items() if m != "gold"})
    rows = []
    for name, r in models.items():
        row = {"model": name, "bpr_div_gold": r["bpr_div_gold"]}
        for k in SPREAD_KEYS:
            v, g = r[k], gold[k]
            row[k] = v
            row[f"{k} vs gold"] = (None if v is None or g is None else
                                   v - g if k == "mia_auc" else (v - g) / g if g else None)
        rows.append(row)
    print("\neach model against the parent-seeded Gold (recalls: relative difference; MIA AUC: absolute):")
    cols = [("model", "{}")]
    for k in SPREAD_KEYS:
        cols += [(k, "{:.4f}"), (f"{k} vs gold", "{:+.3f}" if k == "mia_auc" else "{:+.1%}")]
    print_table(rows, cols + [("bpr_div_gold", "{:.4f}")])


if __name__ == "__main__":
    main()
