"""Step 2 of a run: validate the ingested tables with the Great Expectations suites of :mod:`schemas.suites`.

Writes into ``<workspace>/validation``: one GX validation result per table and stage
(``<table>.<stage>.json``), the Data Docs site (``docs/index.html``) and ``summary.json`` (per table:
expectations run, failures with counts and examples, warnings such as requests that are not
applicable). When a critical expectation fails it raises :class:`ValidationFailed`, one error that
names every failing table and expectation, so nothing downstream runs. Personal columns (user ids)
are hashed before the suites see them (:func:`schemas.personal.pseudonymise`), so no result, Data
Docs page or error message holds one.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import great_expectations as gx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from great_expectations.data_context.types.base import ProgressBarsConfig

from schemas.contracts import ContractError
from schemas.personal import pseudonymise, scrub
from schemas.suites import DEFAULT_DUPLICATE_THRESHOLD, SuiteContext, schema_frame
from schemas.suites.tables import suite_for
from tasks.inputs.request_tables import REQUEST_TABLES
from tasks.paths import replacing_folder
from tasks.pipeline.ingest import load_reference

log = logging.getLogger("mmrecun.validate")
EXAMPLES = 5


class ValidationFailed(ContractError):
    """Critical expectations failed; ``summary`` is what ``summary.json`` holds."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


def _context(tables: dict, cutoff: datetime, duplicate_threshold: float) -> SuiteContext:
    """What the suites must know, read from ``interactions`` (ids, user ids hashed; id type), the feature tables'
    names and the request tables' ids."""
    inter = pq.read_table(
        tables["interactions"]["path"], columns=[c for c in ("user_id", "item_id") if c in tables["interactions"]["columns"]]
    )
    ids = {c: np.asarray(scrub(c, pc.unique(inter.column(c)).to_pylist()), dtype=object) for c in inter.column_names}
    id_type = str(inter.schema.field("user_id").type) if "user_id" in inter.column_names else "int64"
    modalities = tuple(name.split("/", 1)[1] for name in tables if name.startswith("item_features/"))
    return SuiteContext(
        cutoff=cutoff,
        id_type=id_type,
        user_ids=ids.get("user_id", np.empty(0)),
        item_ids=ids.get("item_id", np.empty(0)),
        modalities=modalities,
        duplicate_threshold=duplicate_threshold,
        request_ids=_request_ids(tables),
    )


def _request_ids(tables: dict) -> dict[str, np.ndarray]:
    """Request table name -> its ids (the tables and columns that are present)."""
    out = {}
    for table, spec in REQUEST_TABLES.items():
        if table in tables and spec.id_column in tables[table]["columns"]:
            ids = pq.read_table(tables[table]["path"], columns=[spec.id_column]).column(spec.id_column)
            out[table] = ids.to_numpy(zero_copy_only=False)
    return out


def _plain(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _examples(result: dict, columns: list[str] | None) -> list:
    """A few distinct offending values (GX's partial lists), JSON-able.

    ``columns``: a compound expectation's columns; its offending rows (tuples) become ``{column: value}`` dicts.
    Personal values are hashes already: the suites validate :func:`~schemas.personal.pseudonymise`'d tables.
    """
    counts = result.get("partial_unexpected_counts")
    values = [c["value"] for c in counts] if counts else result.get("partial_unexpected_list") or result.get("partial_missing_list") or []
    rows = [dict(zip(columns, v, strict=True)) if columns and isinstance(v, (tuple, list)) else v for v in values[:EXAMPLES]]
    return [{k: _plain(x) for k, x in v.items()} if isinstance(v, dict) else _plain(v) for v in rows]


def _outcome(table: str, stage: str, result) -> dict:
    """The summary of one GX validation result: what failed (critical) and what only warned."""
    out = {"table": table, "stage": stage, "expectations": len(result.results), "failed": [], "warnings": []}
    for r in result.results:
        if r.success:
            continue
        cfg, res = r.expectation_config, r.result or {}
        entry = {
            "expectation": cfg.type,
            "description": cfg.description or cfg.type,
            "column": cfg.kwargs.get("column"),
            "unexpected": res.get("unexpected_count", res.get("missing_count")),
            "rows": res.get("element_count"),
            "observed": res.get("observed_value"),
            "examples": _examples(res, cfg.kwargs.get("column_list")),
        }
        if r.exception_info and r.exception_info.get("raised_exception"):
            entry["error"] = r.exception_info.get("exception_message")
        out["warnings" if str(cfg.severity).lower().endswith("warning") else "failed"].append(entry)
    return out


def _describe(o: dict) -> str:
    what = (
        f"{o['unexpected']:,} of {o['rows']:,} rows"
        if o.get("rows")
        else f"observed {o['observed']}"
        if o.get("observed") is not None
        else ""
    )
    examples = f", e.g. {o['examples']}" if o["examples"] else ""
    error = f" ({o['error']})" if o.get("error") else ""
    return f"{o['description']}: {what}{examples}{error}".replace(": ,", ":")


class _Runner:
    """One ephemeral GX context; each (table, stage) is a pandas data asset with its own suite."""

    SITE = "mmrecun"

    def __init__(self, docs_dir: Path):
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)  # our log lines say the progress
        self.context.add_data_docs_site(
            site_name=self.SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            },
        )
        self.source = self.context.data_sources.add_pandas("mmrecun")

    def run(self, name: str, expectations: list, frame):
        asset = self.source.add_dataframe_asset(name)
        suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=asset.add_batch_definition_whole_dataframe("all"), suite=suite)
        )
        return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")

    def build_docs(self) -> None:
        """Build the run's site only: an ephemeral context also carries a default site in a fresh temporary
        folder, which a plain ``build_data_docs()`` would fill and leave behind on every run."""
        self.context.build_data_docs(site_names=[self.SITE])


