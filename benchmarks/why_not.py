"""What would change a placement (issue 13, item 3): time per decision against the 100 ms target.

For complete records of the default pack (each pack test's fixture, and records drawn at random from the answers
the pack's conditions tell apart, those `iop check` accepts), times `decide.changes.nearest` (every other level, changes of up to two
answers, as `iop check` and the intake report compute it), the slowest `iop check --why-not LEVEL` over the levels
(up to three answers), and, as the baseline run alongside, `decide` on the same record. Prints the median,
95th percentile and maximum of each, and the ratio of the medians. In-process: start-up is not counted.

Run: python benchmarks/why_not.py [--records 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 100


def records(pack, count: int, seed: int) -> list[dict]:
    """Complete records: every required answer given, optional ones given or not; only records `iop check`
    accepts (a derived answer given beside its items agrees with them)."""
    from iop_cli.decide.engine import disagreements
    from iop_cli.decide.missing import level_space

    space = level_space(pack)
    rng = random.Random(seed)
    found = [dict(case.given) for case in pack.tests if len(case.given) >= 15]
    while len(found) < count:
        record = {}
        for question in pack.asked:
            options = [v for v in space.domains.get(question.id, []) if v is not None]
            if not options:
                continue
            if question.required or rng.random() < 0.5:
                record[question.id] = rng.choice(options)
        if not disagreements(pack, record):  # a record `iop check` refuses gets no explanation
            found.append(record)
    return found[:count]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from iop_cli.decide.changes import nearest
    from iop_cli.decide.engine import decide
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import AnswersError

    pack = load_pack()
    timings: dict[str, list[float]] = {
        "decide (baseline)": [],
        "what would change it": [],
        "--why-not (slowest level)": [],
    }
    levels = {}
    for record in records(pack, args.records, args.seed):
        try:
            start = time.perf_counter()
            decision = decide(pack, record)
            middle = time.perf_counter()
            found = nearest(pack, record, decision.missing)
            end = time.perf_counter()
        except AnswersError:
            continue
        timings["decide (baseline)"].append((middle - start) * 1000)
        timings["what would change it"].append((end - middle) * 1000)
        slowest = 0.0
        for level in pack.levels if not decision.missing else ():
            start = time.perf_counter()
            nearest(pack, record, decision.missing, level)
            slowest = max(slowest, time.perf_counter() - start)
        timings["--why-not (slowest level)"].append(slowest * 1000)
        levels[decision.level.id] = levels.get(decision.level.id, 0) + 1
        assert all(change.level != decision.level.id for change in found)
    count = len(timings["decide (baseline)"])
    print(f"{count} complete records of {pack.name} {pack.version}; placed: {levels}")
    print(f"{'':24} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for name, values in timings.items():
        print(f"{name:24} {statistics.median(values):8.1f} {percentile(values, 0.95):8.1f} {max(values):8.1f}")
    ratio = statistics.median(timings["what would change it"]) / statistics.median(timings["decide (baseline)"])
    print(f"ratio of medians (what would change it / decide): {ratio:.1f}")
    for name in ("what would change it", "--why-not (slowest level)"):
        worst = max(timings[name])
        verdict = "OK" if worst < TARGET_MS else "OVER"
        print(f"target: {name} under {TARGET_MS} ms for every decision -> {verdict} (slowest {worst:.1f} ms)")


if __name__ == "__main__":
    main()
