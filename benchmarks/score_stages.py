"""Where `iop score`'s time goes: each stage of scoring a batch, timed in one thread over a generated file (or yours),
with the two parts of the decision that run in Python shown on their own: the missing-answer settler
(`decide.frame.MissingSettler`, rows with a required answer missing) and the profile ratings
(`decide.frame.ProfileRater.ratings`). No target here: this tells what to work on for the targets of
`score_1m.py` and `score_missing.py`.

The stages are those of `BatchScorer.score_bytes` (CSV output): parse the records, read them again as lines, check the
distinct cells (cells), decide, render the output text, write it (to memory). The run scores its batches one after
another, so the figures add up to the work a batch costs, not to the wall time of `iop score` (which scores two
batches at once beside a reader and a writer thread). The first batch is left out: it builds what later batches reuse.
`--mix missing` is the uniform file with 10% of rows missing one to three required answers, as `score_missing.py`.
Run: python benchmarks/score_stages.py [--rows 300000] [--mix realistic|uniform|missing] [--file CSV]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from score_1m import generate, generate_realistic  # noqa: E402
from score_missing import blank_some  # noqa: E402

SETTLER, RATINGS = "  of which the settler", "  of which profile ratings"  # parts of `decide`, indented under it


@contextmanager
def timed_method(owner: type, name: str, spent: dict[str, float], label: str) -> Iterator[None]:
    """Adds the time of every call of `owner.name` to `spent[label]` while the block runs."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def stages(path: Path) -> tuple[int, dict[str, float]]:
    """Each stage's seconds over the file's batches after the first, and the rows they hold."""
    import polars as pl

    from iop_cli.batch.columns import plan_sources
    from iop_cli.batch.read import read_chunks, read_header
    from iop_cli.batch.score import BatchScorer
    from iop_cli.decide import frame
    from iop_cli.files import InputFile
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    spent: dict[str, float] = {}

    def step(label: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = work()
        spent[label] = spent.get(label, 0.0) + time.perf_counter() - start
        return result

    rows = 0
    with InputFile(str(path)) as source:
        header, start = read_header(source)
        scorer = BatchScorer(pack, plan_sources(pack, header, None, path.name), None, header)
        with (
            timed_method(frame.MissingSettler, "__call__", spent, SETTLER),
            timed_method(frame.ProfileRater, "ratings", spent, RATINGS),
        ):
            for n, (_, chunk) in enumerate(read_chunks(source, None, start=start)):
                if n == 0:
                    scorer.score_bytes(chunk)
                    spent.clear()
                    continue
                raw = step("parse", lambda chunk=chunk: scorer.parse(chunk))
                lines = step(
                    "lines",
                    lambda chunk=chunk: pl.read_csv(
                        io.BytesIO(chunk),
                        has_header=False,
                        new_columns=["__line"],
                        infer_schema=False,
                        separator="\x00",
                        quote_char=None,
                    ).to_series(),
                )
                if lines.len() != raw.height:
                    lines = None
                rows += raw.height
                cells = step("cells", lambda raw=raw: scorer._cells(raw))
                decided = step("decide", lambda raw=raw, cells=cells: scorer._decide(raw, cells))
                scored = step("render", lambda raw=raw, d=decided, lines=lines: scorer._render_csv(raw, d, lines))
                step(
                    "write",
                    lambda scored=scored: scored.select("__line", "__suffix").write_csv(
                        io.BytesIO(), include_header=False, quote_style="never"
                    ),
                )
    return rows, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--mix", choices=["realistic", "uniform", "missing"], default="realistic")
    parser.add_argument("--file", type=Path, help="score this standard-intake CSV instead of a generated one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "intake.csv"
            if args.mix == "realistic":
                generate_realistic(path, args.rows)
            elif args.mix == "uniform":
                generate(path, args.rows)
            else:
                complete = Path(tmp) / "complete.csv"
                generate(complete, args.rows)
                blank_some(complete, path, 0.1)
        rows, spent = stages(path)
    if not rows:
        sys.exit("the file has one batch or less: give it more rows (--rows)")
    total = sum(seconds for label, seconds in spent.items() if not label.startswith(" "))
    print(f"{rows:,} rows after the first batch ({path.name if args.file else args.mix}), one thread:")
    order = ["parse", "lines", "cells", "decide", SETTLER, RATINGS, "render", "write"]
    for label in sorted(spent, key=order.index):
        seconds = spent[label]
        print(f"  {label:<28} {seconds:7.3f} s  {seconds / total:6.1%}  {seconds / rows * 1e6:6.2f} us/row")
    print(f"  {'all stages':<28} {total:7.3f} s  {1:6.1%}  {total / rows * 1e6:6.2f} us/row")


if __name__ == "__main__":
    main()
