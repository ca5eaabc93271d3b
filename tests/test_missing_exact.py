"""The exact missing-answer rule (CLINICAL.md version 2, routing change 4): with required answers missing, a level
stands only when every way of filling them leads to it; otherwise the record goes to review and names the levels
still possible. The oracle here fills the missing answers with every value they can take (whole ranges of small
integers, choices, yes and no) and decides each complete record; `decide` must agree with it exactly."""

from __future__ import annotations

import itertools
import random

import pytest

from iop_cli.decide.engine import checked, decide
from iop_cli.pack.answers import clean_answers
from iop_cli.problems import AnswersError

from .test_profile import every_value as profile_every_value
from .test_score_parity import UNANSWERED, cell, domain, enumerate_rows


def every_value(question) -> list:
    """Every answer, as the profile's brute force takes them; a wide whole-number range (age, earlier episodes: no
    placement rule reads them) by its ends and middle only."""
    values = profile_every_value(question)
    if question.type == "integer" and len(values) > 21:
        low, high = values[0], values[-1]
        return sorted({low, low + 1, (low + high) // 2, high - 1, high})
    return values


def levels_by_filling(pack, answers: dict, missing: tuple[str, ...]) -> set[str]:
    found = set()
    domains = [every_value(pack.questions[name]) for name in missing]
    for filling in itertools.product(*domains):
        full = {**answers, **dict(zip(missing, filling, strict=True))}
        try:
            decision = decide(pack, checked(pack, {k: cell(v) for k, v in full.items()}))
        except AnswersError:
            continue  # a filling the record's other answers contradict is not a way it could be answered
        assert not decision.missing, (full, decision.missing)
        found.add(decision.level.id)
    return found


def sample_records(pack, count: int, seed: int) -> list[dict]:
    """Whole records (parity rows with every required answer filled in), each with one to three required answers
    taken away."""
    rng = random.Random(seed)
    required = [q.id for q in pack.asked if q.required]
    options = domain(pack)
    picked = []
    for row in enumerate_rows(pack, total=3000)[::7]:
        answers = {k: v for k, v in row.items() if v != UNANSWERED}
        for name in required:
            answers.setdefault(name, rng.choice([o for o in options[name] if o != UNANSWERED]))
        try:
            checked(pack, answers)
        except AnswersError:
            continue
        drop = rng.sample(required, rng.randint(1, 3))
        picked.append({k: v for k, v in answers.items() if k not in drop})
    rng.shuffle(picked)
    return picked[:count]


def test_the_level_stands_exactly_when_every_filling_leads_to_it(pack):
    stood = reviewed = 0
    for answers in sample_records(pack, 150, seed=4):
        decision = decide(pack, checked(pack, answers))
        levels = levels_by_filling(pack, answers, decision.missing)
        assert set(decision.possible) == levels, (answers, decision.possible, levels)
        if len(levels) == 1:
            stood += 1
            assert decision.level.id == next(iter(levels))
            assert decision.status in ("ok", "provisional") or decision.level.id == pack.otherwise.level
        else:
            reviewed += 1
            assert decision.level.id == pack.otherwise.level and decision.status == "review"
            assert decision.basis == "missing_answers"
            assert set(decision.deciding) <= set(decision.missing) and decision.deciding
        ranks = [pack.levels[level].rank for level in decision.possible]
        assert ranks == sorted(ranks, reverse=True)  # most intensive first
    assert stood >= 20 and reviewed >= 20  # both outcomes are exercised


def base(pack) -> dict:
    return dict(next(c for c in pack.tests if c.name.startswith("mild alcohol")).given)


def decide_without(pack, *names, **changes):
    answers = {**base(pack), **changes}
    return decide(pack, clean_answers(pack, {k: v for k, v in answers.items() if k not in names}))


def test_an_answer_no_rule_reads_leaves_the_level_standing_with_it_listed(pack):
    decision = decide_without(pack, "readiness", "obligations")
    assert decision.level.id == "iop" and decision.status == "ok" and decision.rule == "iop_mild_moderate"
    assert set(decision.missing) == {"readiness", "obligations"}
    assert decision.possible == ("iop",) and decision.deciding == ()


def test_inpatient_whatever_the_missing_answer_is_no_longer_sent_to_review(pack):
    decision = decide_without(pack, "psychiatric_symptoms", medical_instability=True)
    assert decision.level.id == "inpatient" and decision.rule == "inpatient_medical" and decision.status == "ok"
    assert decision.missing == ("psychiatric_symptoms",)


def test_a_missing_answer_that_could_mean_crisis_goes_to_review_naming_the_levels(pack):
    decision = decide_without(pack, "suicidal_ideation", medical_instability=True)
    assert decision.level.id == "clinician_review" and decision.status == "review"
    assert decision.possible == ("crisis", "inpatient")
    assert decision.deciding == ("suicidal_ideation",)
    assert decision.would_be == "inpatient_medical"
    assert "could be crisis or inpatient (at least inpatient; suicidal_ideation would decide)" in decision.reason


def test_a_filling_that_reaches_no_rule_keeps_review_among_the_possible_levels(pack):
    decision = decide_without(pack, "home_supportive")
    assert decision.possible == ("iop", "clinician_review")
    assert "at least" not in decision.reason  # some filling places no one: no least intensive level to name


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_iop_score_writes_the_missing_answers_and_the_range_of_levels(pack, tmp_path, fmt):
    import csv
    import io
    import json

    from iop_cli.batch import score as batch

    rows = [base(pack), {**base(pack), "readiness": ""}, {**base(pack), "suicidal_ideation": ""}]
    fields = [q.id for q in pack.asked]
    source = tmp_path / "rows.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows([{f: cell(row.get(f, "")) for f in fields} for row in rows])
    out = io.BytesIO()
    batch.score_file(str(source), out, pack, None, fmt=fmt)
    text = out.getvalue().decode("utf-8")
    if fmt == "csv":
        got = list(csv.DictReader(io.StringIO(text)))
        empty = ""
    else:
        got = [json.loads(line) for line in text.splitlines()]
        empty = None
    columns = ("level", "status", "missing", "level_min", "level_max", "decided_by")
    assert [tuple(r[c] for c in columns) for r in got] == [
        ("iop", "ok", empty, empty, empty, empty),
        ("iop", "ok", "readiness", "iop", "iop", empty),
        ("clinician_review", "review", "suicidal_ideation", "iop", "crisis", "suicidal_ideation"),
    ]


def test_levels_an_optional_answer_not_given_leaves_open_are_named_apart(pack):
    decision = decide_without(pack, "suicidal_ideation", "ciwa_ar")
    assert decision.possible == ("crisis", "iop")  # the range is over the required answers only
    assert "Not ruled out either: inpatient and php (ciwa_ar not given)." in decision.reason


LEVELS = [
    {"id": "crisis", "name": "Crisis", "rank": 9, "urgent": True},
    {"id": "php", "name": "PHP", "rank": 5},
    {"id": "outpatient", "name": "Outpatient", "rank": 2},
    {"id": "clinician_review", "name": "Clinician review", "rank": 0},
]
SUBSTANCE = {"id": "s", "type": "choice", "label": "S", "choices": ["op", "al"]}
SCORE = {
    "id": "cows",
    "type": "integer",
    "label": "COWS",
    "min": 0,
    "max": 48,
    "required": False,
    "ask_if": "s == 'op'",
}
YES_NO = [{"id": name, "type": "yesno", "label": name.upper()} for name in ("b", "c")]
DECIMALS = [{"id": name, "type": "number", "label": name.upper(), "min": 0, "max": 10} for name in ("x", "y")]


def small_pack(folder, questions, rules):
    import yaml

    from iop_cli.pack.build import load_pack

    folder.mkdir()
    pack = {
        "pack": {"name": folder.name, "version": "1.0.0", "description": "t"},
        "questions": questions,
        "levels": LEVELS,
        "rules": [{"id": f"r{i}", "because": "b", "when": w, "level": lv} for i, (w, lv) in enumerate(rules)],
        "otherwise": {"level": "clinician_review", "because": "None fits."},
    }
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False))
    return load_pack(folder)


