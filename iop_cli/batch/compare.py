"""Batch scoring with two packs at once, for `iop rules diff --on`: each batch is read and parsed once, its distinct
cells found once, and both packs decide it; only each row's level is kept, counted as (old level, new level) pairs
with a few example rows each, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from iop_cli.batch.columns import plan_sources
from iop_cli.batch.mapping import Mapping
from iop_cli.batch.pipeline import SCORING_THREADS
from iop_cli.batch.read import read_chunks, read_header, unreadable
from iop_cli.batch.score import BatchScorer
from iop_cli.batch.tables import open_table
from iop_cli.files import InputFile
from iop_cli.pack.model import Pack
from iop_cli.problems import Problem, ProblemsError

ERROR = "error"  # the level shown for a row that could not be scored (a problem in its cells)


@dataclass
class Moves:
    """How the rows' levels compare: rows per (old level, new level), and the first data rows (1-based) of each."""

    rows: int = 0
    pairs: Counter = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def compare_file(
    source: InputFile | str,
    old: tuple[Pack, Mapping | None],
    new: tuple[Pack, Mapping | None],
    examples: int = 3,
    input_format: str = "csv",
    sheet: str | None = None,
) -> Moves:
    """Each row of `source` (CSV, an Excel sheet or a Parquet file) placed by both packs (each with its own column
    mapping). Raises ProblemsError for input that cannot be read, as `iop score` does."""
    if isinstance(source, str):
        with InputFile(source) as opened:
            return compare_file(opened, old, new, examples, input_format, sheet)
    name = source.name
    if input_format == "fhir":
        hint = "score the responses with each pack (iop score --rules), or export them as CSV"
        raise ProblemsError([Problem(name, "rules diff --on reads CSV, Excel and Parquet, not FHIR responses", hint)])
    table = None
    if input_format == "csv":
        header, start = read_header(source)
    else:
        table = open_table(source, input_format, sheet)
        header = table.header
    scorers = [
        BatchScorer(pack, plan_sources(pack, header, mapping, name), mapping, header, "codes")
        for pack, mapping in (old, new)
    ]
    level_of = [_level_names(scorer) for scorer in scorers]

    def decide(item: tuple) -> pl.DataFrame:
        """The batch's rows as (old, new, row within the batch)."""
        distinct: dict[str, list[str]] = {}  # found by the first pack, reused by the second
        if table is not None:
            raw = item[2]  # the batch as text columns
            codes = [scorer.outcome_codes(raw, distinct) for scorer in scorers]
        else:
            line, chunk = item
            try:
                raw = scorers[0].parse(chunk)
                codes = [scorer.outcome_codes(raw, distinct) for scorer in scorers]
            except pl.exceptions.PolarsError:  # its message quotes the cells: say where instead, in our own words
                raise ProblemsError([unreadable(chunk, line, name, len(header))]) from None
        return pl.DataFrame(
            {
                "old": level_of[0](codes[0]),
                "new": level_of[1](codes[1]),
                "row": pl.int_range(raw.height, dtype=pl.UInt32, eager=True),
            }
        )

    moves = Moves()

    def count(batch: pl.DataFrame) -> None:
        grouped = batch.group_by("old", "new").agg(pl.len().alias("rows"), pl.col("row").head(examples))
        for before, after, rows, first in grouped.iter_rows():
            moves.pairs[before, after] += rows
            seen = moves.examples.setdefault((before, after), [])
            seen.extend(moves.rows + 1 + row for row in first[: examples - len(seen)])
        moves.rows += batch.height

    pending: deque = deque()
    try:
        # Two batches are decided at a time (Polars releases the GIL), and counted in input order.
        with ThreadPoolExecutor(max_workers=SCORING_THREADS) as pool:
            for item in table.batches() if table is not None else read_chunks(source, start=start):
                pending.append(pool.submit(decide, item))
                if len(pending) >= SCORING_THREADS:
                    count(pending.popleft().result())
            while pending:
                count(pending.popleft().result())
    finally:
        for future in pending:
            future.cancel()
    return moves


def _level_names(scorer: BatchScorer):
    """Outcome codes to level ids (`error` for a row with a problem), the texts looked up once per distinct code."""

    known: dict[int, str] = {}

    def names(codes: pl.Series) -> pl.Series:
        found = codes.drop_nulls().unique().to_list()
        for code in found:
            if code not in known:
                known[code] = scorer.outcome.texts(code)[0]
        return codes.replace_strict(found, [known[c] for c in found], default=ERROR, return_dtype=pl.String)

    return names
