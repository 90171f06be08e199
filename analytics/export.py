"""A replay's outputs written as files: Parquet in hive layout by UTC day, or CSV.

Each export is written beside the old one and then takes its place, so a failed export
leaves the previous one (or none) and never a part of a new one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from analytics.projection import Output

FORMATS = ("duckdb", "parquet", "csv")
"""duckdb: the replay's own file is the output; parquet and csv: files beside it."""


def export(
    conn: duckdb.DuckDBPyConnection, outputs: dict[str, Output], fmt: str, out: Path
) -> list[Path]:
    """Write every output in fmt under out/fmt (nothing for duckdb); the folders written."""
    if fmt == "duckdb":
        return []
    final = out / fmt
    staging = out / f".{fmt}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, output in outputs.items():
            if fmt == "parquet":
                write_parquet(conn, name, output, staging / name)
            else:
                write_csv(conn, name, staging / f"{name}.csv")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return [final / name for name in outputs]


def write_parquet(conn: duckdb.DuckDBPyConnection, name: str, output: Output, path: Path) -> None:
    """One output as Parquet: partitioned day=YYYY-MM-DD by its day column, or one file.

    An output whose day column is named day (a date) is partitioned by it as it is.
    """
    path.mkdir()
    if output.day is None:
        conn.execute(f"COPY \"{name}\" TO '{path / 'data.parquet'}' (FORMAT parquet)")
        return
    query = f'SELECT * FROM "{name}"'  # noqa: S608
    if output.day != "day":
        query = (
            f"SELECT *, strftime(CAST(\"{output.day}\" AS DATE), '%Y-%m-%d') AS day "  # noqa: S608
            f'FROM "{name}"'
        )
    conn.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet, PARTITION_BY (day), OVERWRITE)")


def write_csv(conn: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """One output as CSV with a header row."""
    conn.execute(f"COPY \"{name}\" TO '{path}' (FORMAT csv, HEADER)")
