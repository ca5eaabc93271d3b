"""Rows with missing answers: `iop score` on a standard-intake CSV where a share of the rows (10% by default) lack
one to three required answers, against the same file complete, measured in the same run.

Target (DESIGN.md, speed budgets): the file with 10% such rows within 1.2x of the same file complete. Rows with
missing answers are settled by the exact rule (`decide.missing`): most without a search, the rest by one search
per distinct case. Each command runs in its own child process (`score_1m.measure`), interleaved, median of --runs.
Run: python benchmarks/score_missing.py [--rows 1000000] [--runs 3] [--share 0.1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from score_1m import V1, generate, measure  # noqa: E402


def blank_some(source: Path, target: Path, share: float, seed: int = 11) -> int:
    """A copy of `source` where `share` of the rows have one to three required answers blanked; returns how many."""
    import polars as pl

    from iop_cli.pack.build import load_pack

    required = [q.id for q in load_pack(V1).asked if q.required]
    frame = pl.read_csv(source, infer_schema=False)
    rng = random.Random(seed)
    picked = rng.sample(range(frame.height), int(frame.height * share))
    blanks: dict[str, list[int]] = {name: [] for name in required}
    for row in picked:
        for name in rng.sample(required, rng.randint(1, 3)):
            blanks[name].append(row)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(rows)).then(None).otherwise(pl.col(name)).alias(name)
        for name, rows in blanks.items()
        if rows
    )
    frame.write_csv(target)
    return len(picked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.1, help="the share of rows with missing answers")
    args = parser.parse_args()
    iop = str(Path(sys.executable).with_name("iop"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        complete, partial = folder / "complete.csv", folder / "partial.csv"
        generate(complete, args.rows)
        blanked = blank_some(complete, partial, args.share)
        commands = {
            "complete": [iop, "score", str(complete), "-o", str(folder / "a.csv"), "--quiet"],
            "with missing answers": [iop, "score", str(partial), "-o", str(folder / "b.csv"), "--quiet"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            for name, command in commands.items():
                samples[name].append(measure(command)["seconds"])
        print(f"{args.rows:,} rows, {blanked:,} of them with 1-3 required answers blank; median of {args.runs} runs:")
        medians = {name: statistics.median(values) for name, values in samples.items()}
        for name, seconds in medians.items():
            print(f"  {name:22s} {seconds:6.2f} s")
        ratio = medians["with missing answers"] / medians["complete"]
        print(f"  ratio: {ratio:.2f} (target <= 1.20) -> {'OK' if ratio <= 1.2 else 'OVER'}")


if __name__ == "__main__":
    main()
