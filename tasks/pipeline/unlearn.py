"""``mmrecun unlearn``: make a trained model forget the requests in a FORGET_DIR, with evidence.

Methods: ``mmrecun`` (default), ``mmrecun-paper`` (the paper's form), ``finetune``, ``neggrad`` (all start
from the parent model; :mod:`mmrecun_core.unlearning.loop`) and ``gold`` (retrain from scratch on the retain data
with the parent's hyper-parameters and early stopping: the reference an approximate method is judged against).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time

import numpy as np
import torch

from mmrecun_core.checkpoint import ModelBundle, save_model
from mmrecun_core.device import resolve_device
from mmrecun_core.graphs import build_graphs, modality_knn
from mmrecun_core.models import MODEL_TYPES
from mmrecun_core.trainer import TrainConfig, fit, seed_everything
from mmrecun_core.unlearning.config import METHODS as UNLEARN_METHODS
from mmrecun_core.unlearning.config import UnlearnConfig
from mmrecun_core.unlearning.evidence import collect_evidence
from mmrecun_core.unlearning.forget import retain_data
from mmrecun_core.unlearning.loop import unlearn
from mmrecun_core.unlearning.objective import MMRecUNConfig
from mmrecun_core.unlearning.replay import ReplaySchedule
from mmrecun_core.unlearning.rows import TrainedOn, erase_user_rows
from schemas.errors import BadParameter, ContractError
from tasks.core_input import core_input
from tasks.paths import replacing_folder
from tasks.pipeline.evaluate import load_model_for
from tasks.pipeline.forget_set import load_plan, plan_forget

log = logging.getLogger("mmrecun.unlearn")
METHODS = (*UNLEARN_METHODS, "gold")


def prepare(data_dir, model_dir, forget_dir, device: str = "auto", cutoff: dt.datetime | None = None, plan_dir=None):
    """Load parent, catalogue and requests; return ``(parent bundle, data, requests, retain, retain knn, device)``.

    ``requests`` is the :class:`~tasks.pipeline.forget_set.ForgetPlan`: the one the forget-set step wrote into
    ``plan_dir``, or else planned here from the requests folder ``forget_dir`` at ``cutoff``. Its ``forget`` set
    holds only what is new since the parent; the retain data excludes the cumulative set.
    """
    dev = resolve_device(device)
    parent, catalogue = load_model_for(model_dir, data_dir, dev)
    data = catalogue.data
    applied = parent.manifest.get("requests_applied", [])
    if plan_dir is not None:
        requests = load_plan(plan_dir, catalogue.sha256, applied)
    else:
        requests = plan_forget(forget_dir, data, cutoff, applied=applied)
    if requests.nothing_to_forget:
        raise ContractError(f"{plan_dir or forget_dir}: no request new since the parent model applies at the cutoff: nothing to forget")
    retain = retain_data(data, requests.cumulative)  # what the parent already forgot stays out
    knn = {}
    for m, graph in parent.knn.items():  # kept where it already leaves every deleted item out, as a rebuild would
        kept = graph.isolates(requests.cumulative.deleted_content(m))
        knn[m] = graph if kept else modality_knn(retain.features[m], graph.index.shape[1], dev)
    return parent, data, requests, retain, knn, dev


def replay_schedule(manifest: dict) -> ReplaySchedule | None:
    """The schedule of the training behind a model, for the revocation replay; None (with a warning) if unknown.

    A trained model's manifest gives (best epoch + 1) epochs at its batch size and learning rate; an
    unlearned model's carries its parent's on as ``training_schedule``.
    """
    if manifest.get("training_schedule"):
        return ReplaySchedule(**manifest["training_schedule"])
    if "best_epoch" not in manifest:
        log.warning("the parent's manifest has no best_epoch or training_schedule: revoked items are not replayed")
        return None
    train = manifest.get("train_config", {})
    return ReplaySchedule(int(manifest["best_epoch"]) + 1, int(train.get("batch_size", 2048)), float(train.get("lr", 1e-3)))


def training_schedule(method: str, parent_manifest: dict, facts: dict) -> ReplaySchedule | None:
    """The schedule a new model version carries for later replays: Gold's own fit for ``gold``, else the parent's."""
    if method == "gold":
        train = TrainConfig()
        return ReplaySchedule(int(facts["best_epoch"]) + 1, train.batch_size, train.lr)
    return replay_schedule(parent_manifest)


def run_method(
    method: str,
    parent: ModelBundle,
    data,
    requests,
    retain,
    knn,
    dev,
    *,
    alpha: float = 0.5,
    max_epochs: int | None = None,
    seed: int = 0,
    gold_seed: int | None = None,
    replay: bool = True,
    overrides: dict | None = None,
    parent_emb=None,
):
    """Produce the unlearned model with ``method``; return ``(model, graphs, facts)``; ``facts["wall_s"]`` is its own time.

    The approximate methods change ``parent.model`` in place (pass a copy to keep the parent) and
    draw with ``seed``; ``max_epochs`` None is the method's own cap; ``overrides``: further
    :class:`~mmrecun_core.unlearning.config.UnlearnConfig` fields (the benchmark's ablation ladder); ``parent_emb``: the
    parent's embeddings on its own graphs where the caller has them (None: propagated here, when the method withdraws
    revoked items' pull, inside the wall time). Gold trains
    with ``gold_seed``, by default the parent's own training seed, so that it differs from the parent
    only by the data.
    """
    if method not in METHODS:
        raise BadParameter(f"unknown method {method!r}; choose one of {list(METHODS)}")
    graphs = build_graphs(retain.train, knn, dev)
    started = time.perf_counter()
    if method == "gold":
        model_cls, _ = MODEL_TYPES[parent.model.name]
        train_seed = parent.manifest.get("seed", seed) if gold_seed is None else gold_seed
        seed_everything(train_seed)
        features = {m: torch.from_numpy(f.matrix) for m, f in retain.features.items()} if parent.model.name == "mgcn" else {}
        model = model_cls(parent.model.n_users, parent.model.n_items, features, parent.model.config).to(dev)
        result = fit(model, graphs, retain, TrainConfig(seed=train_seed))
        facts = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "train_seed": train_seed}
    else:
        model = parent.model
        config = UnlearnConfig(
            method=method,
            objective=MMRecUNConfig(alpha=alpha),
            max_epochs=max_epochs,
            seed=seed,
            replay=replay_schedule(parent.manifest) if replay else None,
            **(overrides or {}),
        )
        trained_on = None
        if config.pulls(requests.forget):  # the parent's own interactions: without what earlier versions forgot
            with torch.no_grad():
                items = (parent_emb if parent_emb is not None else model.propagate(parent.graphs(dev))).items
            trained_on = TrainedOn(parent.train, items)
        result = unlearn(model, data, requests.forget, retain, graphs, config, requests.cumulative.items, trained_on)
        facts = {
            "epochs_run": result.epochs_run,
            "stopped_by": result.stopped_by,
            "criterion": config.criterion,
            "criterion_auc": result.criterion_auc,
            "initial_criterion_auc": result.initial_auc,
            "criterion_levels": result.levels,
            "replay": result.replay,
            "pull": result.pull,
            "resets_own_rows": config.resets_own_rows,
            "config": dataclasses.asdict(config),
        }
    facts["wall_s"] = time.perf_counter() - started
    return model, graphs, facts


def measure_and_erase(model, graphs, data, retain, forget, parent_emb, gold_emb=None, content_reference=None) -> dict:
    """Collect the evidence, then zero the erased users' rows (the exact guarantee) for publication.
    ``content_reference``: an earlier evidence's ``content_trace_reference`` on the same data (None: computed).

    The evidence comes first: once those rows are zero every score of an erased user ties, and
    user-centric measures would describe the tie order instead of what the rest of the model kept.
    """
    evidence = collect_evidence(model, graphs, data, retain, forget, parent=parent_emb, gold=gold_emb, content_reference=content_reference)
    erase_user_rows(model, forget.users)
    return evidence


def tombstoned(user_ids: np.ndarray, erased: np.ndarray) -> np.ndarray:
    """``user_ids`` with ``None`` at the erased users' indices: their external ids leave the model's id maps,
    while every index keeps its meaning (object array ``[n_users]``)."""
    out = np.asarray(user_ids, dtype=object).copy()
    out[np.asarray(erased, dtype=np.int64)] = None
    return out


@core_input()
def unlearn_model(
    data_dir,
    model_dir,
    forget_dir,
    out_dir,
    *,
    method: str = "mmrecun",
    alpha: float = 0.5,
    max_epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    cutoff: dt.datetime | None = None,
    run_gold: bool = False,
    plan_dir=None,
) -> dict:
    """Unlearn and write ``out_dir`` (new model directory + ``evidence.json``); return a small reference.

    ``evidence.json`` holds the unlearned model's measures, ``original`` (the parent's, on the same
    data) and, with ``run_gold``, ``gold`` (a model retrained from scratch on the retain data, its
    ``wall_s`` included) plus the unlearned model's ``bpr_div_gold``. ``plan_dir``: the forget-set step's output,
    used instead of planning again from the requests folder ``forget_dir`` (see :func:`prepare`).
    """
    parent, data, requests, retain, knn, dev = prepare(data_dir, model_dir, forget_dir, device, cutoff, plan_dir)
    parent_graphs = parent.graphs(dev)  # the parent's own graphs, built once
    with torch.no_grad():
        parent.model.eval()
        parent_emb = parent.model.propagate(parent_graphs)
    # the "original" column of the report: the parent on the same data (measured before it changes)
    original = collect_evidence(parent.model, parent_graphs, data, retain, requests.cumulative)
    gold, gold_emb = None, None
    if run_gold:
        gold_model, gold_graphs, gold_facts = run_method("gold", parent, data, requests, retain, knn, dev, seed=seed)
        gold = {
            **collect_evidence(
                gold_model,
                gold_graphs,
                data,
                retain,
                requests.cumulative,
                parent=parent_emb,
                content_reference=original["content_trace_reference"],
            ),
            "wall_s": gold_facts["wall_s"],
        }
        with torch.no_grad():
            gold_emb = gold_model.propagate(gold_graphs)
    model, graphs, facts = run_method(
        method, parent, data, requests, retain, knn, dev, alpha=alpha, max_epochs=max_epochs, seed=seed, parent_emb=parent_emb
    )
    evidence = measure_and_erase(
        model, graphs, data, retain, requests.cumulative, parent_emb, gold_emb, original["content_trace_reference"]
    )
    evidence["wall_s"] = facts["wall_s"]
    evidence["original"] = original
    evidence["gold"] = gold
    manifest = {
        **{k: parent.manifest[k] for k in ("model", "seed", "data_sha256") if k in parent.manifest},
        "parent": {"model_dir": str(model_dir), "files": parent.manifest.get("files", {})},
        "method": method,
        "unlearn": facts,
        "requests_applied": requests.request_ids,
        "forget_counts": requests.counts,
        "not_applicable": requests.not_applicable,
        "excluded_items": np.asarray(data.item_ids[requests.cumulative.items]).tolist(),
        "training_schedule": dataclasses.asdict(schedule) if (schedule := training_schedule(method, parent.manifest, facts)) else None,
        "erased_users": len(requests.cumulative.users),
        "new_requests": requests.new_request_ids,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    bundle = ModelBundle(model, retain.train, knn, tombstoned(data.user_ids, requests.cumulative.users), data.item_ids, manifest)
    with replacing_folder(out_dir) as tmp:
        (tmp / "evidence.json").write_text(json.dumps(evidence, indent=2))  # listed in the manifest save_model writes
        save_model(bundle, tmp)
    log.info(
        "%s: forget recall@20 %.4f, retain test recall@20 %.4f, membership AUC %s, %.1fs",
        method,
        evidence["forget_recall@20"],
        evidence["retain_test_recall@20"],
        evidence["mia_auc"],
        facts["wall_s"],
    )
    return {"model_dir": str(out_dir), "method": method, "evidence": evidence}
