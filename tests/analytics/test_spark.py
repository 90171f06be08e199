"""The Parquet export as Apache Spark reads it: pyspark in local mode over the hive layout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from commands.services import Commands
from infra.settings import Settings
from marketplace.analytics import run_replay
from tests.analytics.scenario import T0, afternoon, morning

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_spark_reads_the_gmv_and_order_lines_exports(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    afternoon(commands, morning(commands))
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
            (str(row["day"]), row["currency"]): row["total"]
            for row in gmv.groupBy("day", "currency").sum("gmv_minor")
            .withColumnRenamed("sum(gmv_minor)", "total").collect()
        }  # fmt: skip
        lines = spark.read.parquet(str(tmp_path / "lines" / "parquet" / "order_lines"))
        placed = sorted(str(row["day"]) for row in lines.select("day").distinct().collect())
        refunded = lines.agg({"refunded_minor": "sum"}).collect()[0][0]
    finally:
        spark.stop()

    day1, day2 = str(T0.date()), str((T0 + timedelta(days=1)).date())
    assert totals == {(day1, "EUR"): 3000 - 923 + 250 - 77, (day1, "USD"): 900, (day2, "EUR"): 1500}
    assert placed == [day1, day2]
    assert refunded == 1000
