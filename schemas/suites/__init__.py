"""Great Expectations (GX Core 1.x) suites of the four input tables, one small module per table.

Each table is validated in two stages, both recorded by GX:

1. **schema**: a frame with one row per column of the Parquet file (``column``, ``arrow_type``)
   checked for the required columns and their Arrow types (:func:`schema_frame`);
2. **data**: the table's values (as a pandas frame; item features as per-row summaries of their
   embeddings), checked only when the schema stage passed.

An expectation of severity ``warning`` is reported but does not stop the run: it marks requests
that name users or items absent from the data ("not applicable") and feature rows of unknown items.
Request ids are unique across both request tables (``request_id`` and ``revocation_id``): a request
is known by its table, id and content, and a shared id would let one request hide another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa
from great_expectations.expectations.row_conditions import Column

from schemas.errors import BadParameter

ID_TYPES = ("int64", "string")
TIMESTAMP_TYPES = ("timestamp[us, tz=UTC]",)
STRING_TYPES = ("string", "large_string")
# Earliest plausible interaction time: anything before is a unit or epoch mistake.
DEFAULT_MIN_TS = datetime(2000, 1, 1, tzinfo=timezone.utc)
DEFAULT_DUPLICATE_THRESHOLD = 0.01


@dataclass(frozen=True)
class SuiteContext:
    """What the suites know about the run and the other tables.

    ``cutoff``: the run's logical date (tz-aware); no interaction may be later. ``id_type``: the
    Arrow type name of ``interactions.user_id`` (the other tables must use it). ``user_ids`` and
    ``item_ids``: the ids present in ``interactions``; ``modalities``: the feature tables' names.
    ``duplicate_threshold``: the largest tolerated fraction of repeated (user, item, ts) rows.
    ``request_ids``: request table name (``erasure_requests``, ``licence_revocations``) -> its ids.
    """

    cutoff: datetime
    id_type: str = "int64"
    user_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    item_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    modalities: tuple[str, ...] = ()
    min_ts: datetime = DEFAULT_MIN_TS
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    request_ids: dict[str, np.ndarray] = field(default_factory=dict)

    def other_request_ids(self, table: str) -> np.ndarray:
        """The ids of the request tables other than ``table`` (an id must not appear in two of them)."""
        others = [ids for name, ids in self.request_ids.items() if name != table]
        return np.concatenate(others) if others else np.empty(0, object)

    def __post_init__(self) -> None:
        if self.cutoff.tzinfo is None:
            raise BadParameter(f"the cutoff must carry a time zone, got {self.cutoff.isoformat()}")
        if not 0 <= self.duplicate_threshold < 1:
            raise BadParameter(f"duplicate_threshold must lie in [0, 1), got {self.duplicate_threshold}")


@dataclass(frozen=True)
class TableSuite:
    """One table: the expectations of its schema frame, its data frame, and how that frame is made from the Parquet table."""

    schema: Callable[[SuiteContext], list[gxe.Expectation]]
    data: Callable[[SuiteContext, pd.DataFrame], list[gxe.Expectation]]
    frame: Callable[[pa.Table, SuiteContext], pd.DataFrame]


def schema_frame(schema: pa.Schema) -> pd.DataFrame:
    """One row per column: ``column`` name and ``arrow_type`` as Arrow prints it (``int64``, ``timestamp[us, tz=UTC]``)."""
    return pd.DataFrame({"column": schema.names, "arrow_type": [str(t) for t in schema.types]}, dtype=object)


def has_columns(*columns: str) -> gxe.Expectation:
    return gxe.ExpectColumnDistinctValuesToContainSet(
        column="column", value_set=list(columns), description=f"the table has the columns {', '.join(columns)}"
    )


def column_type(column: str, types: tuple[str, ...]) -> gxe.Expectation:
    """``column`` (when present) has one of the Arrow ``types``."""
    return gxe.ExpectColumnValuesToBeInSet(
        column="arrow_type",
        value_set=list(types),
        row_condition=Column("column") == column,
        description=f"column {column} has Arrow type {' or '.join(types)}",
    )


def not_null(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is never null")


def unique(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(column=column, description=f"{column} values are unique")


def non_empty() -> gxe.Expectation:
    return gxe.ExpectTableRowCountToBeBetween(min_value=1, description="the table has at least one row")


def only_known(column: str, what: str) -> gxe.Expectation:
    """A warning, not a failure: every ``column`` value names a ``what`` of the interactions.

    Checks the ``unknown_<column>`` column that :func:`mark_unknown` adds, so the suite stays small
    however many ids the data holds, and GX's examples are the unknown ids themselves.
    """
    return gxe.ExpectColumnValuesToBeNull(
        column=f"unknown_{column}",
        severity="warning",
        description=f"{column} names a {what} of the interactions (rows that do not are not applicable)",
    )


def not_in_other_request_table(column: str) -> gxe.Expectation:
    """No ``column`` value is also an id of the other request table (checks :func:`mark_shared`'s column)."""
    description = f"{column} is not also the id of a request in the other request table"
    return gxe.ExpectColumnValuesToBeNull(column=f"shared_{column}", description=description)


def mark_unknown(frame: pd.DataFrame, column: str, ids: np.ndarray) -> pd.DataFrame:
    """Add ``unknown_<column>``: the value where it is not among ``ids``, null elsewhere (and where the value is null)."""
    values = frame[column]
    frame[f"unknown_{column}"] = values.where(values.isna() | ~values.isin(ids))
    return frame


def mark_shared(frame: pd.DataFrame, column: str, ids: np.ndarray) -> pd.DataFrame:
    """Add ``shared_<column>``: the value where it is among ``ids``, null elsewhere."""
    values = frame[column]
    frame[f"shared_{column}"] = values.where(values.notna() & values.isin(ids))
    return frame
