"""Each request's lifecycle in a run: received, effective, applied, how long it waited, and whether too long.

GDPR Art. 12(3) gives a controller one month from receipt to act on an erasure request; a licence
revocation is due from the day it takes effect. A request's wait runs from ``received_at`` (erasures)
or ``effective_at`` (revocations, which carry no receipt date) to the run's cutoff; one that is
effective, not applied before this run and has waited more than ``deadline_days`` is *overdue*, even
if this run applies it (it is then applied late). Read from a run directory's request snapshots and
forget-set summary; request ids only, never user ids.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq

from schemas.contracts import ERASURES_FILE, REVOCATIONS_FILE
from tasks.inputs.request_tables import request_id_of

DEADLINE_DAYS = 30  # one month (GDPR Art. 12(3)), counted in days


def _rows(path: Path, id_column: str, kind_of) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for row in pq.read_table(path).to_pylist():
        out.append(
            {
                "request_id": str(row[id_column]),
                "kind": kind_of(row),
                "received_at": row.get("received_at"),
                "effective_at": row["effective_at"],
                "basis": row.get("legal_basis") or row.get("reason"),
            }
        )
    return out


def _requests(requests_dir: Path) -> list[dict]:
    erasures = _rows(
        requests_dir / ERASURES_FILE, "request_id", lambda r: "user erasure" if r.get("item_id") is None else "interaction erasure"
    )
    revocations = _rows(
        requests_dir / REVOCATIONS_FILE,
        "revocation_id",
        lambda r: "item revocation" if r["scope"] == "item" else f"{r['scope']} revocation",
    )
    return erasures + revocations


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def lifecycle(run_dir: str | Path, deadline_days: int = DEADLINE_DAYS) -> dict | None:
    """The requests of an unlearn run as the report shows them; None for a run without requests.

    Returns ``{"deadline_days", "cutoff", "counts": {state: n}, "overdue": n, "requests": [...]}`` where each
    request not applied before this run is ``{"request_id", "kind", "received_at", "effective_at", "state",
    "days_waiting", "basis", "overdue"}`` and ``state`` is ``applied`` (by this run), ``not yet effective`` or
    ``not applicable``; requests applied by earlier versions are counted only.
    """
    root = Path(run_dir)
    summary_path = root / "forget_set" / "summary.json"
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    cutoff = _utc(dt.datetime.fromisoformat(summary["cutoff"]))
    new = {request_id_of(k) for k in summary["new_request_ids"]}
    earlier = {request_id_of(k) for k in summary["request_ids"]} - new
    not_applicable = {rid for ids in summary["not_applicable"].values() for rid in ids}
    deferred = set(summary["deferred"])
    listed, counts = [], {"applied": 0, "already applied": 0, "not yet effective": 0, "not applicable": 0}
    for r in _requests(root / "inputs" / "requests"):
        rid = r["request_id"]
        state = (
            "applied"
            if rid in new
            else "already applied"
            if rid in earlier
            else "not yet effective"
            if rid in deferred
            else "not applicable"
            if rid in not_applicable
            else None
        )
        if state is None:
            continue
        counts[state] += 1
        if state == "already applied":
            continue
        start = _utc(r["received_at"]) or _utc(r["effective_at"])
        waited = (cutoff - start).total_seconds() / 86400
        effective = _utc(r["effective_at"]) <= cutoff
        listed.append(
            {
                **r,
                "received_at": r["received_at"] and _utc(r["received_at"]).isoformat(timespec="seconds"),
                "effective_at": _utc(r["effective_at"]).isoformat(timespec="seconds"),
                "state": state,
                "days_waiting": round(waited, 1),
                "overdue": effective and waited > deadline_days,
            }
        )
    listed.sort(key=lambda r: (not r["overdue"], -r["days_waiting"]))
    return {
        "deadline_days": deadline_days,
        "cutoff": cutoff.isoformat(timespec="seconds"),
        "counts": counts,
        "overdue": sum(r["overdue"] for r in listed),
        "requests": listed,
    }
