"""Step 7 of a run: publish the model version and the report, move ``CURRENT``, append the ledger, purge.

The protocol (each step verified before the next):

1. verify the run's model directory against its manifest (every listed file, the list required):
   nothing is uploaded from a directory changed since it was written;
2. read ``CURRENT``. An unlearn run whose parent is no longer ``CURRENT`` is SUPERSEDED at once (its
   model, which never forgot what the newer ``CURRENT`` forgot, is not uploaded); a version that would
   drop a request ``CURRENT`` applied is refused (:class:`~tasks.storage.registry.LineageError`);
3. upload every file the manifest lists to ``models/<name>/<version>/``, then the manifest (a version
   without one is incomplete and never served);
4. if the gates passed, move ``CURRENT`` by compare-and-swap from the version read in step 2; when
   another run moved it meanwhile the run is SUPERSEDED and its uploaded files are deleted;
5. upload the report (``reports/<run_id>/``, retained under Object Lock where configured), re-rendered
   as SUPERSEDED when the run lost, and append the ledger entry;
6. after a promotion, purge every other version that still holds data of a request the new
   ``CURRENT`` applied (:func:`~tasks.storage.registry.tombstone`), one ``purge`` ledger entry each.

A SUPERSEDED run raises :class:`~tasks.storage.registry.Superseded` after recording itself: its requests stay
pending, and a rerun unlearns them from the new ``CURRENT``. A run that found nothing to forget made
no model: it publishes its report (status NOTHING TO FORGET) and a ledger entry without a version.
Objects already present with the same sha256 are not written again, so a rerun of the same run
completes a publish that failed part-way; a run whose ledger entry exists is already published.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mmrecun_core.model_files import sha256_file, verify_files
from schemas.errors import MissingParent, UserError
from tasks.core_input import core_input
from tasks.pipeline.run import load_run
from tasks.reporting.gates import Gates
from tasks.reporting.lifecycle import DEADLINE_DAYS
from tasks.reporting.report import NOTHING_TO_FORGET, build_report
from tasks.storage import ledger
from tasks.storage.index import write_index
from tasks.storage.objects import PublishError
from tasks.storage.registry import (
    MANIFEST,
    Superseded,
    applied,
    check_lineage,
    promote,
    read_pointer,
    stale_versions,
    tombstone,
    utc_now,
    version_manifest,
)
from tasks.storage.store import Retention, checked_key

log = logging.getLogger("mmrecun.publish")
SUPERSEDED, REJECTED = "SUPERSEDED", "REJECTED"


class ApprovalMissing(UserError):
    """A run that requires a person's approval has none recorded."""


def _put(store, key: str, path: Path, retain: Retention | None, written: dict[str, str]) -> None:
    sha = sha256_file(path)
    found = store.sha256_of(key)
    if found is None:
        store.put_file(key, path, retain=retain)
    elif found != sha:
        raise PublishError(f"{store.uri(key)} already holds other bytes (sha256 {found}, this run's {sha}); refusing to overwrite")
    written[key] = sha


@core_input()
def _verified_manifest(model_dir: Path) -> dict:
    """The run's model manifest, once every file it lists matches (:func:`~mmrecun_core.checkpoint.verify_files`)."""
    if not model_dir.is_dir():
        raise MissingParent(f"{model_dir} does not exist: run the model step first")
    manifest = json.loads((model_dir / MANIFEST).read_text())
    verify_files(model_dir, manifest)
    return manifest


def _superseded_by(run: dict, pointer: dict | None) -> str | None:
    """The version that replaced an unlearn run's parent as ``CURRENT``, or None while the parent is still it
    (or while nothing is promoted: the first promotion races only through the pointer's create-if-absent)."""
    if run["kind"] != "unlearn" or pointer is None:
        return None
    return None if pointer["version"] == (run.get("parent") or {}).get("version") else pointer["version"]


