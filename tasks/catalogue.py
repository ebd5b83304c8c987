"""Read and write a catalogue folder in the Parquet contract (:mod:`schemas.contracts`)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmrecun_core.checkpoint import sha256_file
from mmrecun_core.data import InteractionData, build_interaction_data, chronological_split
from schemas.contracts import FEATURES_DIR, INTERACTIONS_FILE, SPLIT_VALUES, ContractError, check_interactions, check_item_features


@dataclass(frozen=True)
class Catalogue:
    """A loaded catalogue: the core's :class:`InteractionData` and the fingerprint of the files it came from."""

    data: InteractionData
    path: Path
    sha256: str
    files: dict[str, str]
    rows: dict[str, int]


def _read_table(path: Path, name: str) -> pa.Table:
    if not path.is_file():
        raise ContractError(f"{name}: file {path} does not exist")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{name}: {path} is not a readable Parquet file ({exc})") from exc


def catalogue_files(root: Path) -> dict[str, Path]:
    """Map table name (``interactions``, ``item_features/<m>``) -> file path for the folder ``root``."""
    if not root.is_dir():
        raise ContractError(f"catalogue folder {root} does not exist")
    files = {"interactions": root / INTERACTIONS_FILE}
    for f in sorted((root / FEATURES_DIR).glob("*.parquet")):
        files[f"{FEATURES_DIR}/{f.stem}"] = f
    return files


def load_catalogue(root: str | Path) -> Catalogue:
    """Read the catalogue at ``root`` into :class:`Catalogue`; raise :class:`ContractError` naming any broken table."""
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


@contextmanager
def replacing_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out_dir`` that replaces ``out_dir`` only if the block succeeds.

    On an exception nothing at ``out_dir`` changes and the temporary folder is removed.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)


def write_catalogue(out_dir: Path, interactions: pa.Table, features: dict[str, pa.Table]) -> None:
    """Write the contract tables into the (empty) folder ``out_dir``."""
    pq.write_table(interactions, out_dir / INTERACTIONS_FILE)
    (out_dir / FEATURES_DIR).mkdir(exist_ok=True)
    for modality, table in features.items():
        pq.write_table(table, out_dir / FEATURES_DIR / f"{modality}.parquet")


def embedding_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """Return ``fixed_size_list<float32>[d]`` rows of a float ``[n, d]`` matrix."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
