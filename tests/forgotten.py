"""Scan what the pipeline wrote for anything a promoted version forgot: erased users' ids or data, revoked content.

    python -m tests.forgotten --data var/demo/data --requests var/demo/requests var/store/models var/runs

Every file under the given folders is read as what it is: JSON (every value under a key naming users, and
with string ids every string), HTML and text, PDF text, Parquet (user and item columns), ``.npz`` arrays,
and ``model.pt`` (training edges, erased users' embedding rows, revoked items' content rows, read with the
version's own id maps). Prints one line per finding and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from tasks.inputs.catalogue import load_catalogue
from tasks.pipeline.forget_set import plan_forget


@dataclass
class Forgotten:
    """What must appear nowhere: erased users (external ids and catalogue indices), revoked items' content."""

    user_ids: set[str]
    string_ids: bool
    users: np.ndarray
    items: np.ndarray
    content: dict[str, tuple[np.ndarray, np.ndarray]]  # modality -> (item indices, their original rows)
    catalogue_user_ids: np.ndarray


def forgotten(data_dir, requests_dir, cutoff=None) -> Forgotten:
    """Resolve the requests effective at ``cutoff`` against the catalogue the runs read."""
    data = load_catalogue(data_dir).data
    cumulative = plan_forget(requests_dir, data, cutoff and dt.datetime.fromisoformat(cutoff)).cumulative
    content = {m: (idx, data.features[m].matrix[idx]) for m in data.features if len(idx := cumulative.deleted_content(m))}
    return Forgotten(
        {str(u) for u in data.user_ids[cumulative.users]},
        data.user_ids.dtype.kind in "OUS",
        cumulative.users,
        cumulative.items,
        content,
        data.user_ids,
    )


def _walk(value, key: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def _json(path: Path, f: Forgotten) -> list[str]:
    found = [
        v
        for key, v in _walk(json.loads(path.read_text()))
        if v is not None and str(v) in f.user_ids and (f.string_ids and isinstance(v, str) or "user" in key.lower())
    ]
    return [f"{path}: holds erased user id(s), e.g. {found[:2]}"] if found else []


def _text(path: Path, text: str, f: Forgotten) -> list[str]:
    if not f.string_ids:  # integer ids cannot be told from other numbers in free text
        return []
    found = [u for u in f.user_ids if u in text]
    return [f"{path}: holds erased user id(s) in its text, e.g. {found[:2]}"] if found else []


def _parquet(path: Path, f: Forgotten) -> list[str]:
    table = pq.read_table(path)
    out = []
    if "user_id" in table.column_names:
        hits = {str(u) for u in table.column("user_id").to_pylist()} & f.user_ids
        if hits:
            out.append(f"{path}: {len(hits)} erased user id(s) in column user_id")
    return out


def _model(path: Path, f: Forgotten) -> list[str]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    ids_path = path.with_name("id_maps.json")
    user_ids = json.loads(ids_path.read_text())["user_ids"] if ids_path.is_file() else None
    out = []
    if user_ids is not None and len(user_ids) != len(f.catalogue_user_ids):
        return [f"{path}: its id maps do not match the catalogue scanned against"]
    if np.isin(state["train_users"].numpy(), f.users).any():
        out.append(f"{path}: training edges of erased users")
    if np.isin(state["train_items"].numpy(), f.items).any():
        out.append(f"{path}: training edges of revoked items")
    rows = state["state_dict"].get("user_embedding.weight")
    if rows is not None and len(f.users) and rows[torch.from_numpy(f.users)].abs().sum() > 0:
        out.append(f"{path}: erased users' embedding rows are not zero")
    for m, (items, original) in f.content.items():
        kept = state["state_dict"].get(f"features.{m}")
        if kept is not None and np.isclose(kept[torch.from_numpy(items)].numpy(), original).all(axis=1).any():
            out.append(f"{path}: revoked {m} content of some items is still there")
    return out


def scan(roots, f: Forgotten) -> list[str]:
    """Every finding under ``roots`` (folders), one line each."""
    findings = []
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            if path.suffix == ".json":
                findings += _json(path, f)
            elif path.suffix in (".html", ".txt", ".log", ".csv"):
                findings += _text(path, path.read_text(errors="replace"), f)
            elif path.suffix == ".pdf":
                from pypdf import PdfReader

                findings += _text(path, "\n".join(p.extract_text() for p in PdfReader(path).pages), f)
            elif path.suffix == ".parquet":
                findings += _parquet(path, f)
            elif path.suffix == ".npz":
                findings.append(f"{path}: forget-set arrays left behind")
            elif path.name == "model.pt":
                findings += _model(path, f)
    return findings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the catalogue the runs read")
    parser.add_argument("--requests", required=True, help="the requests the promoted version applied")
    parser.add_argument("roots", nargs="+", help="folders to scan")
    args = parser.parse_args(argv)
    findings = scan(args.roots, forgotten(args.data, args.requests))
    print("\n".join(findings) or f"nothing forgotten found under {', '.join(args.roots)}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