def publish(run_dir: str | Path, store, retain: Retention | None = Retention()) -> dict:
    """Publish the run in ``run_dir`` to ``store``; return ``{version, status, current_moved, ledger_seq, artifacts,
    purged, already_published}``. Raises :class:`~tasks.storage.registry.Superseded` (after publishing its report) when
    another run promoted first.

    ``retain``: Object Lock retention for report and ledger objects (used where the bucket has Object Lock).
    """
    root = Path(run_dir)
    run = load_run(root)
    checked_key(f"reports/{run['run_id']}/report.json")  # a run id or model name that would leave its prefix
    checked_key(f"models/{run['model_name']}/{run['version']}/manifest.json")
    done = ledger.find_run(store, run["run_id"])
    if done is not None:
        log.info("run %s is already published (ledger entry %s)", run["run_id"], done["seq"])
        purged = []
        if done["current_moved"]:  # finish a purge a failure cut short
            manifest = version_manifest(store, done["model"], done["version"]) or {}
            purged = _purge(store, done["model"], done["version"], applied(manifest), run["run_id"], retain)
        return {
            "version": done["version"],
            "status": done["status"],
            "current_moved": done["current_moved"],
            "ledger_seq": done["seq"],
            "artifacts": done["artifacts"],
            "purged": purged,
            "already_published": True,
        }
    report_dir = root / "report"
    if not report_dir.is_dir():
        raise MissingParent(f"{report_dir} does not exist: run the report step first")
    report = json.loads((report_dir / "report.json").read_text())
    has_model = report["status"] != NOTHING_TO_FORGET
    manifest = _verified_manifest(root / "model") if has_model else {}
    name, version = run["model_name"], run["version"] if has_model else None
    approval = _approval(run, report)
    if approval is not None and not approval["approved"]:
        report = build_report(
            root,
            gates=Gates(**report["gate_config"]),
            deadline_days=_deadline(report),
            outcome=(
                REJECTED,
                f"{approval['by']} rejected the report on {approval['at']}: version {version} "
                "is not promoted; the published model pointer stays where it was.",
            ),
        )
    passed = report["status"] == "PASSED"
    pointer, tag = read_pointer(store, name)
    promoted = passed and pointer is not None and pointer["version"] == version  # a rerun after the pointer moved
    winner = None if promoted or not has_model else _superseded_by(run, pointer)
    replaced = (pointer or {}).get("previous") if promoted else (pointer or {}).get("version")
    replaced_manifest = version_manifest(store, name, replaced) if replaced else None
    if passed and not promoted and winner is None:
        check_lineage(applied(manifest), replaced_manifest, f"version {version!r}")
    artifacts: dict[str, str] = {}
    base = f"models/{name}/{version}"
    if has_model and winner is None:
        for file in sorted(manifest["files"]):
            _put(store, f"{base}/{file}", root / "model" / file, None, artifacts)
        _put(store, f"{base}/{MANIFEST}", root / "model" / MANIFEST, None, artifacts)
    if passed and not promoted and winner is None:
        try:
            promote(store, name, version, artifacts[f"{base}/{MANIFEST}"], run["run_id"], (pointer or {}).get("version"), tag)
            promoted = True
        except Superseded as lost:
            winner = str(lost.current)
            store.delete_prefix(base)  # never served: the version lacks what the winner forgot
            artifacts = {}
    if winner is not None:
        report = _rerender_superseded(root, report, version, (run.get("parent") or {}).get("version"), winner)
    for path in sorted(p for p in report_dir.rglob("*") if p.is_file()):
        _put(store, f"reports/{run['run_id']}/{path.relative_to(report_dir).as_posix()}", path, retain, artifacts)
    lineage = _lineage(applied(manifest), replaced, replaced_manifest) if promoted else {}
    entry = ledger.append(
        store,
        {
            **_entry(run, root, report, version if winner is None else None, promoted, artifacts),
            **lineage,
            **({"approval": approval} if approval else {}),
        },
        retain=retain,
    )
    purged = _purge(store, name, version, applied(manifest), run["run_id"], retain) if promoted else []
    write_index(store)
    log.info(
        "published %s/%s (%s); CURRENT %s; ledger entry %d; %d earlier version(s) purged",
        name,
        version or "-",
        report["status"],
        "moved" if promoted else "unchanged",
        entry["seq"],
        len(purged),
    )
    if winner is not None:
        raise Superseded(
            f"run {run['run_id']}: CURRENT of {name!r} is {winner!r}, no longer {run['parent']['version']!r} "
            f"which this run started from; version {version!r} was not promoted (report published as "
            f"SUPERSEDED); start a new run to apply its requests to {winner!r}"
        )
    return {
        "version": version,
        "status": report["status"],
        "current_moved": promoted,
        "ledger_seq": entry["seq"],
        "artifacts": artifacts,
        "purged": purged,
        "already_published": False,
    }


