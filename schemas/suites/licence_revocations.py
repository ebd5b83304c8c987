"""Suite of ``licence_revocations`` (``revocation_id``, ``item_id``, ``licence_id``, ``scope``, ``effective_at``, ``reason``)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

import great_expectations.expectations as gxe
from schemas.suites import (STRING_TYPES, TIMESTAMP_TYPES, SuiteContext, TableSuite, column_type, has_columns, mark_unknown,
                            not_null, only_known, unique)


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
        not_null("revocation_id"), unique("revocation_id"), not_null("item_id"), not_null("licence_id"),
        gxe.ExpectColumnValuesToBeInSet(column="scope", value_set=scopes,
                                        description=f"scope is 'item' or a modality of the data ({', '.join(scopes[1:]) or 'none'})"),
        not_null("effective_at"),
        only_known("item_id", "item"),
    ]


def frame(table: pa.Table, ctx: SuiteContext) -> pd.DataFrame:
    return mark_unknown(table.to_pandas(), "item_id", ctx.item_ids)


SUITE = TableSuite(schema, data, frame)
