"""The hash-chained audit ledger and verify-ledger: each kind of tampering is named."""

from __future__ import annotations

import json

import pytest

from tasks.storage import ledger
from tasks.storage.store import LocalStore, S3Store


@pytest.fixture
def chain(store):
    """Three runs, each with one artifact."""
    for i in range(1, 4):
        sha = store.put_bytes(f"models/m/v{i}/model.pt", f"weights {i}".encode())
        ledger.append(store, {"run_id": f"run-{i}", "version": f"v{i}", "artifacts": {f"models/m/v{i}/model.pt": sha}})
    return store


def test_an_intact_chain_verifies(chain):
    result = ledger.verify(chain)
    assert result.ok and result.entries == 3 and result.artifacts == 3
    entries = ledger.entries(chain)
    assert [e["seq"] for e in entries] == [1, 2, 3] and entries[0]["prev_sha256"] is None
    assert ledger.find_run(chain, "run-2")["version"] == "v2" and ledger.find_run(chain, "run-9") is None


def rewrite(store, key: str, change) -> None:
    store.put_bytes(key, json.dumps(change(json.loads(store.get_bytes(key))), indent=2).encode())


def test_an_edited_entry_is_named(chain):
    rewrite(chain, "ledger/00000002.json", lambda e: {**e, "version": "v2-forged"})
    assert ledger.verify(chain).broken == "ledger/00000002.json: its content does not match its own sha256 (entry edited)"


def test_an_edited_newest_entry_is_named(chain):
    rewrite(chain, "ledger/00000003.json", lambda e: {**e, "status": "PASSED"})
    assert ledger.verify(chain).broken.startswith("ledger/00000003.json: its content does not match")


def remove(store, key: str) -> None:
    if isinstance(store, LocalStore):
        (store.root / key).unlink()
    else:
        store.client.delete_object(Bucket=store.bucket, Key=store._key(key))


def test_an_edit_that_recomputes_the_self_hash_breaks_the_next_link(chain, store):
    remove(store, ledger.anchor_key(1))  # even without its anchor, the next entry's link names the edit
    rewrite(chain, "ledger/00000001.json", lambda e: json.loads(ledger._sealed({**e, "version": "v1-forged"})))
    assert ledger.verify(chain).broken.startswith("ledger/00000002.json: prev_sha256")


def test_a_rewritten_newest_entry_with_its_own_hash_and_head_recomputed_is_caught_by_its_anchor(chain):
    rewrite(chain, "ledger/00000003.json", lambda e: json.loads(ledger._sealed({**e, "status": "PASSED"})))
    data = chain.get_bytes("ledger/00000003.json")
    chain.put_bytes(ledger.HEAD, json.dumps({"seq": 3, "sha256": ledger.sha256_bytes(data)}).encode())
    assert ledger.verify(chain).broken == (
        "ledger/00000003.json: its bytes differ from the hash anchored in ledger/heads/00000003.json (entry rewritten)"
    )


def test_removed_newest_entries_with_head_rewritten_are_caught_by_the_anchors(chain, store):
    remove(store, "ledger/00000003.json")
    chain.put_bytes(ledger.HEAD, json.dumps({"seq": 2, "sha256": ledger.sha256_bytes(chain.get_bytes("ledger/00000002.json"))}).encode())
    assert ledger.verify(chain).broken.startswith("ledger/heads/00000003.json: anchors an entry the ledger no longer holds")


def test_a_removed_entry_is_named(chain, store):
    remove(store, "ledger/00000002.json")
    assert ledger.verify(chain).broken == "ledger/00000002.json: missing (the ledger jumps from 1 to 3)"


def test_a_removed_newest_entry_is_named_through_head(chain, store):
    remove(store, "ledger/00000003.json")
    assert ledger.verify(chain).broken.startswith("ledger/HEAD: names {'seq': 3")


def test_reordered_entries_are_named(chain):
    two, three = chain.get_bytes("ledger/00000002.json"), chain.get_bytes("ledger/00000003.json")
    chain.put_bytes("ledger/00000002.json", three)
    chain.put_bytes("ledger/00000003.json", two)
    assert ledger.verify(chain).broken == "ledger/00000002.json: holds entry seq 3 (entries reordered or renamed)"


def test_an_artifact_whose_bytes_changed_is_named(chain):
    chain.put_bytes("models/m/v2/model.pt", b"weights 2, retrained quietly")
    result = ledger.verify(chain)
    assert not result.ok and result.broken.startswith("ledger/00000002.json: artifact models/m/v2/model.pt sha256 ")
    assert len(result.problems) == 1


def test_verify_ledger_cli(chain, store, capsys, s3_endpoint):
    from tasks.cli import main

    args = ["verify-ledger", "--store", store.uri()] + (["--endpoint-url", s3_endpoint] if isinstance(store, S3Store) else [])
    assert main(["-q", *args]) == 0
    assert "ledger intact: 3 entries, 3 artifacts checked" in capsys.readouterr().out
    chain.put_bytes("models/m/v1/model.pt", b"changed")
    assert main(["-q", *args]) == 2
    assert "ledger/00000001.json: artifact models/m/v1/model.pt" in capsys.readouterr().err