def validate(workspace: str | Path, cutoff: datetime | None = None, duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> dict:
    """Validate the tables :func:`~tasks.pipeline.ingest.ingest` put in ``workspace``; return the summary.

    ``cutoff`` (default now, UTC) is the run's logical date: no interaction may be later.
    Raises :class:`ValidationFailed` when a critical expectation fails (after writing the results).
    """
    cutoff = cutoff or datetime.now(timezone.utc)
    tables = load_reference(workspace)["tables"]
    ctx = _context(tables, cutoff, duplicate_threshold)
    summary: dict = {"cutoff": cutoff.isoformat(), "duplicate_threshold": duplicate_threshold, "tables": {}}
    with replacing_folder(Path(workspace) / "validation") as out:
        runner = _Runner(out / "docs")
        for table, facts in tables.items():
            started = time.perf_counter()
            suite, stem = suite_for(table), table.replace("/", ".")
            arrow: pa.Table = pq.read_table(facts["path"])
            result = runner.run(f"{stem}.schema", suite.schema(ctx), schema_frame(arrow.schema))
            stages = [_outcome(table, "schema", result)]
            (out / f"{stem}.schema.json").write_text(json.dumps(result.to_json_dict(), indent=1, default=str))
            if not stages[0]["failed"]:
                frame = suite.frame(pseudonymise(arrow), ctx)
                del arrow
                result = runner.run(stem, suite.data(ctx, frame), frame)
                stages.append(_outcome(table, "data", result))
                (out / f"{stem}.data.json").write_text(json.dumps(result.to_json_dict(), indent=1, default=str))
            summary["tables"][table] = {
                "rows": facts["rows"],
                "sha256": facts["sha256"],
                "seconds": round(time.perf_counter() - started, 2),
                "expectations": sum(s["expectations"] for s in stages),
                "stages": [s["stage"] for s in stages],
                "success": not any(s["failed"] for s in stages),
                "failed": [f for s in stages for f in s["failed"]],
                "warnings": [w for s in stages for w in s["warnings"]],
            }
            log.info(
                "%s: %d expectations, %d failed, %d warnings (%.1fs)",
                table,
                summary["tables"][table]["expectations"],
                len(summary["tables"][table]["failed"]),
                len(summary["tables"][table]["warnings"]),
                summary["tables"][table]["seconds"],
            )
        started = time.perf_counter()
        runner.build_docs()
        summary["docs_seconds"] = round(time.perf_counter() - started, 2)
        summary["success"] = all(t["success"] for t in summary["tables"].values())
        summary["docs"] = str(Path(workspace) / "validation" / "docs" / "index.html")
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if not summary["success"]:
        bad = {t: s for t, s in summary["tables"].items() if not s["success"]}
        lines = [f"validation failed for {len(bad)} of {len(summary['tables'])} tables (results: {Path(workspace) / 'validation'}):"]
        for table, s in bad.items():
            lines.append(f"  {table} ({s['rows']:,} rows): {len(s['failed'])} of {s['expectations']} expectations failed")
            lines += [f"    - {_describe(f)}" for f in s["failed"]]
        raise ValidationFailed("\n".join(lines), summary)
    return summary
