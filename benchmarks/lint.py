"""Lint speed: `iop rules lint` on the default pack against `iop rules validate` (loading the same pack), measured
in the same run, and lint's own time in-process.

Budget (issue 4): lint of the default pack under 2 s. Run: python benchmarks/lint.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    iop = str(Path(sys.executable).with_name("iop"))
    commands = {"iop rules validate": [iop, "rules", "validate"], "iop rules lint": [iop, "rules", "lint"]}
    for cmd in commands.values():
        timed(cmd)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, seconds in medians.items():
        print(f"{name:20s} median {seconds * 1000:7.1f} ms over {args.runs} runs")
    ratio = medians["iop rules lint"] / medians["iop rules validate"]
    print(f"ratio lint / validate: {ratio:.2f}")

    from iop_cli.authoring.lint import lint
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    inner = []
    for _ in range(args.runs):
        start = time.perf_counter()
        lint(pack)
        inner.append(time.perf_counter() - start)
    seconds = statistics.median(inner)
    print(f"lint itself (in-process): {seconds * 1000:.0f} ms; budget 2000 ms -> {'OK' if seconds < 2 else 'OVER'}")
    whole = medians["iop rules lint"]
    print(f"iop rules lint, whole command: {whole * 1000:.0f} ms; budget 2000 ms -> {'OK' if whole < 2 else 'OVER'}")


if __name__ == "__main__":
    main()
