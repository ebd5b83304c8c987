"""Step 6 of a run: the compliance report, from the run's own records only.

Reads ``run.json``, ``inputs/ingest.json``, ``validation/summary.json``, ``forget_set/summary.json``
and ``model/`` (``manifest.json``, ``evidence.json``) of a run directory and writes
``report.json`` (schema :data:`SCHEMA`), ``report.html`` (self-contained: inline CSS, figures as
data URIs) and ``report.pdf`` (fpdf2), plus ``figures/*.png``. Every rendering is made from
``report.json``'s dict, so the three say the same thing.

No user id appears, raw or hashed: requests are counted and named by request id. Validation
examples from user columns arrive as keyed hashes (:mod:`schemas.personal`, applied before GX sees a table).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from schemas.contracts import REVOCATIONS_FILE
from schemas.personal import SALT_VARIABLE
from tasks.inputs.request_tables import request_id_of
from tasks.paths import replacing_folder
from tasks.pipeline.run import PERSONAL_PARTS, keep_days, load_run
from tasks.reporting.gates import Gates, quality_gates
from tasks.reporting.lifecycle import DEADLINE_DAYS, lifecycle
from tasks.reporting.render import templates
from tasks.reporting.report_pdf import write_pdf

SCHEMA = "mmrecun.report/1"
NOTHING_TO_FORGET = "NOTHING TO FORGET"  # the status of a run whose forget set held nothing new
MEASURES = [  # (key, label, better)
    ("retain_valid_recall@20", "Retain valid Recall@20", "high"),
    ("retain_test_recall@10", "Retain test Recall@10", "high"),
    ("retain_test_recall@20", "Retain test Recall@20", "high"),
    ("retain_test_recall@50", "Retain test Recall@50", "high"),
    ("retain_test_ndcg@20", "Retain test NDCG@20", "high"),
    ("forget_recall@20", "Forget Recall@20 (forgotten interactions)", "low"),
    ("item_recall@500", "Revoked items Recall@500", "low"),
    ("item_recall@1000", "Revoked items Recall@1000", "low"),
    ("item_recall@1500", "Revoked items Recall@1500", "low"),
    ("exposure@20", "Revoked items served in any top-20", "zero"),
    ("model_exposure@20", "Revoked items in the raw model top-20 (before the serving filter)", "low"),
    ("bpr_div_parent", "Score divergence to the original (MSE)", "info"),
    ("bpr_div_gold", "Score divergence to Gold (MSE)", "low"),
    ("mia_auc", "Membership-inference AUC (forgotten vs never-seen)", "info"),
    ("erasure_mia_auc", "Membership-inference AUC, erased interactions of items still served", "low"),
    ("erasure_heldout_level", "Held-out interactions with equally popular items, under the original model (the erasures' level)", "info"),
    ("erasure_heldout_auc", "Erased against held-out interactions of the same users (AUC; 0.5 = never trained on)", "low"),
    ("erasure_recall@20", "Erased interactions of items still served: Recall@20 (back in their users' top-20)", "low"),
    ("erasure_heldout_recall@20", "Held-out interactions with equally popular items: Recall@20, original model (the level)", "info"),
    ("erasure_peer_auc", "Erased vs equally popular never-seen items (AUC; far below the next line: a trace, if users remain)", "info"),
    ("erasure_peer_level", "Held-out interactions with equally popular items against such items, original model (the level)", "info"),
    ("content_trace", "Withdrawn content matched to its items from the model (AUC)", "low"),
    ("content_trace_reference", "The same, from the retained data alone (reference attacker)", "info"),
    ("content_item_recall@500", "Items that lost content: Recall@500 over their users", "high"),
    ("wall_s", "Wall time, seconds", "fast"),
]


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _forgotten(run_dir: Path, forget: dict | None) -> dict | None:
    """Counts per request type, licence ids and request ids: never a user id, raw or hashed (a keyed hash of an
    erased user's id, kept under Object Lock, would itself be personal data held for the lock's lifetime)."""
    if forget is None:
        return None
    new = {request_id_of(k) for k in forget["new_request_ids"]}
    requests = run_dir / "inputs" / "requests"
    licences = set()
    if (requests / REVOCATIONS_FILE).is_file():
        t = pq.read_table(requests / REVOCATIONS_FILE, columns=["revocation_id", "licence_id"]).to_pylist()
        licences = {r["licence_id"] for r in t if r["revocation_id"] in new}
    return {
        "counts": forget["counts"],
        "new": forget["new"],
        "cumulative": forget["cumulative"],
        "retained_interactions": forget["retained_interactions"],
        "licence_ids": sorted(licences),
        "new_request_ids": sorted(new),
        "requests_applied_total": len(forget["request_ids"]),
        "not_applicable": forget["not_applicable"],
        "deferred": len(forget["deferred"]),
    }


def _workspace_policy() -> dict:
    """What the run's workspace keeps after it ends, and for how long (:func:`tasks.pipeline.run.clean_run`)."""
    days = keep_days()
    return {
        "removed": list(PERSONAL_PARTS),
        "kept": ["run.json", "report", "evaluation.json", "cleanup.json"],
        "when": "when the run ends" if days == 0 else f"{days} day(s) after the run ends (mmrecun gc)",
    }


