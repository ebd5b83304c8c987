"""Suite of ``interactions`` (``user_id``, ``item_id``, ``ts`` [, ``weight``] [, ``split``])."""

from __future__ import annotations

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa

from schemas.contracts import SPLIT_VALUES
from schemas.suites import ID_TYPES, STRING_TYPES, TIMESTAMP_TYPES, SuiteContext, TableSuite, column_type, has_columns, non_empty, not_null

FLOAT32_MAX = float(np.finfo(np.float32).max)


def schema(ctx: SuiteContext) -> list[gxe.Expectation]:
    return [
        has_columns("user_id", "item_id", "ts"),
        column_type("user_id", ID_TYPES),
        column_type("item_id", (ctx.id_type,)),
        column_type("ts", TIMESTAMP_TYPES),
        column_type("weight", ("float",)),
        column_type("split", STRING_TYPES),
    ]


def data(ctx: SuiteContext, frame: pd.DataFrame) -> list[gxe.Expectation]:
    columns = tuple(frame.columns)
    checks = [
        non_empty(),
        not_null("user_id"),
        not_null("item_id"),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["user_id", "item_id", "ts"],
            mostly=1 - ctx.duplicate_threshold,
            description=f"at most {ctx.duplicate_threshold:.1%} of rows repeat another row's (user_id, item_id, ts)",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="ts",
            min_value=ctx.min_ts.isoformat(),
            max_value=ctx.cutoff.isoformat(),
            description=f"ts lies between {ctx.min_ts:%Y-%m-%d} and the run's cutoff {ctx.cutoff.isoformat(timespec='seconds')}",
        ),
    ]
    if "weight" in columns:
        checks += [
            gxe.ExpectColumnValuesToNotBeNull(column="weight", description="weight is a number (never null or NaN)"),
            gxe.ExpectColumnValuesToBeBetween(column="weight", min_value=0, description="weight is not negative"),
            gxe.ExpectColumnValuesToBeBetween(column="weight", max_value=FLOAT32_MAX, description="weight is finite"),
        ]
    if "split" in columns:
        checks += [
            not_null("split"),
            gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLIT_VALUES), description="split is train, valid or test"),
            gxe.ExpectColumnDistinctValuesToContainSet(column="split", value_set=["train"], description="the train split is not empty"),
        ]
    else:
        checks.append(not_null("ts"))  # the default chronological split needs every time
    return checks


def frame(table: pa.Table, ctx: SuiteContext) -> pd.DataFrame:
    return table.to_pandas()


SUITE = TableSuite(schema, data, frame)
