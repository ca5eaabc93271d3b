"""Batch scoring speed and memory: `iop score` on a generated standard-intake CSV against Polars on the same file,
every command measured in the same run, interleaved.

Targets (issue 18): `iop score` CSV within 1.15x of Polars writing an equally wide output (the input columns and
every output column, filled with typical cells); `--format jsonl` within 1.3x of Polars' `sink_ndjson` of an equally
wide output; stdin (redirected from the file, and through a pipe) within 1.05x of the file; `rules diff --on` (one
threshold moved) within 1.2x of one score; peak memory under 400 MB, and on twice the rows no more than 10% above. The design budget (2x Polars' plain scan->csv) is
printed too. Ratios are medians of each run's pair. Each command runs in its own child process; its peak memory is
that child's maximum resident set size (getrusage), its time the wall time around it.
By default the file's levels follow real admissions (`REALISTIC_MIX`) with 2% bad or blank cells; `--mix uniform`
draws every value alike, as the figures before issue 18 did (81% of rows crisis).
Run: python benchmarks/score_1m.py [--rows 1000000] [--runs 3] [--no-double] [--columns v1|v2]
       [--mix realistic|uniform] [--paths csv,jsonl,stdin,diff]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Runs a command as a child and prints its wall time and peak memory: one measurement per fresh process.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
if done.returncode:
    sys.exit(done.stderr.decode()[-2000:])
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""

# Cells read as text, as iop reads them: a file with bad cells ("maybe" in a number column) would stop Polars'
# type inference, and the realistic file has some.
BASELINE = "import polars as pl, sys; pl.scan_csv(sys.argv[1], infer_schema=False).sink_csv(sys.argv[2])"
# Polars writing an output as wide as iop score's: the input columns and every output column iop writes, filled
# with the output cells of the file's most common scored row (argv[3], JSON), as CSV or as JSON lines (argv[4]).
WIDE = """
import json, polars as pl, sys
typical = json.loads(sys.argv[3])
frame = pl.scan_csv(sys.argv[1], infer_schema=False)
frame = frame.with_columns(pl.lit(v, dtype=pl.String).alias(k) for k, v in typical.items())
frame.sink_ndjson(sys.argv[2]) if sys.argv[4] == "jsonl" else frame.sink_csv(sys.argv[2])
"""
PATHS = ("csv", "jsonl", "stdin", "diff")  # what `--paths` may name: each target of issue 18


V1 = ROOT / "tests" / "packs" / "v1"  # version 1 of the default pack: its columns are the standard intake record


def generate(path: Path, rows: int, seed: int = 7, columns_of: str = "v1") -> None:
    """A standard-intake CSV: every field of version 1 of the default pack (the columns clinics export; the
    bundled pack scores them), or with `columns_of="v2"` every field of the bundled pack, instrument items and
    all; random valid values, a few unanswered cells. With version 2's columns an answer the pack derives from
    items (an instrument's total, the suicide questions from the C-SSRS) is left blank: drawn at random beside its
    items it would disagree with them, and nearly every row would be an error."""
    import polars as pl

    from iop_cli.pack.build import load_pack

    pack = load_pack(V1 if columns_of == "v1" else None)
    rng = random.Random(seed)
    columns = {}
    for q in pack.asked:
        if q.type == "choice":
            options = list(q.choice_values)
        elif q.type == "multi":
            options = ["", *q.choice_values, ";".join(q.choice_values[:2])]
        elif q.type == "yesno":
            options = ["yes", "no"]
        elif q.type == "integer" and q.choices:  # a scored item: its scores
            options = [str(c.score) for c in q.choices]
        elif q.type == "integer":
            options = [str(v) for v in range(int(q.min), int(q.max) + 1)]
        else:
            options = [f"C-{i}" for i in range(1000)]
        if not q.required:
            options = options + [""] * max(1, len(options) // 4)
        columns[q.id] = [""] * rows if columns_of == "v2" and q.derive is not None else rng.choices(options, k=rows)
    pl.DataFrame(columns).write_csv(path)


# The level mix of real admissions (TEDS-A, issue 18): about half outpatient, the rest mostly residential and
# intensive outpatient, a few percent crisis and withdrawal.
REALISTIC_MIX = {
    "outpatient": 0.47,
    "residential": 0.17,
    "iop": 0.13,
    "inpatient": 0.07,
    "php": 0.06,
    "early_intervention": 0.04,
    "clinician_review": 0.03,
    "crisis": 0.03,
}
BAD_SHARE = 0.02  # rows with one bad or blank required cell


def generate_realistic(path: Path, rows: int, seed: int = 7) -> None:
    """A version-1 standard-intake CSV whose levels follow `REALISTIC_MIX`: a pool of varied records is placed by
    the engine behind `iop check`, and rows are drawn from it level by level (each with its own client id, age and
    count of earlier episodes); then `BAD_SHARE` of the rows get a blank or invalid required cell."""
    import polars as pl

    from iop_cli.decide.engine import checked, decide
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import AnswersError

    pack, v1 = load_pack(), load_pack(V1)
    rng = random.Random(seed)
    safe = {"suicidal_ideation": "none", "suicide_attempt_past_3_months": "no", "homicidal_ideation": "no"}
    safe |= {"medical_instability": "no", "withdrawal_complications_history": "no"}
    pool: dict[str, list[dict[str, str]]] = {level: [] for level in REALISTIC_MIX}
    for _ in range(200_000):
        if all(len(found) >= 40 for found in pool.values()):
            break
        row = {}
        for q in v1.asked:
            if q.id in safe and rng.random() < 0.9:  # most people are not in danger: a varied, mostly safe pool
                row[q.id] = safe[q.id]
            elif q.type in ("choice", "yesno"):
                row[q.id] = rng.choice(list(q.choice_values) if q.type == "choice" else ["yes", "no"])
            elif q.type == "integer":
                top = int(q.max) if q.id not in ("ciwa_ar", "cows") else 30
                row[q.id] = "" if not q.required and rng.random() < 0.3 else str(rng.randint(int(q.min), top))
            else:
                row[q.id] = ""
        try:
            level = decide(pack, checked(pack, {k: v for k, v in row.items() if v != ""})).level.id
        except AnswersError:  # a combination the pack refuses (the pool wants valid records only)
            continue
        if level in pool and len(pool[level]) < 40:
            pool[level].append(row)
    levels = [level for level in REALISTIC_MIX if pool[level]]
    picked = rng.choices(levels, weights=[REALISTIC_MIX[level] for level in levels], k=rows)
    required = [q.id for q in v1.asked if q.required]
    records = []
    for n, level in enumerate(picked):
        row = dict(rng.choice(pool[level]), client_id=f"C-{n}")
        # Age and earlier episodes drawn anew, each within the band the pack tells apart (under 18 or not; fewer
        # than 2 episodes or not), so the level and the alerts stay those of the record: real files repeat whole
        # answer rows far less than a pool of a few hundred records would.
        row["age"] = str(rng.randint(12, 17) if int(row["age"]) < 18 else rng.randint(18, 75))
        row["prior_treatment_episodes"] = str(
            rng.randint(0, 1) if int(row["prior_treatment_episodes"]) < 2 else rng.randint(2, 12)
        )
        if rng.random() < BAD_SHARE:
            row[rng.choice(required)] = rng.choice(["", "maybe"])
        records.append(row)
    pl.DataFrame(records).write_csv(path)


def measure(command: list[str]) -> dict[str, float]:
    # The previous command's output goes to disk first (Polars does not sync what it writes; iop does): otherwise
    # its write-back would fall on whichever command runs next.
    os.sync()
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr}")
    return json.loads(done.stdout)


def typical_output(source: Path, folder: Path) -> str:
    """The output cells of the most common scored row of `source` (scored on its first 20,000 rows), as JSON."""
    import polars as pl

    from iop_cli.output.contracts import score_columns
    from iop_cli.pack.build import load_pack

    head = folder / "head.csv"
    pl.read_csv(source, infer_schema=False, n_rows=20_000).write_csv(head)
    scored = folder / "head-scored.csv"
    subprocess.run([iop_command(), "score", str(head), "-o", str(scored), "--quiet"], check=True)
    columns = list(score_columns(load_pack()))
    common = pl.read_csv(scored, infer_schema=False).group_by(columns).len().sort("len", descending=True).row(0)
    return json.dumps(dict(zip(columns, common[:-1], strict=True)))


def iop_command() -> str:
    return str(Path(sys.executable).with_name("iop"))


def changed_pack(folder: Path) -> Path:
    """The default pack with one threshold moved (CIWA-Ar for inpatient care 20 -> 15): `rules diff`'s new pack."""
    import shutil

    target = folder / "changed-pack"
    shutil.copytree(ROOT / "rules" / "default", target)
    rules = target / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("ciwa_ar >= 20)", "ciwa_ar >= 15)", 1), "utf-8")
    return target


