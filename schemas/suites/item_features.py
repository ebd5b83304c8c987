"""Suite of ``item_features/<modality>`` (``item_id``, ``embedding``).

The data stage checks per-row summaries of the embeddings rather than the vectors themselves
(validating 100,000 x 128 floats one Python object at a time would dominate a run): ``embedding_dim``
(the row's length), ``embedding_finite`` (no NaN or inf) and ``unknown_item_id``.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.expectations.row_conditions import Column

from schemas.suites import SuiteContext, TableSuite, column_type, has_columns, mark_unknown, non_empty, not_null, only_known, unique

EMBEDDING_TYPE = r"^(?:fixed_size_)?list<[a-z]+: float>(?:\[\d+\])?$"


def schema(ctx: SuiteContext) -> list[gxe.Expectation]:
    return [
        has_columns("item_id", "embedding"),
        column_type("item_id", (ctx.id_type,)),
        gxe.ExpectColumnValuesToMatchRegex(
            column="arrow_type",
            regex=EMBEDDING_TYPE,
            row_condition=Column("column") == "embedding",
            description="column embedding is a list of float32 (fixed_size_list<float32>[d] in the contract)",
        ),
    ]


def data(ctx: SuiteContext, frame: pd.DataFrame) -> list[gxe.Expectation]:
    dims = frame["embedding_dim"].mode()
    dim = int(dims.iloc[0]) if len(dims) else 0
    return [
        non_empty(),
        not_null("item_id"),
        unique("item_id"),
        not_null("embedding_dim"),
        gxe.ExpectColumnValuesToBeInSet(
            column="embedding_dim", value_set=[dim], description=f"every embedding has the same dimension (most rows: {dim})"
        ),
        gxe.ExpectColumnValuesToBeInSet(column="embedding_finite", value_set=[True], description="embeddings hold no NaN or inf"),
        only_known("item_id", "item"),
        gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
            column="unknown_item_id",
            max_value=1,
            strict_max=True,
            description="some rows name an item of the interactions (else the modality has no content to learn from)",
        ),
    ]


def frame(table: pa.Table, ctx: SuiteContext) -> pd.DataFrame:
    """``item_id``, ``embedding_dim`` (null for a null row), ``embedding_finite``, ``unknown_item_id``."""
    emb = table.column("embedding").combine_chunks()
    lengths = pc.list_value_length(emb)
    values = emb.values.to_numpy(zero_copy_only=False)  # the child array: null rows keep their slots
    if pa.types.is_fixed_size_list(emb.type):
        d = emb.type.list_size
        finite = np.isfinite(values[emb.offset * d : (emb.offset + len(emb)) * d].reshape(len(emb), d)).all(axis=1)
    else:  # variable lengths: count the non-finite values between each row's offsets
        bad = np.concatenate([[0], np.cumsum(~np.isfinite(values))])
        offsets = emb.offsets.to_numpy()
        finite = bad[offsets[1:]] == bad[offsets[:-1]]
    out = pd.DataFrame(
        {"item_id": table.column("item_id").to_pandas(), "embedding_dim": lengths.to_pandas().astype("Int64"), "embedding_finite": finite}
    )
    return mark_unknown(out, "item_id", ctx.item_ids)


SUITE = TableSuite(schema, data, frame)
