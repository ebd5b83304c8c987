"""Suite of ``licence_revocations`` (``revocation_id``, ``item_id``, ``licence_id``, ``scope``, ``effective_at``, ``reason``)."""

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

TABLE = "licence_revocations"


def schema(ctx: SuiteContext) -> list[gxe.Expectation]:
    return [
        has_columns("revocation_id", "item_id", "licence_id", "scope", "effective_at"),
        column_type("revocation_id", STRING_TYPES),
        column_type("item_id", (ctx.id_type,)),
        column_type("licence_id", STRING_TYPES),
        column_type("scope", STRING_TYPES),
        column_type("effective_at", TIMESTAMP_TYPES),
        column_type("reason", STRING_TYPES),
    ]


def data(ctx: SuiteContext, frame: pd.DataFrame) -> list[gxe.Expectation]:
    scopes = ["item", *ctx.modalities]
    return [
        not_null("revocation_id"),
        unique("revocation_id"),
        not_in_other_request_table("revocation_id"),
        not_null("item_id"),
        not_null("licence_id"),
        gxe.ExpectColumnValuesToBeInSet(
            column="scope", value_set=scopes, description=f"scope is 'item' or a modality of the data ({', '.join(scopes[1:]) or 'none'})"
        ),
        not_null("effective_at"),
        only_known("item_id", "item"),
    ]


def frame(table: pa.Table, ctx: SuiteContext) -> pd.DataFrame:
    out = mark_shared(table.to_pandas(), "revocation_id", ctx.other_request_ids(TABLE))
    return mark_unknown(out, "item_id", ctx.item_ids)


SUITE = TableSuite(schema, data, frame)
