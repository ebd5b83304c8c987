"""Loading a catalogue folder: the synthetic fallback, chronological splits, and broken files."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.contracts import ContractError
from schemas.errors import PathError
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.synthetic import make_synthetic


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "data"
    make_synthetic(out, n_users=400, n_items=300, modalities=("image", "text", "audio"), seed=3)
    return out


def test_synthetic_catalogue_is_split_chronologically_and_flags_missing_features(synthetic):
    cat = load_catalogue(synthetic)
    d = cat.data
    assert sorted(d.modalities) == ["audio", "image", "text"]
    assert "split" not in pq.read_table(synthetic / "interactions.parquet").column_names
    # per user, every training interaction is no later than any valid/test one
    table = pq.read_table(synthetic / "interactions.parquet")
    users = np.searchsorted(d.user_ids, table.column("user_id").to_numpy())
    items = np.searchsorted(d.item_ids, table.column("item_id").to_numpy())
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    is_train = np.asarray(d.train[users, items]).ravel() > 0
    last_train = np.full(d.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, users[is_train], ts[is_train])
    first_held = np.full(d.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_held, users[~is_train], ts[~is_train])
    assert (last_train <= first_held).all()
    share = d.train.nnz / table.num_rows
    assert 0.75 < share < 0.85
    assert all(0 < f.missing.sum() < 0.1 * d.n_items for f in d.features.values())
    assert len(cat.sha256) == 64 and set(cat.files) == {"interactions", "item_features/image", "item_features/text", "item_features/audio"}


def test_fingerprint_changes_with_the_data(synthetic, tmp_path):
    other = tmp_path / "other"
    make_synthetic(other, n_users=400, n_items=300, modalities=("image", "text", "audio"), seed=4)
    assert load_catalogue(other).sha256 != load_catalogue(synthetic).sha256


def test_corrupt_parquet_is_named(synthetic, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(synthetic, broken)
    path = broken / "item_features" / "audio.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ContractError, match="item_features/audio: .* is not a readable Parquet file"):
        load_catalogue(broken)


def test_missing_interactions_file_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PathError, match="interactions: file .* does not exist"):
        load_catalogue(tmp_path / "empty")
