"""The six-dimension profile: exact over missing answers, held to brute force; the same in `iop check`, `iop score`
and the JSON; and the pack format's checks.

The oracle fills every missing answer a dimension depends on with every value it can take (every whole number of a
range, every selection of a multi-select, both answers of each C-SSRS item), drops the fillings `iop check` would
refuse (a derived answer that disagrees with its items), and rates each complete filling straight from the pack's
table (the highest rating whose condition holds). A dimension is rated when all the fillings agree."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from iop_cli.decide.engine import checked, decide
from iop_cli.decide.profile import dimension_fields
from iop_cli.decide.values import applicable
from iop_cli.problems import AnswersError

from .conftest import iop_in_process

SEED = 20261204
FILLINGS_PER_RECORD = 2100  # a C-SSRS not taken: 2**7 item answers, 4 totals, and a few more  # the most fillings one record's brute force may take


def every_value(question) -> list:
    if question.type == "yesno":
        return [True, False]
    if question.type == "choice":
        return list(question.choice_values)
    if question.type == "multi":
        choices = question.choice_values
        return [tuple(c) for n in range(len(choices) + 1) for c in itertools.combinations(choices, n)]
    return list(range(int(question.min), int(question.max) + 1))


def table_rating(dimension, values) -> int | None:
    return next((c.rating for c in dimension.ratings if c.when.evaluate(values) is True), None)


def brute_force(pack, dimension, answers: dict) -> set:
    """The ratings every complete way of answering the dimension's missing questions gives."""
    fields = dimension_fields(pack, dimension)
    values, applies, _ = applicable(pack, answers)
    missing = [q for q in fields if values.get(q.id) is None and applies.get(q.id) is not False]
    found = set()
    for filling in itertools.product(*(every_value(q) for q in missing)):
        full = {**answers, **{q.id: v for q, v in zip(missing, filling, strict=True)}}
        disagree: list[str] = []
        filled, _, _ = applicable(pack, full, disagree=disagree)
        if disagree:
            continue  # not a way this person could have answered: a total or screen disagrees with its items
        found.add(table_rating(dimension, filled))
    return found


def random_record(pack, rng: random.Random) -> dict:
    """Every asked question answered at random, the instruments as totals, the C-SSRS by its items or not at all."""
    record = {}
    screen = rng.random() < 0.5
    for question in pack.asked:
        if question.type == "text" or (question.derive is not None and question.derive.expression is None):
            continue  # the suicide questions: derived from the C-SSRS items, or answered below
        if any(question.id in (q.derive.names if q.derive else ()) for q in pack.asked):
            if not question.id.startswith("cssrs_") or not screen:
                continue  # an instrument's items: its total is answered instead
        record[question.id] = rng.choice(every_value(question))
    if not screen:
        record["suicidal_ideation"] = rng.choice(every_value(pack.questions["suicidal_ideation"]))
        record["suicide_attempt_past_3_months"] = rng.choice([True, False])
    return {k: v for k, v in checked(pack, record).items() if v is not None} if _valid(pack, record) else {}


def _valid(pack, record) -> bool:
    try:
        checked(pack, record)
    except AnswersError:
        return False
    return True


def partial_records(pack, dimension, count: int, rng: random.Random):
    """Records with one to three of the answers the dimension depends on removed, small enough to enumerate."""
    fields = dimension_fields(pack, dimension)
    made = 0
    while made < count:
        record = random_record(pack, rng)
        if not record:
            continue
        given = [q for q in fields if q.id in record]
        removed = {q.id for q in rng.sample(given, min(len(given), rng.randint(1, 3)))}
        partial = {k: v for k, v in record.items() if k not in removed}
        values, applies, _ = applicable(pack, partial)
        open_ = [q for q in fields if values.get(q.id) is None and applies.get(q.id) is not False]
        if math.prod(len(every_value(q)) for q in open_) > FILLINGS_PER_RECORD:
            continue
        yield partial
        made += 1


