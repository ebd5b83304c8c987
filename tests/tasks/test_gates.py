"""Each quality gate fails on a model that did not forget, measured on real evidence of the TikTok slice."""

import copy

import numpy as np
import pytest
import torch

from mmrecun_core.unlearning.evidence import collect_evidence
from mmrecun_core.unlearning.forget import ForgetSet, retain_data
from tasks.reporting.gates import Gates, quality_gates
from tests.conftest import graphs_of

RUN = {"kind": "unlearn"}
VALID = {"success": True}


def evidence_of(model, data, forget, original=None, parent=None):
    retain = retain_data(data, forget)
    with torch.no_grad():
        parent_emb = None if parent is None else parent.eval().propagate(graphs_of(data))
    evidence = collect_evidence(model, graphs_of(retain), data, retain, forget, parent=parent_emb)
    evidence["original"] = original if original is not None else evidence
    return evidence


def gate(evidence, name):
    rows = {g["name"]: g for g in quality_gates(RUN, evidence, VALID, Gates())}
    return rows[name]


def test_erasures_fail_on_a_model_that_kept_them(parent, slice_data):
    coo = slice_data.train.tocoo()
    forget = ForgetSet.of(pairs=np.c_[coo.row, coo.col][::12])
    evidence = evidence_of(copy.deepcopy(parent), slice_data, forget, parent=parent)
    g = gate(evidence, "erasures forgotten")
    assert not g["passed"] and g["value"] > g["threshold"]  # trained positives: recognisable
    level = evidence["erasure_heldout_level"]
    assert 0.5 < level < g["value"] and g["threshold"] == pytest.approx(level + Gates().erasure_margin)
    assert "erased interaction" in g["description"] and "later choices" in g["description"] and f"{level:.0%}" in g["description"]
    top = gate(evidence, "erasures out of the top 20")
    assert not top["passed"] and top["value"] > top["threshold"]  # the parent keeps its training items at the top
    level = evidence["erasure_heldout_recall@20"]
    assert 0 <= level < top["value"] and top["threshold"] == pytest.approx(level + Gates().erasure_margin)
    assert "top-20" in top["description"] and f"{level:.0%}" in top["description"]


def test_revocations_fail_on_a_model_that_still_ranks_them(parent, slice_data):
    popular = np.argsort(-np.asarray(slice_data.train.sum(axis=0)).ravel(), kind="stable")[:30]
    g = gate(evidence_of(copy.deepcopy(parent), slice_data, ForgetSet.of(items=popular)), "revoked items pushed out")
    assert not g["passed"] and g["value"] > g["threshold"]
    assert "before the serving filter" in g["description"]


def test_withdrawn_content_fails_on_a_model_whose_items_are_that_content(parent, slice_data):
    m = slice_data.modalities[0]
    # every modality of the items withdrawn: the reference attacker cannot read one modality's content off another's
    # (on data whose modalities are near copies of each other it would, and no model could be told from it)
    forget = ForgetSet.of(modality_items={o: np.arange(1, slice_data.n_items, 7) for o in slice_data.modalities})
    model = copy.deepcopy(parent)
    with torch.no_grad():  # item rows that literally encode the withdrawn content: a model that did not forget it
        content = torch.from_numpy(slice_data.features[m].matrix)
        model.item_embedding.weight[:] = content @ torch.randn(content.shape[1], model.item_embedding.weight.shape[1]) * 0.1
    g = gate(evidence_of(model, slice_data, forget), f"{m} content forgotten")
    assert not g["passed"] and g["value"] > g["threshold"]
    g = gate(
        evidence_of(copy.deepcopy(parent), slice_data, ForgetSet.of(modality_items={m: forget.modality_items[m]})), f"{m} content forgotten"
    )
    assert g["threshold"] > 0.5  # the reference attacker is measured too


def test_retain_utility_fails_on_a_model_that_lost_what_it_keeps(parent, slice_data, scenario):
    original = evidence_of(copy.deepcopy(parent), slice_data, scenario[0])
    broken = copy.deepcopy(parent)
    with torch.no_grad():
        broken.item_embedding.weight.normal_()
    g = gate(evidence_of(broken, slice_data, scenario[0], original), "retain utility")
    assert not g["passed"] and g["value"] < g["threshold"] == pytest.approx(0.95 * original["retain_valid_recall@20"])
    assert "validation" in g["description"]
    assert gate(original, "retain utility")["passed"]
