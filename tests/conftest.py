"""Shared fixtures: a small slice of the real TikTok set (or a synthetic one when it is absent)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TIKTOK = Path(os.environ.get("MMRECUN_TIKTOK", REPO.parent / "shared" / "data" / "tiktok"))


def write_mmrec_slice(src: Path, out: Path, max_user: int) -> Path:
    """Write an MMRec-layout folder with the users ``< max_user`` of ``src``, items renumbered 0..k-1."""
    rows = np.loadtxt(src / "tiktok.inter", skiprows=1, dtype=np.int64)
    rows = rows[rows[:, 0] < max_user]
    items, new_ids = np.unique(rows[:, 1], return_inverse=True)
    rows[:, 1] = new_ids
    out.mkdir(parents=True)
    np.savetxt(out / "slice.inter", rows, fmt="%d", delimiter="\t", header="userID\titemID\trating\ttimestamp\tx_label", comments="")
    for f in sorted(src.glob("*_feat.npy")):
        np.save(out / f.name, np.load(f)[items])
    return out


@pytest.fixture(scope="session")
def mmrec_slice(tmp_path_factory) -> Path:
    """An MMRec-layout folder: the first 1,200 TikTok users, or synthetic data in that layout."""
    out = tmp_path_factory.mktemp("mmrec") / "tiktok_slice"
    if (TIKTOK / "tiktok.inter").is_file():
        return write_mmrec_slice(TIKTOK, out, max_user=1200)
    warnings.warn(f"TikTok set not found at {TIKTOK}: tests use a synthetic MMRec-layout set")
    from tasks.catalogue import load_catalogue
    from tasks.synthetic import make_synthetic

    make_synthetic(out.parent / "syn", n_users=1200, n_items=900, seed=1)
    d = load_catalogue(out.parent / "syn").data
    coo = [(m, s) for s, m in enumerate((d.train, d.valid, d.test))]
    out.mkdir()
    rows = np.concatenate([np.c_[m.tocoo().row, m.tocoo().col, np.zeros((m.nnz, 2), int), np.full(m.nnz, s)] for m, s in coo])
    np.savetxt(out / "slice.inter", rows, fmt="%d", delimiter="\t", header="userID\titemID\trating\ttimestamp\tx_label", comments="")
    for name, f in d.features.items():
        np.save(out / f"{name}_feat.npy", f.matrix)
    return out


@pytest.fixture(scope="session")
def catalogue_dir(mmrec_slice, tmp_path_factory) -> Path:
    """The slice converted to the Parquet contract."""
    from tasks.convert_mmrec import convert_mmrec

    out = tmp_path_factory.mktemp("catalogue") / "data"
    convert_mmrec(mmrec_slice, out)
    return out


@pytest.fixture(scope="session")
def slice_data(catalogue_dir):
    """:class:`InteractionData` of the slice."""
    from tasks.catalogue import load_catalogue

    return load_catalogue(catalogue_dir).data
