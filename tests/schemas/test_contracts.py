"""The Arrow contracts refuse tables that break them, naming table, column and values."""

import numpy as np
import pyarrow as pa
import pytest

from schemas.contracts import TS_TYPE, ContractError, check_interactions, check_item_features, interactions_schema, item_features_schema
from tasks.inputs.catalogue import embedding_column


def interactions(**overrides):
    cols = {
        "user_id": pa.array([1, 2], pa.int64()),
        "item_id": pa.array([5, 6], pa.int64()),
        "ts": pa.array([0, 1_000_000], pa.int64()).cast(TS_TYPE),
        "split": pa.array(["train", "test"]),
    }
    cols.update(overrides)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def test_valid_tables_pass_and_match_the_declared_schemas():
    table = interactions()
    assert check_interactions(table) == pa.int64()
    assert table.schema.remove_metadata().equals(pa.schema([f.with_nullable(True) for f in interactions_schema()]))
    feats = pa.table({"item_id": pa.array([5, 6], pa.int64()), "embedding": embedding_column(np.ones((2, 3)))})
    assert check_item_features(feats, "audio", pa.int64()) == 3
    assert feats.schema.field("embedding").type == item_features_schema(3).field("embedding").type


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(item_id=None), "missing column 'item_id'"),
        (dict(user_id=pa.array([1.0, 2.0])), "'user_id' has type double"),
        (dict(item_id=pa.array(["a", "b"])), "'item_id' has type string, expected int64"),
        (dict(user_id=pa.array([1, None], pa.int64())), "'user_id' has 1 null"),
        (dict(split=pa.array(["train", "holdout"])), r"\['holdout'\]"),
        (dict(split=None, ts=pa.nulls(2, TS_TYPE)), "no 'ts' and there is no 'split'"),
        (dict(ts=pa.array([0, 1], pa.int64())), "'ts' has type int64"),
    ],
)
def test_broken_interactions_are_named(overrides, match):
    with pytest.raises(ContractError, match=match):
        check_interactions(interactions(**overrides))


def test_empty_interactions():
    with pytest.raises(ContractError, match="no rows"):
        check_interactions(interactions().slice(0, 0))


@pytest.mark.parametrize(
    "table,modality,match",
    [
        (pa.table({"item_id": pa.array([1], pa.int64()), "embedding": pa.array([[1.0, 2.0]])}), "image", "fixed_size_list"),
        (pa.table({"item_id": pa.array([], pa.int64()), "embedding": embedding_column(np.ones((0, 2)))}), "image", "no rows"),
        (pa.table({"item_id": pa.array([1], pa.int64()), "embedding": embedding_column(np.ones((1, 2)))}), "Bad Name", "modality names"),
    ],
)
def test_broken_features_are_named(table, modality, match):
    with pytest.raises(ContractError, match=match):
        check_item_features(table, modality, pa.int64())