VERDICTS = {
    "PASSED": "The version may be promoted to serve.",
    "FAILED": "The version must not be promoted; the published model pointer stays where it was.",
    NOTHING_TO_FORGET: "There was nothing new to forget.",
}


def _validation(summary: dict | None) -> dict | None:
    """The validation outcome as the report shows it (examples from user columns are already hashes)."""
    if summary is None:
        return None
    keep = ("rows", "expectations", "success", "sha256", "failed", "warnings")
    return {
        "success": summary["success"],
        "cutoff": summary["cutoff"],
        "tables": {name: {k: t[k] for k in keep} for name, t in summary["tables"].items()},
    }


def _evidence_rows(evidence: dict | None) -> list[dict]:
    if evidence is None:
        return []
    columns = {"original": evidence.get("original") or {}, "unlearned": evidence, "gold": evidence.get("gold") or {}}
    rows = []
    for k, label, better in MEASURES:
        values = {name: x.get(k) for name, x in columns.items()}
        if isinstance(values["unlearned"], dict):  # one value per modality
            rows += [
                {"key": f"{k}/{m}", "measure": f"{label}, {m}", "better": better, **{name: (v or {}).get(m) for name, v in values.items()}}
                for m in values["unlearned"]
            ]
        elif any(v is not None for v in values.values()):
            rows.append({"key": k, "measure": label, "better": better, **values})
    return rows


