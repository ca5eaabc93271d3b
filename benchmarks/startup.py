"""Start-up budget: `iop --help` against a bare 5-command Typer app's `--help`, measured in the same run.

Budget (DESIGN.md): no slower than the bare app by more than 20% (ratio <= 1.20). Also prints the wall time of one
`iop check` on the example answers, for reference. Run: python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE_APP = """
import typer
app = typer.Typer()
for name in ("intake", "check", "score", "rules", "records"):
    app.command(name=name)(lambda: None)
app()
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    iop = [str(Path(sys.executable).with_name("iop"))]
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        commands = {
            "bare typer --help": [sys.executable, str(bare), "--help"],
            "iop --help": [*iop, "--help"],
            "iop check (example)": [
                *iop,
                "check",
                "-a",
                str(ROOT / "examples/answers/iop-candidate.yaml"),
                "-f",
                "json",
            ],
        }
        for cmd in commands.values():  # warm the file cache
            timed(cmd)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleave so drift hits every command alike
            for name, cmd in commands.items():
                samples[name].append(timed(cmd))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    for name, ms in medians.items():
        print(f"{name:22s} median {ms:7.1f} ms over {args.runs} runs")
    ratio = medians["iop --help"] / medians["bare typer --help"]
    print(f"ratio iop --help / bare typer --help: {ratio:.2f} (budget 1.20) -> {'OK' if ratio <= 1.2 else 'OVER'}")


if __name__ == "__main__":
    main()
