"""The audit ledger: one JSON entry per event under ``ledger/``, each carrying the sha256 of the previous one.

``ledger/<seq>.json`` (``seq`` from 1, eight digits) holds the facts of a run's publication (``kind``
``train`` or ``unlearn``), a purge (``purge``: a version reduced to its tombstone) or a rollback
(``rollback``), ``prev_sha256`` (the sha256 of the previous entry's bytes; ``null`` for the first) and
``sha256`` (of the entry's own canonical JSON without that field). ``ledger/HEAD`` names the newest
entry and its hash, so a removed newest entry shows. ``ledger/heads/<seq>.json`` anchors each entry's
hash in a second object written once, under Object Lock where the bucket has it: the newest entry,
which no later entry links to, cannot be rewritten (own hash recomputed) without contradicting it.

What the chain proves: entries were neither edited, removed nor reordered after their anchors were
written, and every referenced artifact still has its recorded bytes (or was purged, as a later entry
says). It proves nothing about a store whose anchors are not locked (a local folder) against someone
who rewrites entries and anchors together. Entries are created with create-if-absent writes; two runs
racing for a sequence number cannot both win.

Lineage: every entry that moved ``CURRENT`` records ``requests_added`` (requests its version applied
that the version it replaced did not, as ``<table>:<request id>``) and ``requests_applied_sha256`` (of
its version's whole sorted set). Replaying the additions from the first promotion on must give each recorded hash: a promotion
whose applied requests shrink cannot pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from schemas.errors import UserError
from tasks.storage.store import AlreadyExists, ChecksumMismatch, Conflict, Retention, sha256_bytes

PREFIX = "ledger"
HEAD = f"{PREFIX}/HEAD"


class LedgerBroken(ChecksumMismatch, UserError):
    """The verdict of ``verify-ledger``: the hash chain or an artifact it references does not verify (a person must look)."""


def request_names(keys) -> set[str]:
    """``<table>:<request id>`` of each applied-request key (:func:`tasks.inputs.request_tables.request_key` without its
    content hash): what the ledger, kept under Object Lock, records of a request."""
    return {k.rsplit(":", 1)[0] if k.count(":") >= 2 else k for k in keys}


def requests_sha256(names) -> str:
    """The sha256 a ledger entry records for a version's whole set of applied requests (:func:`request_names`)."""
    return sha256_bytes(json.dumps(sorted(names)).encode())


def anchor_key(seq: int) -> str:
    return f"{PREFIX}/heads/{seq:08d}.json"


def entry_key(seq: int) -> str:
    return f"{PREFIX}/{seq:08d}.json"


def _canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str).encode()


def _sealed(entry: dict) -> bytes:
    """The bytes stored for ``entry``: indented JSON with ``sha256`` of its canonical form added."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return json.dumps({**body, "sha256": sha256_bytes(_canonical(body))}, indent=2, sort_keys=True, default=str).encode()


def _seqs(store) -> list[int]:
    names = (k[len(PREFIX) + 1 :] for k in store.list(PREFIX))
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def entries(store) -> list[dict]:
    """Every entry, in sequence order."""
    return [json.loads(store.get_bytes(entry_key(s))) for s in _seqs(store)]


def find_run(store, run_id: str) -> dict | None:
    """The entry of ``run_id``, or None."""
    return next((e for e in entries(store) if e.get("run_id") == run_id and e.get("kind") not in ("purge", "rollback")), None)


def append(store, entry: dict, retain: Retention | None = None, attempts: int = 5) -> dict:
    """Append ``entry`` (JSON-able, without ``seq``/``prev_sha256``/``sha256``); return it as stored."""
    for _ in range(attempts):
        seqs = _seqs(store)
        seq = (seqs[-1] + 1) if seqs else 1
        prev = sha256_bytes(store.get_bytes(entry_key(seqs[-1]))) if seqs else None
        data = _sealed({**entry, "seq": seq, "prev_sha256": prev})
        try:
            store.put_bytes(entry_key(seq), data, retain=retain, if_absent=True)
        except AlreadyExists:
            continue  # another run took this number: read the new tail and try again
        head = json.dumps({"seq": seq, "sha256": sha256_bytes(data)}).encode()
        store.put_bytes(anchor_key(seq), head, retain=retain, if_absent=True)
        store.put_bytes(HEAD, head)
        return json.loads(data)
    raise Conflict(f"could not append to the ledger at {store.uri(PREFIX)} after {attempts} attempts (concurrent writers?)")


@dataclass
class Verification:
    """``ok`` when the chain and every artifact check; ``broken``: the first broken link, in words."""

    entries: int = 0
    artifacts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken(self) -> str | None:
        return self.problems[0] if self.problems else None


def verify(store, check_artifacts: bool = True) -> Verification:
    """Check the whole chain (sequence, self-hashes, links, anchors, HEAD), the lineage of ``CURRENT``
    (applied requests never shrink), purges (a purged version holds only its tombstone) and every
    referenced artifact's sha256 (artifacts of purged versions are expected gone)."""
    result = Verification()
    seqs = _seqs(store)
    chain = []
    prev_bytes = None
    for expected, seq in enumerate(seqs, start=1):
        key = entry_key(seq)
        if seq != expected:
            result.problems.append(f"{entry_key(expected)}: missing (the ledger jumps from {expected - 1} to {seq})")
            break
        data = store.get_bytes(key)
        entry = json.loads(data)
        result.entries += 1
        problem = _link_problem(store, key, seq, entry, data, prev_bytes)
        if problem:
            result.problems.append(problem)
            break
        chain.append(entry)
        prev_bytes = data
    if not result.problems and seqs:
        head = json.loads(store.get_bytes(HEAD)) if store.sha256_of(HEAD) else None
        if head != {"seq": seqs[-1], "sha256": sha256_bytes(prev_bytes)}:
            result.problems.append(f"{HEAD}: names {head}, but the newest entry is {entry_key(seqs[-1])} (an entry removed or HEAD edited)")
        elif store.sha256_of(anchor_key(seqs[-1] + 1)):
            result.problems.append(f"{anchor_key(seqs[-1] + 1)}: anchors an entry the ledger no longer holds (newest entries removed)")
    result.problems += _lineage_problems(store, chain)
    purged = {(e["model"], e["version"]) for e in chain if e.get("kind") == "purge"}
    if check_artifacts:
        for entry in chain:
            for artifact, sha in entry.get("artifacts", {}).items():
                parts = artifact.split("/")
                if parts[0] == "models" and len(parts) > 3 and (parts[1], parts[2]) in purged:
                    continue
                found = store.sha256_of(artifact)
                result.artifacts += 1
                if found != sha:
                    what = "missing" if found is None else f"sha256 {found}, recorded {sha}"
                    result.problems.append(f"{entry_key(entry['seq'])}: artifact {artifact} {what}")
    return result