def compare(
    rows: int, runs: int, folder: Path, columns_of: str = "v1", mix: str = "realistic", paths: tuple = PATHS
) -> dict[str, dict[str, float]]:
    source = folder / f"intakes-{rows}.csv"
    if mix == "realistic" and columns_of == "v1":
        generate_realistic(source, rows)
    else:
        generate(source, rows, columns_of=columns_of)
    size_mb = source.stat().st_size / 1e6
    typical = typical_output(source, folder)
    iop = iop_command()
    score = [iop, "score", str(source), "-o", str(folder / "scored.csv"), "--quiet"]
    commands = {
        "polars scan->csv": [sys.executable, "-c", BASELINE, str(source), str(folder / "baseline.csv")],
        "polars, wide csv": [sys.executable, "-c", WIDE, str(source), str(folder / "wide.csv"), typical, "csv"],
        "iop score": score,
    }
    # stdin and the pipe run right after the file they are compared with: a run that follows one writing a larger
    # output (JSON lines) would share the disk with that output's write-back.
    if "stdin" in paths:  # stdin redirected from the file (read in place), and a pipe (streamed)
        shell = f"{iop} score - -o {folder / 'scored-stdin.csv'} --quiet"
        commands["iop score stdin"] = ["sh", "-c", f"{shell} < {source}"]
        commands["iop score pipe"] = ["sh", "-c", f"cat {source} | {shell}"]
    if "jsonl" in paths:
        wide = [sys.executable, "-c", WIDE, str(source), str(folder / "wide.jsonl"), typical, "jsonl"]
        commands["polars, wide jsonl"] = wide
        commands["iop score jsonl"] = [*score[:4], str(folder / "scored.jsonl"), "--quiet", "--format", "jsonl"]
    if "diff" in paths:
        new = changed_pack(folder)
        default = ROOT / "rules" / "default"
        commands["iop rules diff --on"] = [iop, "rules", "diff", str(default), str(new), "--on", str(source)]
        commands["iop rules diff --on"] += ["--regions", "0"]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so drift hits all alike
        for name, command in commands.items():
            samples[name].append(measure(command))
    result = {}
    print(f"{rows:,} rows ({size_mb:.0f} MB CSV), median of {runs} runs:")
    for name, values in samples.items():
        seconds = statistics.median(v["seconds"] for v in values)
        peak = max(v["peak_mb"] for v in values)
        result[name] = {"seconds": seconds, "peak_mb": peak}
        print(f"  {name:20s} {seconds:6.2f} s   peak {peak:6.0f} MB   {rows / seconds:,.0f} rows/s")

    def ratio(name: str, base: str, target: float, what: str) -> None:
        value = statistics.median(
            a["seconds"] / b["seconds"] for a, b in zip(samples[name], samples[base], strict=True)
        )
        print(f"  {what}: {value:.2f} (target <= {target:.2f}) -> {'OK' if value <= target else 'OVER'}")

    ratio("iop score", "polars, wide csv", 1.15, "iop score / polars writing an equally wide CSV")
    ratio("iop score", "polars scan->csv", 2.0, "iop score / polars scan->csv (design budget)")
    if "jsonl" in paths:
        ratio("iop score jsonl", "polars, wide jsonl", 1.3, "iop score jsonl / polars sink_ndjson, equally wide")
    if "stdin" in paths:
        ratio("iop score stdin", "iop score", 1.05, "iop score from stdin (< file) / from the file")
        ratio("iop score pipe", "iop score", 1.05, "iop score from a pipe (cat file |) / from the file")
    if "diff" in paths:
        ratio("iop rules diff --on", "iop score", 1.2, "iop rules diff --on / one iop score")
    for name in result:
        if name.startswith("iop"):
            peak = result[name]["peak_mb"]
            print(f"  {name} peak memory: {peak:.0f} MB (target < 400) -> {'OK' if peak < 400 else 'OVER'}")
    import polars as pl

    levels = pl.read_csv(folder / "scored.csv", columns=["level", "status"], infer_schema=False)
    shares = levels.group_by("level").len().sort("len", descending=True).rows()
    mix_text = ", ".join(f"{level or 'error'} {n / rows:.0%}" for level, n in shares)
    print(f"  levels in the scored file: {mix_text}")
    for path in folder.iterdir():
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-double", action="store_true", help="skip the run on twice the rows")
    parser.add_argument(
        "--columns", choices=["v1", "v2"], default="v1", help="the standard record's columns (v1) or every field (v2)"
    )
    parser.add_argument(
        "--mix",
        choices=["realistic", "uniform"],
        default="realistic",
        help="levels like real admissions, with 2%% bad or blank cells (v1 columns), or every value equally likely "
        "(the file of earlier measurements: 81%% crisis)",
    )
    parser.add_argument(
        "--paths",
        default=",".join(PATHS),
        help="which of csv, jsonl, stdin and diff to measure (csv always runs; default: all)",
    )
    args = parser.parse_args()
    paths = tuple(p.strip() for p in args.paths.split(",") if p.strip())
    if unknown := [p for p in paths if p not in PATHS]:
        parser.error(f"unknown --paths: {', '.join(unknown)} (choose from {', '.join(PATHS)})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one = compare(args.rows, args.runs, folder, args.columns, args.mix, paths)
        if not args.no_double:
            two = compare(2 * args.rows, args.runs, folder, args.columns, args.mix, paths)
            for name in one:
                if not name.startswith("iop"):
                    continue
                growth = two[name]["peak_mb"] / one[name]["peak_mb"]
                verdict = "OK" if growth <= 1.10 else "OVER"
                print(f"{name} peak memory {2 * args.rows:,} / {args.rows:,} rows: {growth:.2f} (<= 1.10) -> {verdict}")


if __name__ == "__main__":
    main()
