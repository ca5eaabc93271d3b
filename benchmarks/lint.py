"""Lint speed: `iop rules lint` on the default pack against `iop rules validate` (loading the same pack), measured
in the same run, and lint's own time in-process; then lint as the pack grows (`benchmarks/lint_packs.py`: more
thresholds, the default copied, a dimension matrix, an instrument sum), each pack in its own process with its load
time, lint time and peak memory, stopped after --limit seconds.

Budgets: lint of the default pack under 2 s (issue 4; version 2 of the pack, with its instruments, since issue 12);
issue 17 asks every growing pack under 2 s and the default copied four times under 5 s (the growing packs are built
on version 1 of the default, `tests/packs/v1`, so their figures compare across releases; `default-v2` is the bundled
pack). Run: python benchmarks/lint.py [--runs N] [--limit SECONDS] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--limit", type=float, default=30.0, help="seconds a growing pack's lint may take")
    parser.add_argument("--only", nargs="*", help="only these growing packs (names in benchmarks/lint_packs.py)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one pack folder and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return
    if args.only is not None:
        growth(args.limit, args.only)
        return
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
    print()
    growth(args.limit, None)


def measure_one(folder: str) -> dict[str, float]:
    """Load and lint one pack in this process: seconds for each, peak memory, and the number of findings."""
    import resource

    from iop_cli.authoring.lint import lint
    from iop_cli.pack.build import load_pack

    start = time.perf_counter()
    pack = load_pack(folder)
    loaded = time.perf_counter()
    findings = lint(pack)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load": loaded - start, "lint": done - loaded, "peak_mb": peak, "findings": len(findings)}


def growth(limit: float, only: list[str] | None) -> None:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lint_packs import PACKS

    from iop_cli.pack.build import load_pack

    print(f"{'pack':14s} {'asked/rules/alerts':>18s} {'load':>8s} {'lint':>9s} {'peak':>8s}  findings")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (what, build) in PACKS.items():
            if only and name not in only:
                continue
            folder = build(Path(tmp) / name)
            pack = load_pack(folder)
            size = f"{len(pack.asked)}/{len(pack.rules)}/{len(pack.alerts)}"
            command = [sys.executable, __file__, "--one", str(folder)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=True)
            except subprocess.TimeoutExpired:
                print(f"{name:14s} {size:>18s} {'':>8s} {'>' + format(limit, '.0f') + ' s':>9s} {'':>8s}  ({what})")
                continue
            got = json.loads(done.stdout)
            print(
                f"{name:14s} {size:>18s} {got['load'] * 1000:6.0f} ms {got['lint']:7.2f} s {got['peak_mb']:5.0f} MB"
                f"  {got['findings']:>8d}  ({what})"
            )


if __name__ == "__main__":
    main()
