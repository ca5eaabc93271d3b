"""Parity: batch scoring (the pack compiled to Polars) and the engine behind `iop check` agree on every row.

The rows enumerate the default pack's domain: every choice, every yes/no, each integer at and around every constant
the pack's conditions use (and the ends of its range), and unanswered values; first one field at a time around
each fixture, then random combinations, about 13,000 rows in all.
"""

from __future__ import annotations

import csv
import io
import random

import pytest
import yaml

from iop_cli.batch import score as batch
from iop_cli.decide.engine import checked, decide
from iop_cli.decide.space import Space
from iop_cli.pack.answers import clean_answers
from iop_cli.pack.build import load_pack
from iop_cli.problems import AnswersError

from .conftest import SCORED_COLUMNS

UNANSWERED = ""


def domain(pack) -> dict[str, list[str]]:
    representatives = Space(pack).domains  # the lint's: each integer at and around every cut, and its range's ends
    values: dict[str, list[str]] = {}
    for q in pack.asked:
        if q.type == "choice":
            options = list(q.choice_values)
        elif q.type == "yesno":
            options = ["yes", "no"]
        elif q.type == "multi":
            options = [";".join(v) for v in representatives[q.id]]
        elif q.type == "integer":
            options = [str(v) for v in representatives[q.id] if v is not None]
        else:
            options = ["A-1"]
        values[q.id] = options + [UNANSWERED]
    return values


def cell(value) -> str:
    """An answer as a CSV cell: yes/no, a;b for a selection, else the value as written."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ";".join(value)
    return str(value)


def enumerate_rows(pack, total: int = 13_000) -> list[dict[str, str]]:
    values = domain(pack)
    fixtures = []
    for case in pack.tests:
        if len(case.given) < 15:
            continue  # an instrument module's own tests give only its items: no base for a whole record
        start = {k: cell(v) for k, v in case.given.items()}
        if start not in fixtures:
            fixtures.append(start)
    rows = []
    for base in fixtures:
        for field, options in values.items():
            for option in options:
                rows.append({**base, field: option})
    rng = random.Random(20261128)
    while len(rows) < total:
        rows.append({field: rng.choice(options) for field, options in values.items()})
    return rows


def score_rows(
    pack, rows: list[dict[str, str]], tmp_path, quoting=csv.QUOTE_MINIMAL, fields: list[str] | None = None
) -> list[dict[str, str]]:
    """The rows scored by `iop score` from a CSV with a column per field of `fields` (default: every asked one)."""
    fields = fields or [q.id for q in pack.asked]
    source = tmp_path / "rows.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, quoting=quoting)
        writer.writeheader()
        writer.writerows([{f: row.get(f, "") for f in fields} for row in rows])
    out = io.BytesIO()
    summary = batch.score_file(str(source), out, pack, None)
    assert summary.rows == len(rows)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))


@pytest.fixture(scope="module")
def parity(pack, tmp_path_factory):
    rows = enumerate_rows(pack)
    return rows, score_rows(pack, rows, tmp_path_factory.mktemp("parity"))


def test_enough_rows_and_every_value_is_used(pack, parity):
    rows, scored = parity
    assert len(rows) >= 10_000 and len(scored) == len(rows)
    for field, options in domain(pack).items():
        seen = {row.get(field, "") for row in rows}
        assert set(options) <= seen, field
    # Thresholds are among the integers tried, e.g. CIWA-Ar 9/10/11 and 19/20/21.
    assert {"9", "10", "11", "19", "20", "21"} <= set(domain(pack)["ciwa_ar"])


def test_batch_and_engine_agree_on_every_row(pack, parity):
    rows, scored = parity
    mismatches = disagreeing(pack, rows, scored)
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[:3]}"


def disagreeing(pack, rows, scored) -> list:
    """The rows where batch scoring and the engine give different outcome columns."""
    mismatches: list = []
    for number, (row, got) in enumerate(zip(rows, scored, strict=True), start=1):
        answers = {k: v for k, v in row.items() if v != UNANSWERED}
        try:
            decision = decide(pack, checked(pack, answers))
        except AnswersError as exc:  # a total and its items that disagree: an error in both
            if got["status"] != "error" or got["error"].split(":")[0] != exc.problems[0].where:
                mismatches.append((number, row, "error", got["status"], got["error"]))
            continue
        want = (
            decision.level.id,
            decision.rule or "",
            ";".join(a.id for a in decision.alerts),
            decision.status,
            ";".join(decision.ignored),
            ";".join(decision.missing),
            decision.possible[-1] if decision.missing else "",
            decision.possible[0] if decision.missing else "",
            ";".join(decision.deciding),
            decision.reason,
            *("" if d.rating is None else str(d.rating) for d in decision.profile),
        )
        have = (
            got["level"],
            got["rule"],
            got["alerts"],
            got["status"],
            got["ignored"],
            got["missing"],
            got["level_min"],
            got["level_max"],
            got["decided_by"],
            got["reason"],
        )
        have += tuple(got[d.id] for d in pack.profile)
        if want != have:
            mismatches.append((number, row, want, have, got["status"], got["error"]))
    return mismatches


def partly_answered_rows(pack, total: int = 3_000) -> list[dict[str, str]]:
    """Whole records whose instruments are partly answered (some items, no total), some of them with a required
    answer missing too (the substance, a suicide question), so that the range the items fix meets the search."""
    values = domain(pack)
    bases = [{k: cell(v) for k, v in case.given.items()} for case in pack.tests if len(case.given) >= 15 and case.given]
    rng = random.Random(20261207)
    rows = []
    while len(rows) < total:
        row = dict(rng.choice(bases))
        for name, items in pack.sums.items():
            row[name] = UNANSWERED
            if rng.random() < 0.7:
                for item, low, high in items:
                    row[item] = str(rng.choice([low, high, rng.randint(low, high)])) if rng.random() < 0.5 else ""
        for name in rng.sample(["primary_substance", "other_substances", "suicidal_ideation", "housing"], 2):
            if rng.random() < 0.3:
                row[name] = rng.choice(values[name])
        rows.append(row)
    return rows


def test_partly_answered_instruments_agree(pack, tmp_path):
    """The range a partly answered instrument's items fix decides rules alike in both (CLINICAL.md, version 2)."""
    rows = partly_answered_rows(pack)
    scored = score_rows(pack, rows, tmp_path)
    mismatches = disagreeing(pack, rows, scored)
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[:3]}"
    # The range decided: severe withdrawal and the php band from items alone, and records searched with one.
    by_range = {
        (got["rule"], bool(got["decided_by"]))
        for row, got in zip(rows, scored, strict=True)
        if got["status"] == "provisional" and row["ciwa_ar"] == row["cows"] == UNANSWERED
    }
    assert {("inpatient_severe_withdrawal", False), ("php_moderate_symptoms", False)} <= by_range
    assert any(got["decided_by"] for got in scored)


