"""The README's TEDS-A example end to end: the real export in ../shared scored through examples/teds-a.map.yaml."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import ROOT, SCORED_COLUMNS, SHARED, iop_in_process

SAMPLE = SHARED / "data" / "teds-a-2017" / "sample.csv"
MAP = ROOT / "examples" / "teds-a.map.yaml"

pytestmark = pytest.mark.skipif(
    not SAMPLE.exists(), reason=f"the TEDS-A sample is not beside the checkout ({SAMPLE}); CI has it"
)


@pytest.fixture(scope="module")
def teds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teds")
    out, summary = folder / "scored.csv", folder / "summary.json"
    result = iop_in_process("score", str(SAMPLE), "--map", str(MAP), "-o", str(out), "--summary-json", str(summary))
    assert result.returncode == 0, result.stderr
    with open(SAMPLE, newline="", encoding="utf-8") as handle:
        source = list(csv.reader(handle))
    with open(out, newline="", encoding="utf-8") as handle:
        scored = list(csv.reader(handle))
    return source, scored, json.loads(summary.read_text()), result.stderr


def test_every_row_is_accounted_for_in_order(teds):
    source, scored, summary, _ = teds
    assert len(scored) == len(source) == 426  # the header and 425 data rows
    assert summary["rows"] == 425
    # The header is kept exactly, its empty name and repeated "index" included, then the six output columns.
    assert scored[0] == [*source[0], *SCORED_COLUMNS]
    width = len(source[0])
    neutral = [0]
    for given, got in zip(source[1:], scored[1:], strict=True):
        # Input cells unchanged and in order, but a cell a spreadsheet would run (here negative numbers such as
        # census migration counts) gets a leading apostrophe.
        expected = ["'" + cell if cell[:1] in ("=", "+", "-", "@") else cell for cell in given]
        neutral[0] += sum(a != b for a, b in zip(expected, given, strict=True))
        assert got[:width] == expected
        assert got[width + 4] in ("ok", "review", "error")
    assert neutral[0] > 0  # the sample does hold such cells


def test_summary_says_how_many_were_placed_and_why_the_rest_went_to_review(teds):
    _, scored, summary, stderr = teds
    assert summary["status"] == {"review": 416, "error": 9}
    assert summary["levels"] == {"clinician_review": 416}
    reasons = {item["reason"]: item["rows"] for item in summary["top_review_reasons"]}
    assert reasons["missing answer: suicidal_ideation"] == 416
    assert reasons["missing answer: dsm5_criteria_count"] == 416
    assert summary["top_errors"] == [{"reason": "no intake answers in this row", "rows": 9}]
    ranges = {(r["level_min"], r["level_max"]): r["rows"] for r in summary["review_ranges"]}
    assert sum(ranges.values()) == 416 and all(high == "crisis" for _, high in ranges)
    # Homeless (LIVARAG 1) with a dependence (DSMCRIT: 4 criteria or more): residential at least, whatever the rest.
    assert ranges[("residential", "crisis")] == 26
    assert "Rows in review by the levels still possible" in stderr
    assert "Why rows went to review" in stderr and "missing answer: dsm5_criteria_count" in stderr


def test_mapped_values_reach_the_engine(teds):
    _, scored, _, _ = teds
    header = scored[0]
    reason = header.index("reason")
    # PSYPROB never gives a severity: psychiatric_symptoms is missing in every row, "no disorder" (2) included.
    psy = header.index("PSYPROB")
    no_disorder = [row for row in scored[1:] if row[psy] == "2.0"]
    assert no_disorder and all("psychiatric_symptoms" in row[reason] for row in no_disorder)
    # Dependent living (LIVARAG 2) is not a stable home; homelessness (1) needs no home questions.
    housing = header.index("LIVARAG")
    missing = header.index("missing")
    status = header.index("status")
    homeless = [row for row in scored[1:] if row[housing] == "1.0"]
    assert homeless and all("household_substance_use" not in row[missing] for row in homeless)
    others = [row for row in scored[1:] if row[housing] in ("2.0", "3.0")]
    assert others and all("household_substance_use" in row[missing] for row in others)
    # SUB2 and SUB3 fill other_substances: alcohol there (2) asks for a CIWA-Ar even when the primary is another drug.
    alerts, sub1, sub2, sub3 = (header.index(c) for c in ("alerts", "SUB1", "SUB2", "SUB3"))
    alcohol_besides = [row for row in scored[1:] if row[sub1] != "2.0" and "2.0" in (row[sub2], row[sub3])]
    assert alcohol_besides and all("withdrawal_not_assessed_alcohol" in row[alerts] for row in alcohol_besides)
    calming = {"2.0", "13.0", "14.0", "15.0", "16.0"}  # alcohol, benzodiazepines and other sedatives
    neither = [row for row in scored[1:] if row[status] != "error" and not calming & {row[sub1], row[sub2], row[sub3]}]
    assert neither and not any("withdrawal_not_assessed_alcohol" in row[alerts] for row in neither)


def test_every_data_row_gets_a_range_of_levels(teds):
    _, scored, _, _ = teds
    header = scored[0]
    low, high, status = header.index("level_min"), header.index("level_max"), header.index("status")
    rows = [row for row in scored[1:] if row[status] == "review"]
    assert len(rows) == 416 and all(row[low] and row[high] == "crisis" for row in rows)


# The level of care nearest each TEDS-A service setting (SERVICES is the outcome, never an input).
SETTINGS = {
    "1.0": ("detox, 24-hour, hospital inpatient", "inpatient"),
    "2.0": ("detox, 24-hour, free-standing residential", "inpatient"),
    "3.0": ("rehab/residential, hospital", "residential"),
    "4.0": ("rehab/residential, 30 days or fewer", "residential"),
    "5.0": ("rehab/residential, more than 30 days", "residential"),
    "6.0": ("ambulatory, intensive outpatient", "iop"),
    "7.0": ("ambulatory, non-intensive outpatient", "outpatient"),
    "8.0": ("ambulatory, detoxification", "outpatient"),
}


def test_actual_settings_against_the_reachable_range(teds, capsys):
    """Per SERVICES code, how many admissions fall inside the range of levels the record leaves possible (the
    table is printed: `pytest -s tests/test_teds.py`)."""
    from iop_cli.pack.build import load_pack

    ranks = {level.id: level.rank for level in load_pack().levels.values()}
    _, scored, _, _ = teds
    header = scored[0]
    services, low, high, status = (header.index(c) for c in ("SERVICES", "level_min", "level_max", "status"))
    table: dict[str, list[int]] = {}
    for row in scored[1:]:
        if row[status] == "error":
            continue
        _, level = SETTINGS[row[services]]
        inside = ranks[row[low]] <= ranks[level] <= ranks[row[high]]
        counts = table.setdefault(row[services], [0, 0])
        counts[0 if inside else 1] += 1
    with capsys.disabled():
        print("\nSERVICES  setting                                      level        inside  outside")
        for code in sorted(table, key=float):
            name, level = SETTINGS[code]
            print(f"{code[:-2]:>8}  {name:44} {level:12} {table[code][0]:6} {table[code][1]:8}")
    assert sum(sum(c) for c in table.values()) == 416
    assert all(code in SETTINGS for code in table)


def test_the_reachable_range_is_exact_by_brute_force_on_220_rows(teds):
    """The range of each row (the settler's search, value sets included) against every filling of the missing
    answers that the level rules read, each decided as a complete record: a value set's members, every choice, yes
    and no, every whole number of a range; required answers no level rule reads take one value. Rows with the same
    answers to what the level rules read share one brute force; the first rows of the file, 220 at least."""

    import polars as pl

    from iop_cli.batch.cells import Converter
    from iop_cli.batch.columns import plan_sources
    from iop_cli.batch.mapping import OneOf, load_mapping
    from iop_cli.decide.frame import VALUE_TYPES, score_frame
    from iop_cli.decide.space import questions_read
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    mapping = load_mapping(str(MAP), pack)
    source, scored, _, _ = teds
    header = source[0]
    sources = plan_sources(pack, header, mapping, SAMPLE.name)
    converter = Converter(pack, sources, mapping)
    read = {q.id for q in questions_read(pack, {n for rule in pack.rules for n in rule.when.names})}

    def every(question) -> list:
        if question.type == "yesno":
            return [True, False]
        if question.type == "choice":
            return list(question.choice_values)
        return list(range(int(question.min), int(question.max) + 1))

    cases: dict[tuple, tuple[dict, dict, list[int]]] = {}
    for index, row in enumerate(source[1:]):
        given, sets = {}, {}
        for question in pack.asked:
            where = sources[question.id]
            if where.kind == "column":
                cell = row[where.index]
            elif where.kind == "joined":
                cell = ";".join(row[i].strip() for i in where.indices if row[i].strip())
            else:
                continue
            value, problem = converter.answer(question, cell)
            assert problem is None
            if isinstance(value, OneOf):
                sets[question.id] = list(value)
            elif value is not None and question.id in read:
                given[question.id] = value
        if given:
            key = (tuple(sorted(given.items())), tuple(sorted((k, tuple(v)) for k, v in sets.items())))
            cases.setdefault(key, (given, sets, []))[2].append(index)

    ranks = {level.id: level.rank for level in pack.levels.values()}
    chosen, covered = [], 0
    for case in cases.values():
        if covered >= 220:
            break
        chosen.append(case)
        covered += len(case[2])
    checked = 0
    for start in range(0, len(chosen), 20):  # 20 cases at a time: a few hundred thousand fillings
        chunk = chosen[start : start + 20]
        frames = []
        for number, (given, sets, _) in enumerate(chunk):
            types = {name: VALUE_TYPES[pack.questions[name].type] for name in given}
            frame = pl.DataFrame(
                {"__case": [number], **{k: [v] for k, v in given.items()}}, schema={"__case": pl.Int64, **types}
            )
            for question in pack.asked:
                if question.required and question.id not in given:
                    values = sets.get(question.id) or every(question)
                    if question.id not in read:
                        values = values[:1]  # no level rule reads it: one value stands for all
                    frame = frame.join(
                        pl.DataFrame({question.id: values}, schema={question.id: VALUE_TYPES[question.type]}),
                        how="cross",
                    )
            frames.append(frame)
        fillings = pl.concat(frames, how="diagonal")
        levels = score_frame(pack, fillings.drop("__case")).select("level").with_columns(fillings["__case"])
        found = dict(levels.group_by("__case").agg(pl.col("level").unique()).rows())
        for number, (_, _, rows) in enumerate(chunk):
            reached = sorted(found[number], key=lambda level: ranks[level])
            for index in rows:
                out = dict(zip(scored[0], scored[index + 1], strict=True))
                if len(reached) == 1:
                    assert out["status"] != "review" and out["level"] == reached[0], (index, out, reached)
                else:
                    assert out["status"] == "review", (index, out, reached)
                    assert (out["level_min"], out["level_max"]) == (reached[0], reached[-1]), (index, out, reached)
                checked += 1
    assert checked >= 200
