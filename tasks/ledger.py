"""The audit ledger: one JSON entry per run under ``ledger/``, each carrying the sha256 of the previous one.

``ledger/<seq>.json`` (``seq`` from 1, eight digits) holds the run's facts, ``prev_sha256`` (the
sha256 of the previous entry's bytes; ``null`` for the first) and ``sha256`` (of the entry's own
canonical JSON without that field, so an edit of the newest entry shows too). ``ledger/HEAD``
names the newest entry and its hash, so a removed newest entry shows as well. Entries are created
with create-if-absent writes; two runs racing for a sequence number cannot both win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tasks.store import AlreadyExists, Retention, sha256_bytes

PREFIX = "ledger"
HEAD = f"{PREFIX}/HEAD"


def entry_key(seq: int) -> str:
    return f"{PREFIX}/{seq:08d}.json"


def _canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str).encode()


def _sealed(entry: dict) -> bytes:
    """The bytes stored for ``entry``: indented JSON with ``sha256`` of its canonical form added."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return json.dumps({**body, "sha256": sha256_bytes(_canonical(body))}, indent=2, sort_keys=True, default=str).encode()


def _seqs(store) -> list[int]:
    return sorted(int(k.rsplit("/", 1)[1][:-5]) for k in store.list(PREFIX) if k.endswith(".json") and k.rsplit("/", 1)[1][:-5].isdigit())


def entries(store) -> list[dict]:
    """Every entry, in sequence order."""
    return [json.loads(store.get_bytes(entry_key(s))) for s in _seqs(store)]


def find_run(store, run_id: str) -> dict | None:
    """The entry of ``run_id``, or None."""
    return next((e for e in entries(store) if e.get("run_id") == run_id), None)


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
        store.put_bytes(HEAD, json.dumps({"seq": seq, "sha256": sha256_bytes(data)}).encode())
        return json.loads(data)
    raise RuntimeError(f"could not append to the ledger at {store.uri(PREFIX)} after {attempts} attempts (concurrent writers?)")


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
    """Check the whole chain (sequence, self-hashes, links, HEAD) and every referenced artifact's sha256."""
    result = Verification()
    seqs = _seqs(store)
    prev_bytes = None
    for expected, seq in enumerate(seqs, start=1):
        key = entry_key(seq)
        if seq != expected:
            result.problems.append(f"{entry_key(expected)}: missing (the ledger jumps from {expected - 1} to {seq})")
            break
        data = store.get_bytes(key)
        entry = json.loads(data)
        result.entries += 1
        if entry.get("seq") != seq:
            result.problems.append(f"{key}: holds entry seq {entry.get('seq')} (entries reordered or renamed)")
            break
        if entry.get("sha256") != sha256_bytes(_canonical({k: v for k, v in entry.items() if k != "sha256"})):
            result.problems.append(f"{key}: its content does not match its own sha256 (entry edited)")
            break
        want = None if prev_bytes is None else sha256_bytes(prev_bytes)
        if entry.get("prev_sha256") != want:
            result.problems.append(f"{key}: prev_sha256 {entry.get('prev_sha256')} does not match the previous entry's {want}")
            break
        if check_artifacts:
            for artifact, sha in entry.get("artifacts", {}).items():
                found = store.sha256_of(artifact)
                result.artifacts += 1
                if found != sha:
                    what = "missing" if found is None else f"sha256 {found}, recorded {sha}"
                    result.problems.append(f"{key}: artifact {artifact} {what}")
        prev_bytes = data
    if not result.problems and seqs:
        head = json.loads(store.get_bytes(HEAD)) if store.sha256_of(HEAD) else None
        if head != {"seq": seqs[-1], "sha256": sha256_bytes(prev_bytes)}:
            result.problems.append(f"{HEAD}: names {head}, but the newest entry is {entry_key(seqs[-1])} (an entry removed or HEAD edited)")
    return result
