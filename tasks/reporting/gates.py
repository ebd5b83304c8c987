"""The report's quality gates: each a measured value, a stated threshold and a plain sentence a compliance reader can sign.

Every gate reads measured evidence of the unlearned model (``evidence.json``, :mod:`mmrecun_core.unlearning.evidence`),
never what the unlearner says of itself, and none needs Gold. Utility is judged on the validation split only (the
test split is for reporting). A gate applies only where the run has requests of its kind. Thresholds and their
reasons: ``docs/decisions/004-gates.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.run_params import GATE_PREFIX, gate_defaults

DEFAULT = gate_defaults()  # the thresholds' defaults are those of the gate_<field> run parameters


@dataclass(frozen=True)
class Gates:
    """Thresholds. ``retain_ratio``: retain validation Recall@20 must reach this share of the original model's;
    ``erasure_margin``: how far the membership AUC of erased interactions (of items still served; against never-seen
    items of the same users), and their Recall@20, may lie above the original model's for held-out interactions with
    equally popular items (the erasures' level sample);
    ``revoked_exposure_max``: revoked items per test user in the raw model's top-20 (before the serving filter);
    ``content_tolerance``: how far above the reference attacker (the retained data alone) the
    content trace of a revoked modality may lie; ``forget_recall_max``: an optional ceiling on forget Recall@20.
    Defaults: :data:`schemas.run_params.RUN_PARAMS` ``gate_<field>``."""

    retain_ratio: float = DEFAULT["retain_ratio"]
    erasure_margin: float = DEFAULT["erasure_margin"]
    revoked_exposure_max: float = DEFAULT["revoked_exposure_max"]
    content_tolerance: float = DEFAULT["content_tolerance"]
    forget_recall_max: float | None = DEFAULT["forget_recall_max"]

    @classmethod
    def from_params(cls, params: dict) -> "Gates":
        """The gates of a run's parameters: ``gate_<field>`` for each field given (the others keep their defaults)."""
        return cls(**{f: params[GATE_PREFIX + f] for f in cls.__dataclass_fields__ if GATE_PREFIX + f in params})


# The erasures' gates: (name, measure, its level: the same measure of the level sample's held-out interactions under the original
# model, the sentence). Each passes at most ``erasure_margin`` above its level (docs/decisions/004-gates.md).
ERASURE_GATES = (
    (
        "erasures forgotten",
        "erasure_mia_auc",
        "erasure_heldout_level",
        "An attacker comparing each erased interaction with an item the same user never had picks the erased one at most "
        "as often as the original model picks users' later choices of equally popular items, which it never trained on "
        "({level:.0%}), plus {margin:.0%} (50% = chance; a retrained model treats what was erased much as it treats such "
        "later choices).",
    ),
    (
        "erasures out of the top 20",
        "erasure_recall@20",
        "erasure_heldout_recall@20",
        "Erased interactions come back in their users' top-20 lists at most as often as the original model puts users' "
        "later choices of equally popular items there, which it never trained on ({level:.0%}), plus {margin:.0%} (Recall@20 "
        "of the erased interactions).",
    ),
)


def _gate(name: str, sentence: str, value, threshold, passed: bool, detail: str | None = None) -> dict:
    return {"name": name, "description": sentence, "value": value, "threshold": threshold, "passed": bool(passed), "detail": detail}


def quality_gates(run: dict, evidence: dict | None, validation: dict | None, cfg: Gates) -> list[dict]:
    """The gates of one run, in report order: ``{"name", "description", "value", "threshold", "passed", "detail"}`` each."""
    ok = bool(validation and validation["success"])
    gates = [
        _gate(
            "data validation",
            "Every critical data check (Great Expectations) passed on the input tables.",
            "passed" if ok else "missing" if validation is None else "failed",
            "passed",
            ok,
        )
    ]
    if run["kind"] != "unlearn" or evidence is None:
        return gates
    original = (evidence.get("original") or {}).get("retain_valid_recall@20")
    value = evidence.get("retain_valid_recall@20")
    threshold = None if original is None else cfg.retain_ratio * original
    gates.append(
        _gate(
            "retain utility",
            f"For the data it keeps, the new model still finds at least {cfg.retain_ratio:.0%} of "
            f"what the original model found (validation Recall@20).",
            value,
            threshold,
            threshold is not None and value is not None and value >= threshold,
        )
    )
    for name, measure, level_key, sentence in ERASURE_GATES:
        value, level = evidence.get(measure), evidence.get(level_key)
        if value is not None and level is not None:
            limit = level + cfg.erasure_margin
            gates.append(_gate(name, sentence.format(level=level, margin=cfg.erasure_margin), value, limit, value <= limit))
    if evidence.get("item_recall@500") is not None:  # measured only when the run revoked items
        users = max(evidence.get("exposure_rankings") or 0, 1)
        rate = evidence.get("model_exposure@20", 0) / users
        gates.append(
            _gate(
                "revoked items pushed out",
                "Even before the serving filter removes them, revoked items appear in "
                f"the model's own top-20 at most {cfg.revoked_exposure_max:g} times per user.",
                rate,
                cfg.revoked_exposure_max,
                rate <= cfg.revoked_exposure_max,
                f"{evidence.get('model_exposure@20', 0)} appearances over {users} users; served lists exclude "
                f"revoked items outright ({evidence.get('exposure@20')} served)",
            )
        )
    reference = evidence.get("content_trace_reference") or {}
    for modality, value in (evidence.get("content_trace") or {}).items():
        limit = reference[modality] + cfg.content_tolerance
        gates.append(
            _gate(
                f"{modality} content forgotten",
                f"Matching withdrawn {modality} content to its items from the model "
                f"succeeds no more often than from the retained data alone, plus {cfg.content_tolerance:.0%} "
                "(50% = chance).",
                value,
                limit,
                value <= limit,
                f"reference attacker (retained interactions and the other modalities' content): {reference[modality]:.3f}",
            )
        )
    if cfg.forget_recall_max is not None:
        value = evidence.get("forget_recall@20")
        gates.append(
            _gate(
                "forget recall",
                f"The model finds at most {cfg.forget_recall_max} of the forgotten interactions in its users' top-20 (Recall@20).",
                value,
                cfg.forget_recall_max,
                value is not None and value <= cfg.forget_recall_max,
            )
        )
    return gates
