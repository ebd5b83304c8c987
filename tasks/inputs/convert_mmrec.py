"""``mmrecun convert-mmrec``: an MMRec-layout folder -> the Parquet contract.

MMRec layout: one ``<name>.inter`` file (tab-separated, header with ``userID``, ``itemID``,
``x_label`` 0/1/2 = train/valid/test, optional ``rating`` and ``timestamp``) and one
``<modality>_feat.npy`` float matrix per modality whose row ``i`` belongs to item id ``i``.
Modalities are found from the file names; none is assumed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from schemas.contracts import SPLIT_VALUES, TS_TYPE, ContractError, check_modality_name, interactions_schema, item_features_schema
from tasks.inputs.catalogue import embedding_column, write_catalogue
from tasks.paths import check_output, existing_file, existing_folder, replacing_folder

log = logging.getLogger("mmrecun.convert")
REQUIRED = ("userID", "itemID", "x_label")


def _read_inter(path: Path) -> pa.Table:
    existing_file(path, "MMRec interaction file")
    try:
        table = csv.read_csv(
            path,
            parse_options=csv.ParseOptions(delimiter="\t"),
            convert_options=csv.ConvertOptions(
                column_types={
                    "userID": pa.int64(),
                    "itemID": pa.int64(),
                    "x_label": pa.int64(),
                    "rating": pa.float64(),
                    "timestamp": pa.float64(),
                }
            ),
        )
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path.name}: malformed MMRec interaction file ({exc})") from exc
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ContractError(f"{path.name}: missing column(s) {missing} in header {table.column_names}")
    if table.num_rows == 0:
        raise ContractError(f"{path.name}: no interaction rows")
    for column in REQUIRED:
        nulls = table.column(column).null_count
        if nulls:
            raise ContractError(f"{path.name}: column {column!r} is empty in {nulls} rows")
    labels = table.column("x_label").to_numpy()
    bad = ~np.isin(labels, (0, 1, 2))
    if bad.any():
        raise ContractError(
            f"{path.name}: x_label must be 0/1/2 (train/valid/test); {int(bad.sum())} rows hold e.g. {np.unique(labels[bad])[:5].tolist()}"
        )
    if not (labels == 0).any():
        raise ContractError(f"{path.name}: the training split is empty (no row with x_label 0 among {len(labels)})")
    for column in ("userID", "itemID"):
        negative = int((table.column(column).to_numpy() < 0).sum())
        if negative:
            raise ContractError(f"{path.name}: {negative} rows have a negative {column}")
    return table


def _interactions(table: pa.Table) -> pa.Table:
    n = table.num_rows
    if "timestamp" in table.column_names and pc.any(pc.not_equal(table.column("timestamp"), 0)).as_py():
        # MMRec stores seconds; 0 stands for "unknown" in sets that have no time, kept as null.
        seconds = table.column("timestamp").to_numpy()
        ts = pa.array((seconds * 1e6).astype("int64"), type=pa.int64(), mask=seconds == 0).cast(TS_TYPE)
    else:
        ts = pa.nulls(n, TS_TYPE)
    has_weight = "rating" in table.column_names and pc.any(pc.not_equal(table.column("rating"), 0)).as_py()
    columns = {"user_id": table.column("userID"), "item_id": table.column("itemID"), "ts": ts}
    if has_weight:
        columns["weight"] = table.column("rating").cast(pa.float32())
    columns["split"] = pa.array(np.asarray(SPLIT_VALUES, dtype=object)[table.column("x_label").to_numpy()], type=pa.string())
    return pa.Table.from_pydict(columns, schema=interactions_schema(pa.int64(), weight=has_weight))


def _features(path: Path, n_items: int) -> pa.Table:
    existing_file(path, "MMRec feature file")
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ContractError(f"{path.name}: not a readable .npy array ({exc})") from exc
    if matrix.ndim != 2:
        raise ContractError(f"{path.name}: expected a 2-d [items, d] matrix, got shape {matrix.shape}")
    if matrix.shape[0] != n_items:
        raise ContractError(
            f"{path.name}: has {matrix.shape[0]} rows but the interactions name item ids 0..{n_items - 1} ({n_items} items); "
            "row i must hold item i"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ContractError(f"{path.name}: {bad.size} rows hold NaN or inf, e.g. item ids {bad[:5].tolist()}")
    ids = pa.array(np.arange(n_items, dtype=np.int64))
    return pa.Table.from_arrays([ids, embedding_column(matrix)], schema=item_features_schema(matrix.shape[1]))


def convert_mmrec(src_dir: str | Path, out_dir: str | Path) -> dict:
    """Convert the MMRec folder ``src_dir`` into a catalogue at ``out_dir`` (replaced only on success).

    Returns ``{"out": path, "rows": {table: rows}, "modalities": {name: dim}}``. Raises
    :class:`~schemas.contracts.ContractError` for a missing folder, a malformed ``.inter``, a feature file
    whose row count does not match the items, or non-finite features, and
    :class:`~schemas.errors.PathError` for an ``out_dir`` that is, holds or lies inside ``src_dir``;
    nothing is written then.
    """
    src = existing_folder(src_dir, "MMRec folder")
    check_output(out_dir, [src])
    inter_files = sorted(src.glob("*.inter"))
    if len(inter_files) != 1:
        raise ContractError(f"{src}: expected exactly one <name>.inter file, found {[f.name for f in inter_files] or 'none'}")
    raw = _read_inter(inter_files[0])
    n_items = int(pc.max(raw.column("itemID")).as_py()) + 1
    features = {}
    for path in sorted(src.glob("*_feat.npy")):
        features[check_modality_name(path.name[: -len("_feat.npy")])] = _features(path, n_items)
    if not features:
        log.warning("%s: no <modality>_feat.npy file; the catalogue has no content features (LightGCN only)", src)
    interactions = _interactions(raw)
    with replacing_folder(out_dir) as tmp:
        write_catalogue(tmp, interactions, features)
    rows = {"interactions": interactions.num_rows, **{f"item_features/{m}": t.num_rows for m, t in features.items()}}
    log.info("converted %s -> %s: %s", src, out_dir, rows)
    return {"out": str(out_dir), "rows": rows, "modalities": {m: t.schema.field("embedding").type.list_size for m, t in features.items()}}