def _link_problem(store, key: str, seq: int, entry: dict, data: bytes, prev_bytes: bytes | None) -> str | None:
    """What is wrong with one entry's place in the chain, or None."""
    if entry.get("seq") != seq:
        return f"{key}: holds entry seq {entry.get('seq')} (entries reordered or renamed)"
    if entry.get("sha256") != sha256_bytes(_canonical({k: v for k, v in entry.items() if k != "sha256"})):
        return f"{key}: its content does not match its own sha256 (entry edited)"
    want = None if prev_bytes is None else sha256_bytes(prev_bytes)
    if entry.get("prev_sha256") != want:
        return f"{key}: prev_sha256 {entry.get('prev_sha256')} does not match the previous entry's {want}"
    anchor = json.loads(store.get_bytes(anchor_key(seq))) if store.sha256_of(anchor_key(seq)) else None
    if anchor is not None and anchor.get("sha256") != sha256_bytes(data):
        return f"{key}: its bytes differ from the hash anchored in {anchor_key(seq)} (entry rewritten)"
    return None


def _lineage_problems(store, chain: list[dict]) -> list[str]:
    """Replay what each model's ``CURRENT`` applied; name every move that dropped a request and every purge
    whose version still holds more than its tombstone."""
    problems = []
    applied: dict[str, set[str]] = {}
    for entry in chain:
        key = entry_key(entry["seq"])
        if entry.get("kind") == "purge":
            left = [k for k in store.list(f"models/{entry['model']}/{entry['version']}") if not k.endswith("/TOMBSTONE.json")]
            if left:
                problems.append(f"{key}: purge of {entry['model']}/{entry['version']}, but the store still holds {left[:3]}")
            continue
        if not entry.get("current_moved") or "requests_applied_sha256" not in entry:
            continue
        now = applied.get(entry["model"], set()) | set(entry.get("requests_added", []))
        if requests_sha256(now) != entry["requests_applied_sha256"]:
            problems.append(
                f"{key}: CURRENT of {entry['model']} moved to {entry.get('version')}, whose applied requests are not "
                f"those of the version it replaced plus {len(entry.get('requests_added', []))} added "
                "(a request was dropped: its data would be served again)"
            )
        manifest_key = f"models/{entry['model']}/{entry['version']}/manifest.json"
        if store.sha256_of(manifest_key):
            listed = request_names(json.loads(store.get_bytes(manifest_key)).get("requests_applied", []))
            if requests_sha256(listed) != entry["requests_applied_sha256"]:
                problems.append(f"{key}: the applied requests recorded differ from those {manifest_key} lists")
        applied[entry["model"]] = now
    return problems
