"""The PDF rendering of a report dict (fpdf2: pure Python, no system service).

Same content as the HTML, in print form: summary and gates first, then what was forgotten, data
validation, the evidence table and figures, lineage and reproducibility. The core PDF fonts
cover Latin-1 only; other characters are replaced.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from tasks.reporting.render import fmt

STATUS_COLOURS = {"PASSED": (23, 105, 47), "FAILED": (162, 35, 27)}


def _latin1(text) -> str:
    return str(text).replace("\u2265", ">=").replace("\u2264", "<=").replace("\u00b7", "-").encode("latin-1", "replace").decode("latin-1")


class _Doc:
    def __init__(self):
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.set_margins(15, 15, 15)
        self.pdf.add_page()

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Helvetica", "B", 13)
        self.pdf.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_draw_color(216, 221, 227)
        self.pdf.line(15, self.pdf.get_y(), 195, self.pdf.get_y())
        self.pdf.ln(2)

    def text(self, text: str, size: int = 10, style: str = "") -> None:
        self.pdf.set_font("Helvetica", style, size)
        self.pdf.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, header: list[str], rows: list[list], widths: tuple[int, ...], mono: bool = False) -> None:
        self.pdf.set_font("Courier" if mono else "Helvetica", "", 8 if mono else 9)
        with self.pdf.table(col_widths=widths, text_align="LEFT", line_height=5, first_row_as_headings=bool(header)) as table:
            for row in ([header] if header else []) + rows:
                r = table.row()
                for cell in row:
                    r.cell(_latin1(cell))
        self.pdf.ln(2)


def write_pdf(report: dict, out: Path, path: Path) -> None:
    """Render ``report`` (figures read from ``out``) to ``path``."""
    doc = _Doc()
    run, r = report["run"], report
    doc.text(f"mmrecun compliance report - schema {r['schema']} - generated {r['generated_at']}", 8)
    doc.text(f"{'Unlearning' if run['kind'] == 'unlearn' else 'Training'} run {run['run_id']}", 16, "B")
    doc.pdf.ln(1)
    doc.pdf.set_text_color(*STATUS_COLOURS.get(r["status"], (60, 70, 80)))
    doc.text(r["status"], 14, "B")
    doc.pdf.ln(1)
    doc.pdf.set_text_color(29, 35, 41)
    passed = sum(g["passed"] for g in r["gates"])
    parent = run["parent"]["version"] if run.get("parent") else None
    made = (
        f"new version {run['version']}" + (f", made from version {parent}" if parent else "")
        if run["version"]
        else f"no new version: version {parent or 'none'} already applies every request effective at the cutoff"
    )
    doc.text(f"Model {run['model_name']}, {made}. {passed} of {len(r['gates'])} quality gates passed. {r['verdict']}")
    life = r.get("lifecycle")
    if life and life["overdue"]:
        doc.pdf.set_text_color(162, 35, 27)
        doc.text(
            f"{life['overdue']} request(s) waited more than {life['deadline_days']} days (the deadline) before this run: "
            "see Requests and deadlines.",
            10,
            "B",
        )
        doc.pdf.set_text_color(29, 35, 41)
    doc.heading("Quality gates")
    doc.table(
        ["Gate", "Requirement", "Measured", "Threshold", "Result"],
        [[g["name"], g["description"], fmt(g["value"]), fmt(g["threshold"]), "PASS" if g["passed"] else "FAIL"] for g in r["gates"]],
        (28, 82, 24, 24, 22),
    )
    if r.get("requests"):
        q = r["requests"]
        c = q["counts"]
        doc.heading("What was forgotten")
        doc.table(
            ["Request type", "New in this run"],
            [
                ["User erasures", fmt(c["user_erasures"])],
                ["Interaction erasures", fmt(c["interaction_erasures"])],
                ["Item licence revocations", fmt(c["item_revocations"])],
                ["Modality licence revocations", fmt(c["modality_revocations"])],
                ["Already applied by the parent version", fmt(c["already_applied"])],
                ["Not yet effective", fmt(c["deferred"])],
                ["Not applicable", fmt(c["not_applicable"])],
            ],
            (140, 40),
        )
        f = q["new"]["forgotten_interactions"]
        doc.text(
            f"Interactions forgotten: train {fmt(f['train'])}, valid {fmt(f['valid'])}, test {fmt(f['test'])}; "
            f"retained {fmt(q['retained_interactions'])}."
        )
        doc.text(
            f"{len(q['licence_ids'])} licence ids and {len(q['new_request_ids'])} request ids are listed in the appendix; "
            "no user id appears in this report, in any form."
        )
    if life:
        c = life["counts"]
        doc.heading("Requests and deadlines")
        doc.text(
            f"At the cutoff {life['cutoff']}: {c['applied']} applied by this run, {c['already applied']} by earlier versions, "
            f"{c['not yet effective']} not yet effective, {c['not applicable']} not applicable; {life['overdue']} overdue "
            f"(effective and waiting more than {life['deadline_days']} days). The longest waits:"
        )
        doc.table(
            ["Request", "Kind", "State", "Days waiting", "Basis"],
            [
                [
                    q["request_id"],
                    q["kind"],
                    q["state"] + (" (OVERDUE)" if q["overdue"] else ""),
                    fmt(q["days_waiting"], 1),
                    q["basis"] or "-",
                ]
                for q in life["requests"][:40]
            ],
            (36, 34, 44, 24, 42),
        )
    w = r["workspace"]
    doc.heading("Workspace")
    doc.text(
        f"The run's workspace keeps no personal data after the run: {', '.join(w['removed'])} are removed {w['when']}; "
        f"only {', '.join(w['kept'])} stay. The published store and this report are the record."
    )
    if r.get("validation"):
        doc.heading("Data validation")
        rows = []
        for name, t in r["validation"]["tables"].items():
            findings = [f"FAILED {x['description']}: {fmt(x['unexpected'])} of {fmt(x['rows'])}" for x in t["failed"]]
            findings += [f"warning {x['description']}: {fmt(x['unexpected'])}" for x in t["warnings"]]
            rows.append([name, fmt(t["rows"]), str(t["expectations"]), "PASS" if t["success"] else "FAIL", "; ".join(findings) or "-"])
        doc.table(["Table", "Rows", "Expectations", "Result", "Findings"], rows, (40, 22, 24, 16, 78))
    if r.get("evidence"):
        doc.heading("Evidence of forgetting")
        doc.table(
            ["Measure", "Original", "Unlearned", "Gold"],
            [[e["measure"], fmt(e["original"]), fmt(e["unlearned"]), fmt(e["gold"])] for e in r["evidence"]],
            (96, 28, 28, 28),
        )
        for name in ("utility", "forgetting", "scores", "exposure"):
            if name in r["figures"]:
                doc.pdf.image(str(out / r["figures"][name]), w=170)
                doc.pdf.ln(2)
    doc.heading("Lineage")
    lin = r["lineage"]
    rows = [
        ["parent version", (lin.get("parent") or {}).get("version", "none (base model)")],
        ["this version", lin["version"] or "none made (nothing to forget)"],
        ["data sha256", fmt(lin.get("data_sha256"))],
        ["requests sha256", fmt(lin.get("requests_sha256"))],
    ]
    rows += [[f"input {t}", f"{x['sha256']} ({fmt(x['rows'])} rows)"] for t, x in lin["inputs"].items()]
    rows += [[f"model file {n}", s] for n, s in lin["model_files"].items()]
    doc.table([], rows, (45, 135), mono=True)
    doc.heading("Reproducibility")
    rep = r["reproducibility"]
    doc.table(
        [],
        [
            ["code version", rep["code_version"]],
            ["seed", fmt(rep["seed"])],
            ["parameters", str(rep["params"])],
            ["python", rep["python"]],
            ["gates", str(r["gate_config"])],
        ]
        + [[k, f"{fmt(v, 1)} s"] for k, v in r.get("wall_times", {}).items()],
        (45, 135),
        mono=True,
    )
    if r.get("requests"):
        q = r["requests"]
        doc.heading("Appendix: identifiers")
        for title, ids in (
            (f"Licence ids ({len(q['licence_ids'])})", q["licence_ids"]),
            (f"Request ids applied by this run ({len(q['new_request_ids'])})", q["new_request_ids"]),
        ):
            doc.text(title, 9, "B")
            doc.pdf.set_font("Courier", "", 7)
            doc.pdf.multi_cell(0, 3.5, _latin1("  ".join(ids) or "-"), new_x="LMARGIN", new_y="NEXT")
            doc.pdf.ln(2)
    doc.pdf.output(str(path))
