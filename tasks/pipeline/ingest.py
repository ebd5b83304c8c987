"""Step 1 of a run: snapshot the input tables into the run workspace and fingerprint them.

Sources are a local folder or ``s3://bucket/prefix`` (boto3, any S3-compatible endpoint). The data
location holds ``interactions.parquet`` and ``item_features/<modality>.parquet``; the requests
location ``licence_revocations.parquet`` and/or ``erasure_requests.parquet``. Each file is copied
and hashed in one pass, then opened as Parquet (a truncated or corrupt file is refused here), and
the step returns a small JSON-able reference, also written to ``<workspace>/inputs/ingest.json``.
A failure leaves no snapshot behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import BinaryIO, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.contracts import ERASURES_FILE, FEATURES_DIR, INTERACTIONS_FILE, REVOCATIONS_FILE, ContractError, check_modality_name
from schemas.errors import MissingParent
from tasks.inputs.catalogue import fingerprint
from tasks.paths import check_output, confined, existing_file, existing_folder, replacing_folder
from tasks.storage.s3 import is_s3_uri, list_keys, s3_client, split_s3_uri, storage_errors

log = logging.getLogger("mmrecun.ingest")
CHUNK = 8 << 20
REQUEST_FILES = {"licence_revocations": REVOCATIONS_FILE, "erasure_requests": ERASURES_FILE}


class Source:
    """The Parquet files under a local folder or an ``s3://`` prefix, addressed by relative path.

    A local file is read only if it is a regular file that stays inside the folder (a symlink leaving it
    is refused with :class:`~schemas.errors.PathEscape`).
    """

    def __init__(self, uri: str | Path, endpoint_url: str | None = None):
        self.uri = str(uri)
        if is_s3_uri(self.uri):
            self.bucket, self.prefix = split_s3_uri(self.uri)
            self.client = s3_client(endpoint_url)
            start = len(self.prefix) + 1 if self.prefix else 0
            with storage_errors(f"listing {self.uri}"):
                self.paths = {key[start:] for key in list_keys(self.client, self.bucket, self.prefix) if key.endswith(".parquet")}
        else:
            root = existing_folder(uri, "input folder")
            self.paths = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}

    def location(self, path: str) -> str:
        return f"{self.uri.rstrip('/')}/{path}"

    def open(self, path: str, table: str) -> BinaryIO:
        """A binary stream of ``path``; ``table`` names it in errors."""
        if is_s3_uri(self.uri):
            key = f"{self.prefix}/{path}" if self.prefix else path
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return open(existing_file(confined(self.uri, path), f"{table}: file"), "rb")


def _copy_hashing(read: Callable[[int], bytes], dest: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        while chunk := read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _snapshot(source: Source, path: str, table: str, dest: Path) -> dict:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with storage_errors(f"reading {source.location(path)}"):
        stream = source.open(path, table)
        try:
            sha, size = _copy_hashing(stream.read, dest)
        finally:
            stream.close()
    try:
        meta = pq.ParquetFile(dest)
        schema = meta.schema_arrow.remove_metadata()
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{table}: {source.location(path)} is not a readable Parquet file ({exc})") from exc
    return {
        "uri": source.location(path),
        "sha256": sha,
        "bytes": size,
        "rows": meta.metadata.num_rows,
        "schema_sha256": hashlib.sha256(schema.to_string().encode()).hexdigest(),
        "columns": schema.names,
    }


def _data_tables(source: Source) -> dict[str, str]:
    if INTERACTIONS_FILE not in source.paths:
        raise ContractError(f"interactions: {source.location(INTERACTIONS_FILE)} does not exist")
    tables = {"interactions": INTERACTIONS_FILE}
    for path in sorted(p for p in source.paths if p.startswith(f"{FEATURES_DIR}/") and p.count("/") == 1):
        tables[f"{FEATURES_DIR}/{check_modality_name(path[len(FEATURES_DIR) + 1 : -len('.parquet')])}"] = path
    return tables


def _request_tables(source: Source) -> dict[str, str]:
    tables = {name: f for name, f in REQUEST_FILES.items() if f in source.paths}
    if not tables:
        raise ContractError(f"requests location {source.uri} holds neither {REVOCATIONS_FILE} nor {ERASURES_FILE}")
    return tables


def ingest(data_uri: str | Path, workspace: str | Path, requests_uri: str | Path | None = None, endpoint_url: str | None = None) -> dict:
    """Snapshot the data (and requests) into ``workspace/inputs``; return the reference.

    The reference: ``{"data": {"uri", "path", "sha256"}, "requests": {...} | None, "tables": {name: {"uri",
    "path", "sha256", "bytes", "rows", "schema_sha256", "columns"}}}``; ``data.sha256`` equals the
    catalogue fingerprint that trained models record as ``data_sha256``.
    Raises :class:`ContractError` naming a missing or unreadable table, :class:`~schemas.errors.PathError`
    for a local file leaving its folder or a ``workspace/inputs`` that overlaps the sources.
    """
    inputs = check_output(Path(workspace) / "inputs", [data_uri, requests_uri])
    sources = {"data": (Source(data_uri, endpoint_url), _data_tables)}
    if requests_uri is not None:
        sources["requests"] = (Source(requests_uri, endpoint_url), _request_tables)
    ref: dict = {"data": None, "requests": None, "tables": {}}
    with replacing_folder(inputs) as tmp:
        for group, (source, tables_of) in sources.items():
            shas = {}
            for table, path in tables_of(source).items():
                facts = _snapshot(source, path, table, confined(tmp, group, path))
                facts["path"] = f"inputs/{group}/{path}"  # relative to the run: its folder moves between workers
                ref["tables"][table] = facts
                shas[table] = facts["sha256"]
                log.info("%s: %s rows, %.1f MB from %s", table, facts["rows"], facts["bytes"] / 1e6, facts["uri"])
            ref[group] = {"uri": source.uri, "path": f"inputs/{group}", "sha256": fingerprint(shas)}
        (tmp / "ingest.json").write_text(json.dumps(ref, indent=2))
    return _located(ref, workspace)


def _located(ref: dict, workspace: str | Path) -> dict:
    """``ref`` with its snapshot paths (stored relative to the run) under ``workspace``."""
    root = Path(workspace)
    for facts in (*ref["tables"].values(), *(g for g in (ref["data"], ref["requests"]) if g)):
        facts["path"] = str(root / facts["path"])
    return ref


def load_reference(workspace: str | Path) -> dict:
    """The reference :func:`ingest` wrote into ``workspace``."""
    path = Path(workspace) / "inputs" / "ingest.json"
    if not path.is_file():
        raise MissingParent(f"no ingested inputs in {workspace} (run ingest first)")
    return _located(json.loads(path.read_text()), workspace)