def test_status_and_reason_follow_the_engine(pack, parity):
    rows, scored = parity
    pairs = list(zip(rows, scored, strict=True))
    # The first 3,000 rows, and every row whose missing answers the search settled (its reason names the levels).
    for row, got in pairs[:3000] + [(r, g) for r, g in pairs[3000:] if g["decided_by"]]:
        answers = {k: v for k, v in row.items() if v != UNANSWERED}
        if got["status"] == "error":
            continue
        decision = decide(pack, checked(pack, answers))
        assert got["reason"] == decision.reason
        assert got["status"] == decision.status


def test_every_level_and_alert_is_reached(pack, parity):
    _, scored = parity
    assert {row["level"] for row in scored if row["status"] != "error"} == set(pack.levels)
    alerts = {a for row in scored for a in row["alerts"].split(";") if a}
    assert alerts == {a.id for a in pack.alerts}


def test_bad_values_are_errors_in_both(pack, tmp_path):
    """Values the engine refuses are row errors in batch, naming the column, and the other rows still score."""
    whole = next(case for case in pack.tests if len(case.given) >= 15)  # a whole record, not a module's test
    base = {k: cell(v) for k, v in whole.given.items()}
    bad = [
        ("age", "11"),
        ("age", "34.5"),
        ("age", "abc"),
        ("dsm5_criteria_count", "12"),
        ("primary_substance", "kava"),
        ("pregnant", "maybe"),
        ("ciwa_ar", "-1"),
        ("client_id", "x" * 201),
    ]
    rows = [base] + [{**base, field: value} for field, value in bad] + [base]
    scored = score_rows(pack, rows, tmp_path)
    assert scored[0]["status"] == scored[-1]["status"] == "ok"
    for (field, value), got in zip(bad, scored[1:-1], strict=True):
        with pytest.raises(AnswersError):
            clean_answers(pack, {field: value})
        assert got["status"] == "error" and got["level"] == ""
        assert got["error"].startswith(f"{field}: "), got["error"]


