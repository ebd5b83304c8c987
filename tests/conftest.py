"""Shared fixtures: a small slice of the real TikTok set (or a synthetic one when it is absent)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.s3_server import free_port, moto_server

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
    warnings.warn(f"TikTok set not found at {TIKTOK}: tests use a synthetic MMRec-layout set", stacklevel=1)
    from tasks.inputs.catalogue import load_catalogue
    from tasks.inputs.synthetic import make_synthetic

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
    from tasks.inputs.convert_mmrec import convert_mmrec

    out = tmp_path_factory.mktemp("catalogue") / "data"
    convert_mmrec(mmrec_slice, out)
    return out


@pytest.fixture(scope="session")
def slice_data(catalogue_dir):
    """:class:`InteractionData` of the slice."""
    from tasks.inputs.catalogue import load_catalogue

    return load_catalogue(catalogue_dir).data


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """A real S3 HTTP endpoint on loopback (moto's server mode, :mod:`tests.s3_server`); yields its URL."""
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        yield url


@pytest.fixture
def s3_bucket(s3_endpoint, request):
    """A fresh bucket on the moto endpoint; yields ``(boto3 client, bucket name)``."""
    from tasks.storage.s3 import s3_client

    client = s3_client(s3_endpoint)
    import re

    name = f"test-{re.sub(r'[^a-z0-9-]+', '-', request.node.name.lower())[:40].strip('-')}-{free_port()}"
    client.create_bucket(Bucket=name)
    return client, name


def graphs_of(data):
    """The graphs of ``data`` on the CPU, kNN graphs built with missing content flagged."""
    from mmrecun_core.graphs import build_graphs, modality_knn

    return build_graphs(data.train, {m: modality_knn(f) for m, f in data.features.items()}, "cpu")


@pytest.fixture(scope="session")
def parent(slice_data):
    """A 12-epoch MGCN on the slice; tests change deep copies of it only."""
    import torch

    from mmrecun_core.models import MGCN
    from mmrecun_core.trainer import TrainConfig, fit, seed_everything

    seed_everything(0)
    model = MGCN(slice_data.n_users, slice_data.n_items, {m: torch.from_numpy(f.matrix) for m, f in slice_data.features.items()})
    fit(model, graphs_of(slice_data), slice_data, TrainConfig(max_epochs=12, patience=12))
    return model


@pytest.fixture(scope="session")
def scenario(slice_data):
    """Every tenth user erased: ``(forget, retain, retain graphs, forgotten CSR)``."""
    from mmrecun_core.unlearning.forget import ForgetSet, retain_data

    forget = ForgetSet.of(users=np.arange(0, slice_data.n_users, 10))
    retain = retain_data(slice_data, forget)
    return forget, retain, graphs_of(retain), forget.forgotten_mask(slice_data.train)
