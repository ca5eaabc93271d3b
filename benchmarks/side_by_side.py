"""A refactor measured side by side with the code before it: this checkout against a git revision, run interleaved
(A, B, B, A, ...) on the same machine in the same minutes, so drift in the machine's speed falls on both.

It checks the revision out into a temporary worktree and runs both as `python -P -m iop_cli` with PYTHONPATH set to
each tree; both are byte-compiled first, so neither pays for compiling (PYTHONDONTWRITEBYTECODE would otherwise make
the edited tree compile on every run). Figures: medians of wall time.
- `iop score` on 1,000,000 generated rows (benchmarks/score_1m.py's file, realistic levels by default), to
  /dev/null (no fsync, whose time varies with the disk) and to a file, as JSON lines, and from stdin;
- `iop rules diff --on` the same file, one threshold moved (score_1m.py's `changed_pack`);
- `iop --help`, `iop check` on the example answers, and `iop rules lint` on the default pack;
- the first interview question (benchmarks/first_question.py's measure), when pexpect is installed.

Run: python benchmarks/side_by_side.py [--base REV] [--runs N] [--rows N] [--mix realistic|uniform] [--only WORD,...]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def wall(command: list[str], env: dict, stdin: str | None = None) -> float:
    with open(stdin or os.devnull, "rb") as given:
        start = time.perf_counter()
        subprocess.run(command, env=env, stdin=given, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the revision to compare with (default HEAD~1)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mix", choices=["realistic", "uniform"], default="realistic", help="as in score_1m.py")
    parser.add_argument("--only", default="", help="measure only the cases whose name holds one of these words")
    args = parser.parse_args()

    from score_1m import changed_pack, generate, generate_realistic

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = folder / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True)
        try:
            trees = {args.base: base, "this checkout": ROOT}
            for tree in trees.values():
                compileall.compile_dir(str(tree / "iop_cli"), quiet=1)
            source = folder / "rows.csv"
            (generate_realistic if args.mix == "realistic" else generate)(source, args.rows)
            example = str(ROOT / "examples" / "answers" / "iop-candidate.yaml")
            rows, out = f"{args.rows:,} rows", str(folder / "out")
            changed = str(changed_pack(folder))
            cases = {
                f"score {rows} to /dev/null": ["score", str(source), "-o", os.devnull, "--quiet"],
                f"score {rows} to a file": ["score", str(source), "-o", out, "--quiet"],
                f"score {rows} jsonl to a file": ["score", str(source), "-o", out, "--quiet", "-f", "jsonl"],
                f"score {rows} from stdin to a file": ["score", "-", "-o", out, "--quiet"],
                f"rules diff --on {rows}": ["rules", "diff", str(ROOT / "rules" / "default"), changed]
                + ["--on", str(source), "--regions", "0"],
                "--help": ["--help"],
                "check": ["check", "-a", example],
                "rules lint": ["rules", "lint"],
            }
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            cases = {k: v for k, v in cases.items() if not wanted or any(w in k for w in wanted)}
            results: dict[str, dict[str, list[float]]] = {case: {name: [] for name in trees} for case in cases}
            envs = {}
            for name, tree in trees.items():
                # A database per tree: a newer records schema is refused by the older code.
                db = str(folder / f"db-{name}.sqlite3")
                env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1", "IOP_DB": db}
                env.pop("IOP_RULES", None)
                envs[name] = env
            order = list(trees)
            for run in range(args.runs):
                for name in order if run % 2 == 0 else order[::-1]:
                    for case, argv in cases.items():
                        command = [sys.executable, "-P", "-m", "iop_cli", *argv]
                        stdin = str(source) if "-" in argv[1:2] else None
                        results[case][name].append(wall(command, envs[name], stdin))
            try:
                from first_question import FIRST_PROMPT, until
            except ImportError:  # pexpect is a test extra
                until = None
            if until is not None and (not wanted or any(w in "first question" for w in wanted)):
                results["first question"] = {name: [] for name in trees}
                for run in range(args.runs):
                    for name in order if run % 2 == 0 else order[::-1]:
                        command = [sys.executable, "-P", "-m", "iop_cli", "intake"]
                        seconds = until(command, {**envs[name], "TERM": "xterm"}, FIRST_PROMPT)
                        results["first question"][name].append(seconds)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    width = max(len(case) for case in results)
    print(f"{'':{width}}  {args.base:>14}  {'this checkout':>14}  ratio  (medians of {args.runs} runs, interleaved)")
    for case, by_tree in results.items():
        before, after = (statistics.median(by_tree[name]) for name in (args.base, "this checkout"))
        print(f"{case:{width}}  {before * 1000:11.0f} ms  {after * 1000:11.0f} ms  {after / before:5.2f}")


if __name__ == "__main__":
    main()
