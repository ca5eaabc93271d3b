"""Scoring in Spark, two ways (README, "Scoring in a warehouse"):

1. SQL: `iop rules sql --dialect spark` run with `spark.sql` over a view of the intakes (`sql_query` here).
2. The same Python engine as `iop score` on the workers: `DataFrame.mapInArrow(score_partitions(...), schema)`,
   each partition's Arrow batches scored by the batch scorer (`batch.score.BatchScorer`), so every row gets what
   `iop score` would write, searches over missing answers and all.

Neither imports PySpark: the caller has a session. The second needs PyArrow on the workers (Spark's own
requirement for mapInArrow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from iop_cli.batch.columns import output_names
from iop_cli.output.contracts import score_columns


def sql_query(pack_dir: str | None, header: list[str], view: str, flag: bool = False) -> str:
    """The pack's query for Spark SQL over `view`, whose columns are `header` (`flag`: with `iop_search`, true
    for the rows it leaves to the search over missing answers)."""
    from iop_cli.lang.sql import DIALECTS
    from iop_cli.pack.build import default_pack_dir, load_pack
    from iop_cli.warehouse.query import build

    pack = load_pack(pack_dir or default_pack_dir())
    return build(pack, header, view, DIALECTS["spark"]).text(flag=flag)


def output_schema(pack_dir: str | None, header: list[str], reason: bool = True) -> str:
    """The schema `score_partitions` yields, as Spark DDL: the input columns (text, under the names JSON lines and
    Parquet output give them), then every column `iop score` adds (the profile's ratings as small integers)."""
    from iop_cli.pack.build import default_pack_dir, load_pack

    pack = load_pack(pack_dir or default_pack_dir())
    added = score_columns(pack, reason)
    ratings = {d.id for d in pack.profile}
    names = output_names(header, "jsonl", added)
    types = ["STRING"] * len(header) + ["TINYINT" if n in ratings else "STRING" for n in added]
    return ", ".join(f"`{n.replace('`', '``')}` {t}" for n, t in zip(names, types, strict=True))


def score_partitions(
    pack_dir: str | None, header: list[str], reason: bool = True
) -> Callable[[Iterable[Any]], Iterator[Any]]:
    """A function for `DataFrame.mapInArrow`: it scores each Arrow batch of a partition (columns in `header`
    order, read as text) with the batch scorer, and yields the batch with `iop score`'s columns added."""

    def score(batches: Iterable[Any]) -> Iterator[Any]:
        import polars as pl

        from iop_cli.batch.columns import plan_sources
        from iop_cli.batch.score import BatchScorer
        from iop_cli.pack.build import default_pack_dir, load_pack

        pack = load_pack(pack_dir or default_pack_dir())
        scorer = BatchScorer(pack, plan_sources(pack, header, None, "spark"), None, header, "parquet", reason)
        names = output_names(header, "jsonl", score_columns(pack, reason))
        for batch in batches:
            read = pl.from_arrow(batch)
            assert isinstance(read, pl.DataFrame)
            raw = read.select(
                pl.col(c).cast(pl.String).alias(i) for c, i in zip(read.columns, scorer.inputs, strict=True)
            )
            scored = scorer.score(raw)
            out = pl.concat([scored["__inputs"].struct.unnest(), scored["__outputs"].struct.unnest()], how="horizontal")
            yield from out.rename(dict(zip(out.columns, names, strict=True))).to_arrow().to_batches()

    return score
