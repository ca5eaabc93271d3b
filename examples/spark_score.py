"""Score an intake CSV in a local Spark session, both ways (README, "Scoring in a warehouse"), and check that they
agree with each other row for row: `iop rules sql --dialect spark` run by `spark.sql`, and the batch scorer on the
workers through `mapInArrow`. Prints rows per second for each.

Needs pyspark and pyarrow (pip install pyspark pyarrow) and Java 17.
Run: python examples/spark_score.py INTAKES.csv [--rules DIR] [--partitions N]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time

from pyspark.sql import SparkSession

from iop_cli.warehouse.spark import output_schema, score_partitions, sql_query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("intakes")
    parser.add_argument("--rules", default=None, help="rule-pack folder (default: the bundled pack)")
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args()
    with open(args.intakes, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle))
    spark = (
        SparkSession.builder.master(f"local[{args.partitions}]")
        .appName("iop-score")
        .config("spark.sql.shuffle.partitions", str(args.partitions))
        .config("spark.ui.enabled", "false")
        # The query is wide: whole-stage code generation would exceed Java's 64 KB method limit and fall back.
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # Every cell as text, as iop reads it; an empty cell is NULL.
    frame = spark.read.csv(args.intakes, header=True, inferSchema=False, multiLine=True, escape='"')
    frame = frame.repartition(args.partitions).cache()
    rows = frame.count()
    frame.createOrReplaceTempView("intake")

    # The scored rows are intake data: written to a private folder, removed at the end.
    folder = tempfile.mkdtemp(prefix="iop-spark-")  # 0700
    sql_out, arrow_out = os.path.join(folder, "sql.parquet"), os.path.join(folder, "arrow.parquet")
    started = time.perf_counter()
    by_sql = spark.sql(sql_query(args.rules, header, "intake", flag=True))
    by_sql.write.mode("overwrite").parquet(sql_out)
    sql_seconds = time.perf_counter() - started

    started = time.perf_counter()
    by_python = frame.mapInArrow(score_partitions(args.rules, header), output_schema(args.rules, header))
    by_python.write.mode("overwrite").parquet(arrow_out)
    arrow_seconds = time.perf_counter() - started

    # Rows the query leaves to the search over missing answers go to review there; the Python engine settles them.
    sql_rows = spark.read.parquet(sql_out)
    searched = sql_rows.filter("iop_search").count()
    columns = ["client_id", "level", "rule", "reason", "alerts", "status"]
    a = sql_rows.filter("NOT iop_search").select(*columns)
    b = spark.read.parquet(arrow_out).select(*columns)
    differ = a.exceptAll(b).count()
    print(f"rows: {rows:,}; partitions: {args.partitions}")
    print(f"spark.sql (iop rules sql --dialect spark): {sql_seconds:.1f} s, {rows / sql_seconds:,.0f} rows/s")
    print(f"mapInArrow (iop's batch scorer): {arrow_seconds:.1f} s, {rows / arrow_seconds:,.0f} rows/s")
    print(f"rows the query leaves to the search (review in SQL, settled by the Python engine): {searched:,}")
    print(f"other rows where the two differ on level, rule, reason, alerts or status: {differ}")
    spark.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