@pytest.mark.parametrize(
    "questions, rules, answers, levels",
    [
        # A COWS score given while the substance is missing may not apply: the rule reading it is open.
        ([SUBSTANCE, SCORE, YES_NO[0]], [("cows < 5", "outpatient"), ("b", "php")], {"cows": 3, "b": True}, 2),
        (
            [SUBSTANCE, SCORE, YES_NO[0]],
            [("cows is missing and b", "php"), ("b", "outpatient")],
            {"cows": 3, "b": True},
            2,
        ),
        # A missing answer reached only through an ask_if is searched in batch too.
        (
            [SUBSTANCE, SCORE, *YES_NO],
            [("(cows is missing or c) and (cows is missing or not c)", "crisis"), ("b", "outpatient")],
            {"cows": 30, "b": True},
            2,
        ),
        # A missing number tested together with another decimal cannot be searched exactly: a clinician decides.
        (
            [*DECIMALS, YES_NO[0]],
            [("x + y >= 7.5 and x + y <= 7.6", "crisis"), ("b", "outpatient")],
            {"y": 0.3, "b": True},
            2,
        ),
    ],
)
def test_custom_packs_never_let_a_missing_answer_through(tmp_path, questions, rules, answers, levels):
    import csv
    import io

    from iop_cli.batch import score as batch

    pack = small_pack(tmp_path / "p", questions, rules)
    decision = decide(pack, checked(pack, answers))
    assert decision.level.id == "clinician_review" and len(decision.possible) == levels
    source = tmp_path / "rows.csv"
    fields = [q.id for q in pack.asked]
    source.write_text(",".join(fields) + "\n" + ",".join(cell(answers.get(f, "")) for f in fields) + "\n")
    out = io.BytesIO()
    batch.score_file(str(source), out, pack, None)
    (got,) = csv.DictReader(io.StringIO(out.getvalue().decode()))
    assert (got["level"], got["reason"], got["decided_by"]) == (
        decision.level.id,
        decision.reason,
        ";".join(decision.deciding),
    )
