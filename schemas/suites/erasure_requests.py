"""Suite of ``erasure_requests`` (``request_id``, ``user_id``, [``item_id``], ``received_at``, ``effective_at``, ``legal_basis``).

A row without ``item_id`` erases the whole user; with one, that interaction only.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pandas as pd
import pyarrow as pa

from schemas.suites import (
    STRING_TYPES,
    TIMESTAMP_TYPES,
    SuiteContext,
    TableSuite,
    column_type,
    has_columns,
    mark_shared,
    mark_unknown,
    not_in_other_request_table,
    not_null,
    only_known,
    unique,
)

TABLE = "erasure_requests"


def schema(ctx: SuiteContext) -> list[gxe.Expectation]:
    return [
        has_columns("request_id", "user_id", "received_at", "effective_at", "legal_basis"),
        column_type("request_id", STRING_TYPES),
        column_type("user_id", (ctx.id_type,)),
        column_type("item_id", (ctx.id_type,)),
        column_type("received_at", TIMESTAMP_TYPES),
        column_type("effective_at", TIMESTAMP_TYPES),
        column_type("legal_basis", STRING_TYPES),
    ]


def data(ctx: SuiteContext, frame: pd.DataFrame) -> list[gxe.Expectation]:
    checks = [
        not_null("request_id"),
        unique("request_id"),
        not_in_other_request_table("request_id"),
        not_null("user_id"),
        not_null("effective_at"),
        not_null("legal_basis"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="effective_at",
            column_B="received_at",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            description="a request takes effect no earlier than it was received",
        ),
        only_known("user_id", "user"),
    ]
    if "item_id" in frame.columns:
        checks.append(only_known("item_id", "item"))
    return checks


def frame(table: pa.Table, ctx: SuiteContext) -> pd.DataFrame:
    out = mark_shared(table.to_pandas(), "request_id", ctx.other_request_ids(TABLE))
    out = mark_unknown(out, "user_id", ctx.user_ids)
    return mark_unknown(out, "item_id", ctx.item_ids) if "item_id" in out.columns else out


SUITE = TableSuite(schema, data, frame)