def _messy(value: str) -> list[str]:
    """Ways a real export writes the same answer, and a few it gets wrong."""
    return [value, f" {value} ", value.upper(), value.title(), f"{value}.0" if value.isdigit() else value]


def test_messy_cells_are_accepted_and_refused_like_the_engine(pack, tmp_path):
    """Case, spaces, "5.0", y/n/1/0 and junk: batch scoring accepts exactly what `iop check` accepts, and places the
    accepted rows the same way."""
    rng = random.Random(7)
    values = domain(pack)
    junk = ["abc", "-", "12x", "yes!", "1.5", "none of these"]
    rows = []
    for _ in range(3000):
        row = {}
        for field, options in values.items():
            pick = rng.choice(options)
            if pick and rng.random() < 0.3:
                pick = rng.choice(_messy(pick))
            if pack.questions[field].type == "yesno" and rng.random() < 0.2:
                pick = rng.choice(["y", "n", "Y", "N", "1", "0", "true", "FALSE"])
            if rng.random() < 0.02:
                pick = rng.choice(junk)
            row[field] = pick
        rows.append(row)
    scored = score_rows(pack, rows, tmp_path)
    errors = 0
    for row, got in zip(rows, scored, strict=True):
        answers = {k: v for k, v in row.items() if v.strip()}
        try:
            clean = checked(pack, answers)
        except AnswersError:
            errors += 1
            assert got["status"] == "error", (row, got)
            continue
        decision = decide(pack, clean)
        assert got["status"] != "error", (row, got["error"])
        assert (got["level"], got["rule"], got["alerts"]) == (
            decision.level.id,
            decision.rule or "",
            ";".join(a.id for a in decision.alerts),
        ), row
    assert 0 < errors < len(rows)  # both kinds of row were exercised


def test_quoted_empty_cells_are_unanswered_like_empty_ones(pack, parity, tmp_path):
    """An export that quotes every cell writes unanswered as "" rather than nothing; the result is the same."""
    rows, scored = parity
    quoted = score_rows(pack, rows[:4000], tmp_path, quoting=csv.QUOTE_ALL)
    for plain, everything_quoted in zip(scored[:4000], quoted, strict=True):
        assert {k: plain[k] for k in ("level", "rule", "alerts", "status")} == {
            k: everything_quoted[k] for k in ("level", "rule", "alerts", "status")
        }


def test_alerts_that_read_the_level_in_other_ways_agree_too(pack_copy, tmp_path):
    """Level comparisons with ids become tests of the outcome code; any other use of `level` reads a level column.
    Both ways give the engine's alerts."""
    from iop_cli.pack.build import load_pack

    rules = pack_copy / "rules.yaml"
    text = rules.read_text()
    old = "when: level == 'iop' and not can_attend_iop_schedule"
    assert old in text
    rules.write_text(
        text.replace(old, "when: level is not missing and level in ['iop'] and not can_attend_iop_schedule")
    )
    other = load_pack(pack_copy)
    rows = enumerate_rows(other, total=4000)
    scored = score_rows(other, rows, tmp_path)
    reached = set()
    for row, got in zip(rows, scored, strict=True):
        try:
            decision = decide(other, checked(other, {k: v for k, v in row.items() if v != UNANSWERED}))
        except AnswersError:
            continue
        assert got["alerts"] == ";".join(a.id for a in decision.alerts), row
        reached.update(got["alerts"].split(";"))
    assert {"iop_schedule_barrier", "residential_obligations"} <= reached


