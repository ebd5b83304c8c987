"""The compliance report: content, gates, no raw user ids anywhere, a PDF that renders, self-contained valid HTML."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq

from tasks.reporting.gates import Gates
from tasks.reporting.report import SCHEMA, build_report


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_report_json_carries_every_section(unlearn_run):
    report = json.loads((unlearn_run / "report" / "report.json").read_text())
    assert report["schema"] == SCHEMA and report["status"] in ("PASSED", "FAILED")
    names = ["data validation", "retain utility", "erasures forgotten", "erasures out of the top 20", "revoked items pushed out"]
    assert [g["name"] for g in report["gates"]] == names
    assert all(g["description"].endswith((".", ")")) and g["threshold"] is not None for g in report["gates"])
    assert report["status"] == ("PASSED" if all(g["passed"] for g in report["gates"]) else "FAILED")
    counts = report["requests"]["counts"]
    assert counts["user_erasures"] > 0 and counts["item_revocations"] > 0
    assert "erased_users_hashed" not in report["requests"]  # counts and request ids only
    assert report["requests"]["licence_ids"] and all(x.startswith("LIC-") for x in report["requests"]["licence_ids"])
    assert report["validation"]["success"] and set(report["validation"]["tables"]) >= {"interactions", "erasure_requests"}
    rows = {r["key"]: r for r in report["evidence"]}
    assert rows["exposure@20"]["unlearned"] == 0 and rows["retain_test_recall@20"]["original"] is not None
    assert set(report["figures"]) >= {"utility", "forgetting", "exposure"}
    assert report["lineage"]["data_sha256"] and report["lineage"]["model_files"]["model.pt"]
    assert report["reproducibility"]["code_version"] and report["reproducibility"]["seed"] is not None


def test_no_raw_user_id_of_the_forget_set_appears_anywhere(unlearn_run):
    erased = pq.read_table(unlearn_run / "inputs" / "requests" / "erasure_requests.parquet").column("user_id").to_pylist()
    assert erased and all(u.startswith("member-") for u in erased)
    texts = {
        "json": (unlearn_run / "report" / "report.json").read_text(),
        "html": (unlearn_run / "report" / "report.html").read_text(),
        "pdf": pdf_text(unlearn_run / "report" / "report.pdf"),
    }
    for name, text in texts.items():
        leaked = [u for u in erased if u in text]
        assert not leaked, f"report.{name} holds raw user ids, e.g. {leaked[:3]}"
        assert "member-" not in text, f"report.{name} holds a raw user id"
    assert "LIC-" in texts["pdf"]  # the PDF text is really extracted


def test_pdf_renders_to_pages(unlearn_run):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(unlearn_run / "report" / "report.pdf"))
    try:
        assert len(pdf) >= 2
        image = pdf[0].render(scale=1).to_pil()
        low, high = image.convert("L").getextrema()
        assert image.size[0] > 500 and high - low > 100  # not blank
    finally:
        pdf.close()
    text = pdf_text(unlearn_run / "report" / "report.pdf")
    assert "Quality gates" in text and "Evidence of forgetting" in text and "Lineage" in text


def test_html_is_valid_and_self_contained(unlearn_run):
    import html5lib

    page = (unlearn_run / "report" / "report.html").read_text()
    html5lib.HTMLParser(strict=True).parse(page)  # raises on any parse error
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page), "external asset"
    assert "<link" not in page and "<script" not in page
    assert page.count("data:image/png;base64,") == len(json.loads((unlearn_run / "report" / "report.json").read_text())["figures"])


def test_a_failed_gate_makes_a_failed_report(run_copy):
    report = build_report(run_copy, gates=Gates(retain_ratio=10.0))
    gate = next(g for g in report["gates"] if g["name"] == "retain utility")
    assert not gate["passed"] and report["status"] == "FAILED"
    assert "FAILED" in (run_copy / "report" / "report.html").read_text()
    assert "FAILED" in pdf_text(run_copy / "report" / "report.pdf")


def test_no_keyed_hash_of_an_erased_user_appears_either(run_copy):
    """A keyed hash kept under Object Lock would be personal data for the lock's lifetime: the report holds none."""
    from schemas.personal import hash_id

    erased = pq.read_table(run_copy / "inputs" / "requests" / "erasure_requests.parquet").column("user_id").to_pylist()
    build_report(run_copy)
    text = (run_copy / "report" / "report.json").read_text() + (run_copy / "report" / "report.html").read_text()
    assert not [h for h in map(hash_id, erased) if h in text]
