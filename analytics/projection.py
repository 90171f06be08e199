"""What an analytic projection is: handlers per event class that fill tables of its own.

An analyst's projection names its tables (DuckDB column definitions), the outputs made from
them (SQL over the tables, each with the column its Parquet export is partitioned by day on)
and handlers that write through an AnalyticUnit. Example: analytics/examples/refunds_by_day.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from projections.runtime import Projection, Unit


@dataclass(frozen=True)
class Output:
    """A table an analyst reads: a query over the projection's tables.

    day names the timestamp column whose UTC day partitions the Parquet export (hive layout,
    day=YYYY-MM-DD); None writes one unpartitioned file.
    """

    query: str
    day: str | None = None


class AnalyticUnit(Unit, Protocol):
    """One batch's writes to the projection's tables, committed with the batch's position.

    Writes are applied in bulk per batch (analytics.bulk): inserts, then updates, then
    increments; select sees every write made before it.
    """

    def insert(self, table: str, **row: Any) -> None:
        """Add a row; nothing if a row with its primary key is there."""

    def update(self, table: str, key: dict[str, Any], **values: Any) -> None:
        """Set these columns of the rows matching key."""

    def increment(self, table: str, key: dict[str, Any], **amounts: Any) -> None:
        """Add amounts to these columns of the row with this primary key (made at zero)."""

    def select(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows a query over the tables returns now."""


class AnalyticProjection(Projection[AnalyticUnit]):
    """A projection that fills tables in a replay's side store (analytics.store).

    tables maps each table to its column definitions, e.g. "day DATE PRIMARY KEY, n BIGINT";
    outputs are what an export writes (by default, each table as it is).
    """

    tables: ClassVar[dict[str, str]]
    outputs: ClassVar[dict[str, Output]] = {}

    def output_tables(self) -> dict[str, Output]:
        """The outputs, or every table whole if none are named."""
        if self.outputs:
            return dict(self.outputs)
        return {name: Output(f'SELECT * FROM "{name}"') for name in self.tables}  # noqa: S608

    def identity(self) -> str:
        """What a checkpoint must match to continue this projection's replay (its name)."""
        return self.name
