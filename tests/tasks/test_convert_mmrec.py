"""convert-mmrec: a faithful round trip, and every bad input refused with nothing written."""

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from schemas.contracts import ContractError
from schemas.errors import UserError
from tasks.inputs.catalogue import load_catalogue
from tasks.inputs.convert_mmrec import convert_mmrec


def test_round_trip_keeps_every_row_and_feature(mmrec_slice, catalogue_dir):
    rows = np.loadtxt(mmrec_slice / "slice.inter", skiprows=1, dtype=np.int64)
    table = pq.read_table(catalogue_dir / "interactions.parquet")
    assert table.num_rows == len(rows)
    assert table.column("user_id").to_numpy().tolist() == rows[:, 0].tolist()
    assert table.column("item_id").to_numpy().tolist() == rows[:, 1].tolist()
    assert table.column("split").to_pylist() == [("train", "valid", "test")[x] for x in rows[:, 4]]
    assert table.column("ts").null_count == len(rows)  # the source has no time: null, not 1970
    data = load_catalogue(catalogue_dir).data
    assert sorted(data.modalities) == sorted(f.name[: -len("_feat.npy")] for f in mmrec_slice.glob("*_feat.npy"))
    for m, f in data.features.items():
        source = np.load(mmrec_slice / f"{m}_feat.npy")
        np.testing.assert_array_equal(f.matrix, source[data.item_ids])
        assert not f.missing.any()
    assert data.train.nnz + data.valid.nnz + data.test.nnz == len(rows)


def _copy(src, tmp_path):
    dst = tmp_path / "src"
    shutil.copytree(src, dst)
    return dst


def _expect_refused(src, tmp_path, match):
    out = tmp_path / "out"
    with pytest.raises(UserError, match=match):
        convert_mmrec(src, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_missing_folder(tmp_path):
    _expect_refused(tmp_path / "absent", tmp_path, "does not exist")


def test_malformed_inter(mmrec_slice, tmp_path):
    src = _copy(mmrec_slice, tmp_path)
    with open(src / "slice.inter", "a") as f:
        f.write("12\tnot-an-item\t0\t0\t0\n")
    _expect_refused(src, tmp_path, "malformed MMRec interaction file")


def test_inter_without_required_column(mmrec_slice, tmp_path):
    src = _copy(mmrec_slice, tmp_path)
    lines = (src / "slice.inter").read_text().splitlines()
    (src / "slice.inter").write_text("\n".join(["\t".join(line.split("\t")[:4]) for line in lines]) + "\n")
    _expect_refused(src, tmp_path, r"missing column\(s\) \['x_label'\]")


def test_feature_rows_do_not_match_items(mmrec_slice, tmp_path):
    src = _copy(mmrec_slice, tmp_path)
    feat = next(src.glob("*_feat.npy"))
    np.save(feat, np.load(feat)[:-3])
    _expect_refused(src, tmp_path, f"{feat.name}: has .* rows but the interactions name item ids")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(mmrec_slice, tmp_path, bad):
    src = _copy(mmrec_slice, tmp_path)
    feat = next(src.glob("*_feat.npy"))
    m = np.load(feat)
    m[[4, 9], 0] = bad
    np.save(feat, m)
    _expect_refused(src, tmp_path, r"2 rows hold NaN or inf, e.g. item ids \[4, 9\]")


def test_empty_training_split(mmrec_slice, tmp_path):
    src = _copy(mmrec_slice, tmp_path)
    rows = np.loadtxt(src / "slice.inter", skiprows=1, dtype=np.int64)
    rows[:, 4] = np.where(rows[:, 4] == 0, 1, rows[:, 4])
    np.savetxt(src / "slice.inter", rows, fmt="%d", delimiter="\t", header="userID\titemID\trating\ttimestamp\tx_label", comments="")
    _expect_refused(src, tmp_path, "training split is empty")


def test_failed_conversion_leaves_previous_output_untouched(mmrec_slice, tmp_path):
    out = tmp_path / "out"
    convert_mmrec(mmrec_slice, out)
    before = {p.name: p.read_bytes() for p in out.rglob("*.parquet")}
    src = _copy(mmrec_slice, tmp_path)
    feat = next(src.glob("*_feat.npy"))
    np.save(feat, np.load(feat)[:-1])
    with pytest.raises(ContractError):
        convert_mmrec(src, out)
    assert {p.name: p.read_bytes() for p in out.rglob("*.parquet")} == before
