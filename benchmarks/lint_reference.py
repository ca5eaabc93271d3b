"""The lint against its exhaustive reference (`tests/test_lint_reference.py`) on the growing packs of
`benchmarks/lint_packs.py`: for each pack, whether the findings are identical, and how long each took. The reference
is exponential, so each pack runs in its own process, stopped after --limit seconds (the issue asks for the
comparison wherever the reference finishes within ten minutes).

Run: python benchmarks/lint_reference.py [--limit SECONDS] [NAME ...]
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


def compare_one(name: str) -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from _pytest.monkeypatch import MonkeyPatch
    from lint_packs import PACKS

    from iop_cli.authoring import lint as lint_module
    from iop_cli.decide import space as search_module
    from iop_cli.pack.build import load_pack
    from tests import test_lint_reference as ref

    with tempfile.TemporaryDirectory() as folder:
        pack = load_pack(PACKS[name][1](Path(folder) / name))
    start = time.perf_counter()
    fast = lint_module.lint(pack)
    middle = time.perf_counter()
    patch = MonkeyPatch()
    patch.setattr(lint_module, "_gap_findings", ref.reference_gap_findings)
    patch.setattr(search_module.Search, "first", ref.reference_first)
    patch.setattr(lint_module, "_decidable", ref.reference_decidable)
    patch.setattr(lint_module, "_holds_throughout", ref.reference_holds_throughout)
    reference = lint_module.lint(pack)
    patch.undo()
    end = time.perf_counter()
    same = ref.as_rows(fast) == ref.as_rows(reference)
    return {"same": same, "findings": len(fast), "lint": middle - start, "reference": end - middle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="packs to compare (default: all)")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds the reference may take on one pack")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: compare one pack and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(compare_one(args.one)))
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from lint_packs import PACKS

    print(f"{'pack':14s} {'lint':>8s} {'reference':>10s}  findings")
    for name in args.names or list(PACKS):
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--one", name], capture_output=True, text=True, timeout=args.limit
            )
        except subprocess.TimeoutExpired:
            print(f"{name:14s} {'':>8s} {'> ' + str(int(args.limit)) + ' s':>10s}  not compared (reference too slow)")
            continue
        if done.returncode != 0:
            print(f"{name:14s} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(done.stdout)
        verdict = "identical" if result["same"] else "DIFFERENT"
        print(f"{name:14s} {result['lint']:7.2f}s {result['reference']:9.1f}s  {result['findings']} {verdict}")


if __name__ == "__main__":
    main()
