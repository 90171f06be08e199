"""The Parquet export as Apache Spark reads it: pyspark in local mode over the hive layout,
the golden scenario's totals (tests/analytics/scenario.py) per day, category and currency."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from commands.services import Commands
from infra.settings import Settings
from marketplace.analytics import run_replay
from tests.analytics.scenario import DAY1, DAY2, GOLDEN_GMV, golden

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_spark_reads_the_gmv_and_order_lines_exports(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    golden(commands)
    run_replay("gmv", settings, None, tmp_path / "gmv", "parquet")
    run_replay("order-lines", settings, None, tmp_path / "lines", "parquet")

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("analytics-export")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        gmv = spark.read.parquet(str(tmp_path / "gmv" / "parquet" / "gmv"))
        totals = {
            (str(row["day"]), row["category"], row["currency"]): row["total"]
            for row in gmv.groupBy("day", "category", "currency").sum("gmv_minor")
            .withColumnRenamed("sum(gmv_minor)", "total").collect()
        }  # fmt: skip
        lines = spark.read.parquet(str(tmp_path / "lines" / "parquet" / "order_lines"))
        placed = sorted(str(row["day"]) for row in lines.select("day").distinct().collect())
        refunded = lines.agg({"refunded_minor": "sum"}).collect()[0][0]
    finally:
        spark.stop()

    assert totals == GOLDEN_GMV
    assert placed == [DAY1, DAY2]
    assert refunded == 1000