def test_score_frame_gives_what_iop_score_gives(pack, parity):
    """`decide.frame.score_frame` (typed answers in, the outcome and profile columns out) is the decision other engines reuse:
    on every row it gives what `iop score` wrote, which the tests above hold to the engine."""
    import polars as pl

    from iop_cli.decide.frame import VALUE_TYPES, score_frame

    rows, scored = parity
    typed = [clean_answers(pack, {k: v for k, v in row.items() if v != UNANSWERED}) for row in rows]
    answers = pl.DataFrame(
        {q.id: [t.get(q.id) for t in typed] for q in pack.asked},
        schema={q.id: VALUE_TYPES[q.type] for q in pack.asked},
    )
    got = score_frame(pack, answers)
    assert got.columns == SCORED_COLUMNS
    for name in ("level", "rule", "reason", "alerts", "status", "ignored"):
        assert got[name].fill_null("").to_list() == [row[name] for row in scored], name
    for dimension in pack.profile:
        ratings = got[dimension.id].cast(pl.String).fill_null("").to_list()
        assert ratings == [row[dimension.id] for row in scored], dimension.id
    assert sum(bool(row["ignored"]) for row in scored) > 1000  # answers to questions that do not apply are listed
    assert [e is not None for e in got["error"].to_list()] == [row["status"] == "error" for row in scored]
    # An absent column is unanswered, as an empty cell is.
    partial = score_frame(pack, answers.drop("ciwa_ar").head(50))
    blank = score_frame(pack, answers.head(50).with_columns(pl.lit(None, dtype=pl.Int64).alias("ciwa_ar")))
    assert partial.equals(blank)


def test_ignored_answers_beyond_one_mask_are_all_listed(tmp_path):
    """More questions that may be ignored than an integer mask has bits: every ignored answer is still listed, in
    `iop score` and in `score_frame`, as the engine lists it."""
    import polars as pl

    from iop_cli.decide.frame import MASK_BITS, score_frame

    n = MASK_BITS + 8
    questions = [{"id": "gate", "type": "yesno", "label": "Gate"}] + [
        {"id": f"q{i}", "type": "yesno", "label": f"Q{i}", "required": False, "ask_if": "gate"} for i in range(n)
    ]
    pack_dir = tmp_path / "wide"
    pack_dir.mkdir()
    (pack_dir / "pack.yaml").write_text(
        yaml.safe_dump(
            {
                "pack": {"name": "wide", "version": "1"},
                "questions": questions,
                "levels": [{"id": "review", "name": "Review"}],
                "otherwise": {"level": "review", "because": "Always."},
            }
        )
    )
    wide = load_pack(pack_dir)
    given = {"gate": False, "q0": True, f"q{n - 1}": False}
    want = ";".join(decide(wide, given).ignored)
    assert want == f"q0;q{n - 1}"
    source = tmp_path / "w.csv"
    source.write_text(f"gate,q0,q{n - 1}\nno,yes,no\nyes,yes,no\n")
    out = io.BytesIO()
    batch.score_file(str(source), out, wide, None)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["ignored"] for r in rows] == [want, ""]
    frame = pl.DataFrame({"gate": [False, True], "q0": [True, True], f"q{n - 1}": [False, False]})
    assert score_frame(wide, frame)["ignored"].to_list() == [want, None]


def test_a_file_without_some_columns_agrees_too(pack, parity, tmp_path):
    """Columns a file does not have are blank in every row, and batch scoring leaves out what only they could
    change (a derivation from absent items, answers never ignored, ranges of absent instruments): the engine,
    given the same answers, agrees. Here: the version-1 columns, the CIWA-Ar items, and three of the C-SSRS items."""
    rows, _ = parity
    v1 = load_pack("tests/packs/v1")
    kept = [q.id for q in v1.asked if q.id in pack.questions]
    kept += [item for item, _, _ in pack.sums["ciwa_ar"]] + ["cssrs_wish_dead", "cssrs_thoughts", "cssrs_behavior"]
    trimmed = [{f: row.get(f, "") for f in kept} for row in rows[-6000:]]  # the random rows
    scored = score_rows(pack, trimmed, tmp_path, fields=kept)
    mismatches = disagreeing(pack, trimmed, scored)
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[:3]}"
    assert any(got["status"] == "provisional" for got in scored)
