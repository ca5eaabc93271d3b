"""`iop rules diff`'s impact by region: the time to find the regions of answers whose level changes when one
threshold of a growing pack (`benchmarks/lint_packs.py`) moves, in-process, for the first N regions and for all of
them (stopped after --limit seconds).

The change: the default pack's CIWA-Ar threshold for inpatient care, 20 -> 15 (for the packs built on it), or in a
dimension matrix the first rule's rating, r5 -> r4.
Run: python benchmarks/diff_impact.py [--regions N] [--limit SECONDS] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure_one(name: str, regions: int) -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from lint_packs import PACKS

    from iop_cli.authoring.diff import impact
    from iop_cli.pack.build import load_pack

    with tempfile.TemporaryDirectory() as folder:
        old, new = PACKS[name][1](Path(folder) / "old"), PACKS[name][1](Path(folder) / "new")
        path = new / "rules.yaml" if (new / "rules.yaml").exists() else new / "pack.yaml"
        text = path.read_text(encoding="utf-8")
        changed = text.replace("ciwa_ar >= 20)", "ciwa_ar >= 15)", 1).replace("dim_0 == 'r5'", "dim_0 == 'r4'", 1)
        path.write_text(changed, encoding="utf-8")
        before, after = load_pack(old), load_pack(new)
    start = time.perf_counter()
    found = impact(before, after, regions)
    return {"seconds": time.perf_counter() - start, "regions": len(found.moved), "complete": found.complete}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="packs (default: the default pack and a few growing ones)")
    parser.add_argument("--regions", type=int, default=10, help="regions to find, as `--regions` of rules diff")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds one pack may take")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one pack, JSON out
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.regions)))
        return
    names = args.names or ["default", "thresholds-5", "copies-2", "copies-4", "matrix-10", "instruments"]
    print(f"{'pack':14s} {'regions':>8s} {'time':>8s}")
    for name in names:
        for wanted in (args.regions, 10_000):
            command = [sys.executable, __file__, "--one", name, "--regions", str(wanted)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=args.limit, check=True)
            except subprocess.TimeoutExpired:
                print(f"{name:14s} {'all':>8s} {'> ' + str(int(args.limit)) + ' s':>8s}")
                continue
            result = json.loads(done.stdout)
            shown = f"{result['regions']}" + (" (all)" if result["complete"] else "")
            print(f"{name:14s} {shown:>8s} {result['seconds']:7.2f}s")


if __name__ == "__main__":
    main()