@pytest.mark.parametrize("index", range(6), ids=[f"d{i + 1}" for i in range(6)])
def test_each_dimension_is_rated_exactly_as_brute_force_says(pack, index):
    dimension = pack.profile[index]
    rng = random.Random(SEED + index)
    checked_records = rated = not_rated = 0
    for answers in partial_records(pack, dimension, 40, rng):
        want = brute_force(pack, dimension, answers)
        got = next(d for d in decide(pack, answers).profile if d.id == dimension.id)
        expected = want.pop() if len(want) == 1 else None
        assert got.rating == expected, (answers, want, got)
        checked_records += 1
        rated += got.rating is not None
        not_rated += got.rating is None
    assert checked_records == 40 and not_rated  # a missing answer it reads can leave it open
    assert rated or len(dimension_fields(pack, dimension)) == 1  # and, where it reads several, need not


def test_complete_answers_rate_every_dimension_from_the_table(pack):
    rng = random.Random(SEED)
    complete = 0
    for _ in range(200):
        record = random_record(pack, rng)
        if not record:
            continue
        decision = decide(pack, record)
        values, applies, _ = applicable(pack, record)
        for dimension, got in zip(pack.profile, decision.profile, strict=True):
            fields = dimension_fields(pack, dimension)
            if all(values.get(q.id) is not None or applies.get(q.id) is False for q in fields):
                assert got.rating == table_rating(dimension, values)
                complete += 1
    assert complete > 500


def test_highest_need_marks_every_rated_dimension_tied_at_the_top(pack):
    from .test_interview import CANDIDATE

    decision = decide(pack, checked(pack, {**CANDIDATE, "suicide_risk": "none", "readiness": "not_ready"}))
    ratings = {d.id: d.rating for d in decision.profile}
    top = max(r for r in ratings.values() if r is not None)
    assert [d.id for d in decision.profile if d.highest] == [k for k, r in ratings.items() if r == top]
    assert all(d.rating is not None for d in decision.profile if d.highest)


def test_a_not_rated_dimension_names_what_it_waits_on_and_is_never_zero(pack):
    from .test_interview import CANDIDATE

    answers = {k: v for k, v in CANDIDATE.items() if k not in ("pregnant", "housing")}
    profile = {d.id: d for d in decide(pack, checked(pack, answers)).profile}
    assert profile["d2"].rating is None and profile["d2"].open == ("pregnant",)
    assert profile["d6"].rating is None and "housing" in profile["d6"].open
    assert profile["d3"].open == ("suicide_risk",)  # the C-SSRS, by its total rather than its eight questions


def test_check_json_and_report_carry_the_profile(tmp_path):
    import json

    from .test_interview import CANDIDATE

    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({**CANDIDATE, "suicide_risk": "none"}))
    data = json.loads(iop_in_process("check", "-a", str(answers), "-f", "json").stdout)
    assert [d["id"] for d in data["profile"]] == ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert all(d["rated"] == (d["rating"] is not None) for d in data["profile"])
    report = iop_in_process("check", "-a", str(answers)).stdout
    assert "Profile: need by dimension" in report and "Recovery environment" in report
    markdown = iop_in_process("check", "-a", str(answers), "-f", "markdown").stdout
    assert "| Recovery environment | 0 |" in markdown


@pytest.mark.parametrize(
    "ratings, message",
    [
        ("[{rating: 2, when: pregnant, because: x}, {rating: 2, when: not pregnant, because: y}]", "rating 2 twice"),
        ("[{rating: 5, when: pregnant, because: x}]", "must be 0, 1, 2, 3 or 4"),
        ("[{rating: 1, when: pregnant is missing, because: x}]", "tests `is missing`"),
        ("[{rating: 1, when: level == 'iop', because: x}]", "level"),
        ("[]", "has no ratings"),
    ],
)
def test_the_loader_refuses_a_broken_dimension(pack_copy, ratings, message):
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import PackError

    (pack_copy / "profile.yaml").write_text(f"profile:\n  - id: d1\n    name: One\n    ratings: {ratings}\n")
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "file, old, new, message",
    [
        ("profile.yaml", "- id: d6", "- id: status", "the name of an output column"),
        ("tests.yaml", "profile: {d6: 1}", "profile: [d6]", "must map dimension ids to ratings"),
    ],
    ids=["dimension-named-like-a-column", "expectation-not-a-mapping"],
)
def test_the_loader_refuses_a_misnamed_dimension_or_expectation(pack_copy, file, old, new, message):
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import PackError

    (pack_copy / file).write_text((pack_copy / file).read_text().replace(old, new))
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert message in str(caught.value)