def _figures(report: dict, evidence: dict | None, out: Path) -> dict[str, str]:
    """PNG figures under ``out/figures``; returns name -> relative path."""
    if evidence is None:
        return {}
    (out / "figures").mkdir()
    figures = {}
    rows = {r["key"]: r for r in report["evidence"]}
    columns = [c for c in ("original", "unlearned", "gold") if any(r[c] is not None for r in rows.values())]
    colours = {"original": "#8c8c8c", "unlearned": "#1f6fb4", "gold": "#d08c1a"}

    def bars(name: str, title: str, labels: dict[str, str]) -> None:
        keys = [k for k in labels if k in rows]
        if not keys:
            return
        fig = Figure(figsize=(6.4, 3.0), dpi=110)
        ax = fig.subplots()
        width = 0.8 / len(columns)
        top = 0.0
        for i, c in enumerate(columns):
            values = np.array([rows[k][c] if rows[k][c] is not None else np.nan for k in keys], dtype=float)
            x = np.arange(len(keys)) + i * width
            ax.bar(x, values, width, label=c, color=colours[c])
            for xi, v in zip(x, values, strict=True):
                if not np.isnan(v):
                    ax.annotate(f"{v:.3g}", (xi, v), ha="center", va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
            top = max(top, np.nanmax(values) if not np.isnan(values).all() else 0.0)
        ax.set_ylim(0, top * 1.2 if top > 0 else 1)
        ax.set_xticks(np.arange(len(keys)) + width * (len(columns) - 1) / 2, [labels[k] for k in keys], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        fig.savefig(out / "figures" / f"{name}.png")
        figures[name] = f"figures/{name}.png"

    bars(
        "utility",
        "Utility kept: retain users' test ranking quality",
        {"retain_test_recall@20": "Recall@20", "retain_test_ndcg@20": "NDCG@20"},
    )
    bars(
        "forgetting",
        "Forgetting: recall of what was forgotten (lower is better)",
        {
            "forget_recall@20": "forgotten interactions\nRecall@20",
            "item_recall@500": "revoked items\nRecall@500",
            "item_recall@1000": "revoked items\nRecall@1000",
        },
    )
    bars(
        "exposure",
        "Revoked items in users' top-20 lists",
        {"model_exposure@20": "raw model ranking", "exposure@20": "served (after the filter)"},
    )
    hist = evidence.get("score_histograms")
    if hist:
        fig = Figure(figsize=(6.4, 3.0), dpi=110)
        ax = fig.subplots()
        edges = np.asarray(hist["edges"])
        for label, colour in (("forgotten", "#c0392b"), ("never_seen", "#1f6fb4")):
            ax.stairs(hist[label], edges, label=label.replace("_", "-"), color=colour, fill=False, linewidth=1.6)
        ax.set_xlabel("score", fontsize=8)
        ax.set_ylabel("share of pairs", fontsize=8)
        ax.set_title("Scores of forgotten vs never-seen interactions (same users), unlearned model", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        fig.savefig(out / "figures" / "scores.png")
        figures["scores"] = "figures/scores.png"
    return figures


def build_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    gates: Gates = Gates(),
    outcome: tuple[str, str] | None = None,
    deadline_days: int = DEADLINE_DAYS,
) -> dict:
    """Write the report of the run in ``run_dir`` into ``out_dir`` (default ``run_dir/report``); return report.json's dict.

    ``outcome``: ``(status, verdict)`` decided after the gates, by publication (``SUPERSEDED``: another run
    promoted first); it replaces the gates' status and the verdict sentence. ``deadline_days``: how long a
    request may wait before the report flags it overdue (:mod:`tasks.reporting.lifecycle`).
    """
    root = Path(run_dir)
    run = load_run(root)
    manifest = _read_json(root / "model" / "manifest.json") or {}
    evidence = _read_json(root / "model" / "evidence.json")
    validation = _read_json(root / "validation" / "summary.json")
    forget = _read_json(root / "forget_set" / "summary.json")
    ingest = _read_json(root / "inputs" / "ingest.json")
    gate_rows = quality_gates(run, evidence, validation, gates)
    status = "PASSED" if all(g["passed"] for g in gate_rows) else "FAILED"
    made = not (run["kind"] == "unlearn" and forget and forget["nothing_to_forget"])
    if not made:
        status = NOTHING_TO_FORGET  # no model was made: the run records that the requests were checked
    version = run["version"] if made else None
    status, verdict = outcome or (status, VERDICTS[status])
    report = {
        "schema": SCHEMA,
        "status": status,
        "verdict": verdict,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run": {**{k: run.get(k) for k in ("run_id", "kind", "model_name", "started_at", "parent")}, "version": version},
        "gates": gate_rows,
        "gate_config": asdict(gates),
        "requests": _forgotten(root, forget),
        "lifecycle": lifecycle(root, deadline_days),
        "workspace": _workspace_policy(),
        "validation": _validation(validation),
        "evidence": _evidence_rows(evidence),
        "model": {
            k: manifest.get(k)
            for k in ("model", "method", "seed", "best_epoch", "epochs_run", "valid", "test", "unlearn")
            if manifest.get(k) is not None
        },
        "lineage": {
            "parent": run.get("parent"),
            "version": version,
            "data_sha256": (ingest or {}).get("data", {}).get("sha256"),
            "requests_sha256": ((ingest or {}).get("requests") or {}).get("sha256"),
            "inputs": {t: {"sha256": f["sha256"], "rows": f["rows"], "uri": f["uri"]} for t, f in (ingest or {}).get("tables", {}).items()},
            "model_files": manifest.get("files", {}),
            "requests_applied_total": len(manifest.get("requests_applied", [])),
        },
        "reproducibility": {
            "code_version": run.get("code_version"),
            "params": run.get("params"),
            "seed": manifest.get("seed"),
            "python": platform.python_version(),
            "salt": "MMRECUN_ID_SALT" if os.environ.get(SALT_VARIABLE) else "random, per process, not stored",
        },
        "wall_times": {
            k: v
            for k, v in {
                "unlearn_s": (evidence or {}).get("wall_s"),
                "gold_s": ((evidence or {}).get("gold") or {}).get("wall_s"),
                "train_s": manifest.get("train_seconds"),
            }.items()
            if v is not None
        },
    }
    with replacing_folder(Path(out_dir) if out_dir else root / "report") as out:
        report["figures"] = _figures(report, evidence, out)
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
        (out / "report.html").write_text(render_html(report, out))
        write_pdf(report, out, out / "report.pdf")
    return report


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render_html(report: dict, out: Path) -> str:
    """The self-contained HTML page (Jinja2, autoescaped; figures inlined as data URIs)."""
    figures = {name: _data_uri(out / path) for name, path in report["figures"].items()}
    return templates().get_template("report.html.j2").render(r=report, figures=figures)