def _deadline(report: dict) -> int:
    return (report.get("lifecycle") or {}).get("deadline_days", DEADLINE_DAYS)


def _rerender_superseded(root: Path, report: dict, version: str, parent: str | None, winner: str) -> dict:
    """Rebuild the run's report as SUPERSEDED (same gates and evidence), naming both versions."""
    verdict = (
        f"Version {version} was made from {parent}, but another run promoted {winner} first; "
        f"{version} is not promoted and its model is not kept. Its requests stay pending: the next run applies them to {winner}."
    )
    return build_report(root, gates=Gates(**report["gate_config"]), outcome=(SUPERSEDED, verdict), deadline_days=_deadline(report))


def _approval(run: dict, report: dict) -> dict | None:
    """The person's decision on a run that requires one (``run.json`` ``approval``); refuses a run that passed its
    gates and requires approval but has none (it would move ``CURRENT`` unapproved)."""
    approval = run.get("approval")
    if approval is None and run.get("params", {}).get("require_approval") and report["status"] == "PASSED":
        raise ApprovalMissing(f"run {run['run_id']} requires a person's approval of its report before CURRENT may move; none is recorded")
    return approval


def _entry(run: dict, root: Path, report: dict, version: str | None, promoted: bool, artifacts: dict) -> dict:
    """The ledger entry of a run's publication."""
    inputs = root / "inputs" / "ingest.json"
    return {
        "run_id": run["run_id"],
        "kind": run["kind"],
        "model": run["model_name"],
        "version": version,
        "parent_version": (run.get("parent") or {}).get("version"),
        "status": report["status"],
        "gates": report.get("gates", []),
        "current_moved": promoted,
        "requests_new": (report.get("requests") or {}).get("new_request_ids", []),
        "inputs": {t: f["sha256"] for t, f in json.loads(inputs.read_text())["tables"].items()} if inputs.is_file() else {},
        "artifacts": artifacts,
        "report": f"reports/{run['run_id']}/report.html",
        "code_version": run.get("code_version"),
        "published_at": utc_now(),
    }


def _lineage(mine: set[str], replaced: str | None, replaced_manifest: dict | None) -> dict:
    """The lineage fields of an entry that moved ``CURRENT`` (see :mod:`tasks.storage.ledger`)."""
    names, before = ledger.request_names(mine), ledger.request_names(applied(replaced_manifest))
    return {
        "replaced_version": replaced,
        "requests_added": sorted(names - before),
        "requests_applied_sha256": ledger.requests_sha256(names),
        "requests_applied_count": len(names),
    }


def _purge(store, name: str, current: str, current_applied: set[str], run_id: str, retain: Retention | None) -> list[str]:
    """Tombstone every version that still holds data of a request ``current`` applied; one ledger entry each."""
    purged = []
    for version in stale_versions(store, name, current, current_applied):
        stone = tombstone(store, name, version, f"holds data of requests that {current} applied", run_id)
        ledger.append(
            store,
            {
                "kind": "purge",
                "model": name,
                "version": version,
                "run_id": run_id,
                "files_sha256": stone["files_sha256"],
                "purged_at": stone["purged_at"],
                "reason": stone["reason"],
                "artifacts": {f"models/{name}/{version}/TOMBSTONE.json": store.sha256_of(f"models/{name}/{version}/TOMBSTONE.json")},
                "published_at": utc_now(),
            },
            retain=retain,
        )
        purged.append(version)
        log.info("purged %s/%s (tombstone left)", name, version)
    return purged