def test_lint_finds_a_profile_gap_and_ratings_never_given(pack_copy):
    from iop_cli.authoring.lint import lint
    from iop_cli.pack.build import load_pack

    text = (pack_copy / "profile.yaml").read_text()
    # Dimension 6 loses its rating for unstable housing: those answers get no rating at all.
    start = text.index("      - rating: 1\n        when: housing == 'unstable'")
    end = text.index("      - rating: 0\n        when: housing == 'stable'")
    text = text[:start] + text[end:]
    # Dimension 2 gains a rating that its rating 2 always outranks, and dimension 4 one that never holds.
    text = text.replace(
        "      - rating: 0\n        when: not medical_instability and not pregnant",
        "      - rating: 1\n        when: pregnant\n        because: Shadowed.\n"
        "      - rating: 0\n        when: not medical_instability and not pregnant",
    )
    text = text.replace(
        "      - rating: 3\n        when: readiness == 'not_ready'",
        "      - rating: 4\n        when: readiness == 'ready' and readiness == 'unsure'\n        because: Never.\n"
        "      - rating: 3\n        when: readiness == 'not_ready'",
    )
    (pack_copy / "profile.yaml").write_text(text)
    tests = (pack_copy / "tests.yaml").read_text().replace("profile: {d6: 1}", "profile: {d6: null}")
    (pack_copy / "tests.yaml").write_text(tests)
    findings = {(f.code, f.subject): f for f in lint(load_pack(pack_copy)) if f.code.startswith("profile-")}
    assert set(findings) == {("profile-gap", "d6"), ("profile-never", "d2"), ("profile-never", "d4")}
    gap = findings[("profile-gap", "d6")]
    assert gap.example is not None and gap.example["housing"] == "unstable" and gap.severity == "warning"
    assert "a higher rating always holds with it" in findings[("profile-never", "d2")].message
    assert "its condition never holds" in findings[("profile-never", "d4")].message


def _extended(pack_copy, questions: str, dimension: str):
    """The default pack with extra questions and a dimension d7 over them (as a center would add)."""
    from iop_cli.pack.build import load_pack

    with open(pack_copy / "questions.yaml", "a") as handle:
        handle.write(questions)
    with open(pack_copy / "profile.yaml", "a") as handle:
        handle.write(dimension)
    return load_pack(pack_copy)


def _both(pack, rows: list[dict], tmp_path) -> list[tuple]:
    """(iop check's d7, iop score's d7) for each row."""
    import csv

    header = sorted({k for row in rows for k in row})
    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows([{k: row.get(k, "") for k in header} for row in rows])
    import io

    from iop_cli.batch import score as batch

    out = io.BytesIO()
    batch.score_file(str(source), out, pack, None)
    scored = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    pairs = []
    for row, got in zip(rows, scored, strict=True):
        answers = {k: v for k, v in row.items() if v != ""}
        rating = next(d.rating for d in decide(pack, checked(pack, answers)).profile if d.id == "d7")
        pairs.append(("" if rating is None else str(rating), got["d7"]))
    return pairs


def test_a_total_of_items_rates_alike_in_check_and_score_partly_answered_or_not(pack_copy, tmp_path):
    from .test_interview import CANDIDATE

    pack = _extended(
        pack_copy,
        "\n  - {id: a1, type: integer, label: a1, min: 0, max: 3}\n  - {id: a2, type: integer, label: a2, min: 0, max: 3}\n"
        "  - {id: asum, type: integer, label: sum, min: 0, max: 6, compute: a1 + a2}\n",
        "\n  - id: d7\n    name: Extra\n    ratings:\n      - {rating: 2, when: asum >= 3, because: high}\n"
        "      - {rating: 0, when: asum < 3, because: low}\n",
    )
    base = {**CANDIDATE, "suicide_risk": "none"}
    rows = [{**base, "a1": 3, "a2": 2}, {**base, "a1": 3, "a2": ""}, {**base, "a1": 1, "a2": ""}, {**base}]
    # a1 = 3 alone decides the sum is at least 3; a1 = 1 leaves it open.
    assert _both(pack, rows, tmp_path) == [("2", "2"), ("2", "2"), ("", ""), ("", "")]


