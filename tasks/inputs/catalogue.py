"""Read and write a catalogue folder in the Parquet contract (:mod:`schemas.contracts`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmrecun_core.data import InteractionData, build_interaction_data, chronological_split
from mmrecun_core.model_files import sha256_file
from schemas.contracts import (
    FEATURES_DIR,
    INTERACTIONS_FILE,
    SPLIT_VALUES,
    ContractError,
    check_interactions,
    check_item_features,
    check_modality_name,
)
from tasks.core_input import core_input
from tasks.paths import confined, existing_file, existing_folder


@dataclass(frozen=True)
class Catalogue:
    """A loaded catalogue: the core's :class:`InteractionData` and the fingerprint of the files it came from."""

    data: InteractionData
    path: Path
    sha256: str
    files: dict[str, str]
    rows: dict[str, int]


def _read_table(path: Path, name: str) -> pa.Table:
    existing_file(path, f"{name}: file")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{name}: {path} is not a readable Parquet file ({exc})") from exc


def catalogue_files(root: Path) -> dict[str, Path]:
    """Map table name (``interactions``, ``item_features/<m>``) -> file path for the folder ``root``.

    Raises :class:`~schemas.errors.PathError` for a missing folder or a file (or symlink) resolving outside
    it, :class:`~schemas.errors.BadModalityName` for a feature file that cannot name a modality.
    """
    existing_folder(root, "catalogue folder")
    files = {"interactions": confined(root, INTERACTIONS_FILE)}
    for f in sorted((root / FEATURES_DIR).glob("*.parquet")):
        files[f"{FEATURES_DIR}/{check_modality_name(f.stem)}"] = confined(root, FEATURES_DIR, f.name)
    return files


@core_input()
def load_catalogue(root: str | Path) -> Catalogue:
    """Read the catalogue at ``root`` into :class:`Catalogue`.

    Raises :class:`ContractError` naming any broken table, :class:`~schemas.errors.PathError` for a path
    that is missing, of the wrong kind or leaving the folder.
    """
    root = Path(root)
    files = catalogue_files(root)
    inter = _read_table(files["interactions"], "interactions")
    id_type = check_interactions(inter)
    users = inter.column("user_id").to_numpy(zero_copy_only=False)
    items = inter.column("item_id").to_numpy(zero_copy_only=False)
    if "split" in inter.column_names:
        split = _split_codes(inter.column("split"))
    else:
        ts = inter.column("ts").cast(pa.int64()).to_numpy()
        split = chronological_split(np.unique(users, return_inverse=True)[1], ts)
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = {"interactions": inter.num_rows}
    for name, path in files.items():
        if name == "interactions":
            continue
        modality = name.split("/", 1)[1]
        table = _read_table(path, name)
        dim = check_item_features(table, modality, id_type)
        emb = table.column("embedding").combine_chunks()
        matrix = emb.values.to_numpy().reshape(len(emb), dim)
        features[modality] = (table.column("item_id").to_numpy(zero_copy_only=False), matrix)
        rows[name] = table.num_rows
    data = build_interaction_data(users, items, split, features)
    shas = {name: sha256_file(path) for name, path in files.items()}
    return Catalogue(data, root, fingerprint(shas), shas, rows)


def fingerprint(shas: dict[str, str]) -> str:
    """One sha256 for a set of tables, from ``{table name: file sha256}`` (independent of order)."""
    return hashlib.sha256("".join(f"{n}:{s}\n" for n, s in sorted(shas.items())).encode()).hexdigest()


def _split_codes(column: pa.ChunkedArray) -> np.ndarray:
    encoded = column.combine_chunks().dictionary_encode()
    lookup = np.array([SPLIT_VALUES.index(v) for v in encoded.dictionary.to_pylist()], dtype=np.int8)
    return lookup[encoded.indices.to_numpy()]


def write_catalogue(out_dir: Path, interactions: pa.Table, features: dict[str, pa.Table]) -> None:
    """Write the contract tables into the (empty) folder ``out_dir``; a bad modality name writes nothing.

    Raises :class:`~schemas.errors.BadModalityName` for a modality that cannot name a feature table.
    """
    paths = {m: confined(out_dir, FEATURES_DIR, f"{check_modality_name(m)}.parquet") for m in features}
    pq.write_table(interactions, out_dir / INTERACTIONS_FILE)
    (out_dir / FEATURES_DIR).mkdir(exist_ok=True)
    for modality, table in features.items():
        pq.write_table(table, paths[modality])


def embedding_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """Return ``fixed_size_list<float32>[d]`` rows of a float ``[n, d]`` matrix."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
