"""The DuckDB engine (issue 16): `iop score --engine duckdb` beside `iop score` (Polars) and Polars' own scan-to-write
of the same file, on generated standard-intake files whose levels follow real admissions (`score_1m`'s realistic
mix, 2% bad or blank cells), as CSV and as Parquet, each written in the same format it is read in. Every command
runs in its own child process, interleaved; its peak memory is that child's maximum resident set size, its time the
wall time around it. Ratios are medians of each run's pairs.

Run: python benchmarks/warehouse.py [--rows 1000000] [--runs 3] [--formats csv,parquet]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from score_1m import generate_realistic, iop_command, measure  # noqa: E402

POLARS = {
    "csv": "import polars as pl, sys; pl.scan_csv(sys.argv[1], infer_schema=False).sink_csv(sys.argv[2])",
    "parquet": "import polars as pl, sys; pl.scan_parquet(sys.argv[1]).sink_parquet(sys.argv[2])",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="csv,parquet")
    args = parser.parse_args()
    import polars as pl

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        source = base / "intakes.csv"
        generate_realistic(source, args.rows)
        inputs = {"csv": source}
        if "parquet" in args.formats:
            inputs["parquet"] = base / "intakes.parquet"
            pl.scan_csv(source, infer_schema=False).sink_parquet(inputs["parquet"])
        print(f"{args.rows:,} rows; {source.stat().st_size / 1e6:,.0f} MB as CSV")
        for fmt in args.formats.split(","):
            given = inputs[fmt]
            out = base / f"out.{fmt}"
            commands = {
                "polars scan->write": [sys.executable, "-c", POLARS[fmt], str(given), str(out)],
                "iop score": [iop_command(), "score", str(given), "-o", str(out), "-f", fmt, "-q"],
                "iop score --engine duckdb": [
                    *[iop_command(), "score", str(given), "-o", str(out), "-f", fmt, "-q"],
                    *["--engine", "duckdb"],
                ],
            }
            found: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, command in commands.items():
                    found[name].append(measure(command))
            print(f"\n{fmt} in, {fmt} out (median of {args.runs} runs)")
            base_runs = found["polars scan->write"]
            for name, runs in found.items():
                seconds = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mb"] for r in runs)
                ratio = statistics.median(r["seconds"] / b["seconds"] for r, b in zip(runs, base_runs, strict=True))
                vs_iop = statistics.median(
                    r["seconds"] / b["seconds"] for r, b in zip(runs, found["iop score"], strict=True)
                )
                print(
                    f"  {name:28} {seconds:7.1f} s  {args.rows / seconds:>10,.0f} rows/s  peak {peak:6,.0f} MB  "
                    f"{ratio:5.2f}x polars  {vs_iop:5.2f}x iop score"
                )


if __name__ == "__main__":
    main()