def test_a_dimension_over_a_decimal_sum_and_a_selection_rates_alike_row_by_row(pack_copy, tmp_path):
    from .test_interview import CANDIDATE

    pack = _extended(
        pack_copy,
        "\n  - {id: weight, type: number, label: weight, min: 0, max: 500, required: false}\n",
        "\n  - id: d7\n    name: Extra\n    ratings:\n"
        "      - {rating: 2, when: \"weight + dsm5_criteria_count >= 50.5 or 'alcohol' in other_substances\", "
        "because: high}\n"
        "      - {rating: 0, when: \"weight + dsm5_criteria_count < 50.5 and 'alcohol' not in other_substances\", "
        "because: low}\n",
    )
    base = {**CANDIDATE, "suicide_risk": "none", "primary_substance": "opioids", "cows": 3}
    rows = [
        {**base, "weight": 70.5, "other_substances": "alcohol;stimulants"},
        {**base, "weight": 40.25, "other_substances": "stimulants"},
        {**base, "weight": "", "other_substances": "alcohol"},
        {**base, "weight": "", "other_substances": ""},
    ]
    assert _both(pack, rows, tmp_path) == [("2", "2"), ("0", "0"), ("2", "2"), ("", "")]


def test_lint_searches_a_text_answer_by_the_words_compared_with_it(pack_copy):
    from iop_cli.authoring.lint import lint

    pack = _extended(
        pack_copy,
        "",
        "\n  - id: d7\n    name: Extra\n    ratings:\n      - {rating: 2, when: \"client_id == 'A1'\", because: one}\n"
        "      - {rating: 0, when: \"client_id != 'A1'\", because: others}\n",
    )
    assert not [f for f in lint(pack) if f.code.startswith("profile-")]
    assert next(d for d in decide(pack, {"client_id": "A1"}).profile if d.id == "d7").rating == 2


def test_answers_that_contradict_each_other_keep_a_rating_that_holds(pack):
    from .test_interview import CANDIDATE

    answers = {k: v for k, v in CANDIDATE.items() if k != "psychiatric_symptoms"}
    answers |= {"suicide_risk": "high", "suicidal_ideation": "none", "suicide_attempt_past_3_months": False}
    decision = decide(pack, checked(pack, answers))
    assert decision.level.id == "crisis"
    assert next(d for d in decision.profile if d.id == "d3").rating == 4  # the screen is high whatever else


def test_a_high_suicide_screen_alone_is_a_crisis_in_check_and_score(pack, tmp_path):
    import csv
    import io

    from iop_cli.batch import score as batch

    source = tmp_path / "in.csv"
    source.write_text("suicide_risk,age\nhigh,30\nlow,30\n")
    mapping = tmp_path / "m.yaml"
    unanswered = [q.id for q in pack.asked if q.required and q.id != "age"]
    mapping.write_text("unanswered: [" + ", ".join(unanswered) + "]\n")
    from iop_cli.batch.mapping import load_mapping

    out = io.BytesIO()
    batch.score_file(str(source), out, pack, load_mapping(str(mapping), pack))
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [(r["level"], r["rule"], r["status"]) for r in rows] == [
        ("crisis", "crisis_high_suicide_risk", "ok"),
        ("clinician_review", "", "review"),
    ]
    assert decide(pack, {"suicide_risk": "high", "age": 30}).level.id == "crisis"


def test_rules_diff_lists_a_changed_profile_rating(pack, pack_copy):
    from iop_cli.authoring.diff import changes
    from iop_cli.pack.build import load_pack

    text = (pack_copy / "profile.yaml").read_text().replace("because: Homeless.", "because: No home.")
    (pack_copy / "profile.yaml").write_text(text)
    assert changes(pack, load_pack(pack_copy)) == ["profile rating d6:4: because 'Homeless.' -> 'No home.'"]


def test_the_report_says_when_the_highest_need_is_only_among_those_rated(tmp_path):
    import json

    from .test_interview import CANDIDATE

    note = "Highest among the dimensions rated"
    complete = tmp_path / "complete.json"
    complete.write_text(json.dumps({**CANDIDATE, "suicide_risk": "none", "pregnant": False}))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in CANDIDATE.items() if k != "pregnant"}))
    assert note not in iop_in_process("check", "-a", str(complete), "-f", "markdown").stdout
    assert note in iop_in_process("check", "-a", str(partial), "-f", "markdown").stdout
    assert note in iop_in_process("check", "-a", str(partial)).stdout
