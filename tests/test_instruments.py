"""Instruments as pack modules: scored choices, totals given directly or derived from their items, and `include`.

The fixture pack `tests/packs/instruments` includes all seven modules of `rules/instruments`; each module's own tests
(band edges, reversed items, odd value sets, the C-SSRS paths) run with it. Batch scoring is held to the engine on
rows that give items, totals, both, or neither.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from pathlib import Path

import pytest

from iop_cli.authoring.tests import run_all
from iop_cli.batch import score as batch
from iop_cli.decide.engine import checked, decide
from iop_cli.pack.answers import BadValue, coerce
from iop_cli.pack.build import load_pack
from iop_cli.pack.model import Computed
from iop_cli.problems import AnswersError, PackError
from tests.conftest import ROOT, iop_in_process

FIXTURE = ROOT / "tests" / "packs" / "instruments"
MODULES = ROOT / "rules" / "instruments"


@pytest.fixture(scope="module")
def instruments():
    return load_pack(FIXTURE)


def test_every_module_test_passes(instruments):
    results = run_all(instruments)
    assert len(results) >= 60
    assert [r.case.name for r in results if not r.passed] == []


def test_a_wrong_expected_value_fails_its_test(tmp_path):
    """The module tests can fail: a DAST-10 whose item 3 is not reversed breaks the tests that say it is."""
    copy = _copy_fixture(tmp_path)
    module = copy / "rules" / "instruments" / "dast10.yaml"
    text = module.read_text(encoding="utf-8")
    reversed_item = '      - {score: 0, value: yes, label: "Yes"}\n      - {score: 1, value: no, label: "No"}'
    assert reversed_item in text
    module.write_text(
        text.replace(
            reversed_item,
            reversed_item.replace("score: 0", "score: 9")
            .replace("score: 1", "score: 0")
            .replace("score: 9", "score: 1"),
        ),
        encoding="utf-8",
    )
    failed = [r.case.name for r in run_all(load_pack(copy / "tests" / "packs" / "instruments")) if not r.passed]
    assert "DAST-10 every no scores 1: item 3 is reversed" in failed
    assert "DAST-10 of 0 is none" in failed


def _copy_fixture(tmp_path: Path) -> Path:
    """The fixture pack and the modules it includes, at the same relative places."""
    shutil.copytree(FIXTURE, tmp_path / "tests" / "packs" / "instruments")
    shutil.copytree(MODULES, tmp_path / "rules" / "instruments")
    return tmp_path


def test_the_seven_modules_score_as_clinical_md_gives_them(instruments):
    q = instruments.questions
    assert (q["ciwa_ar"].min, q["ciwa_ar"].max, q["cows"].min, q["cows"].max) == (0, 67, 0, 48)
    assert [q[f"ciwa_{n}"].scores for n in ("nausea", "orientation")] == [tuple(range(8)), tuple(range(5))]
    cows = {name: q[name].scores for name in q if name.startswith("cows_")}
    assert cows == {
        "cows_pulse": (0, 1, 2, 4),
        "cows_sweating": (0, 1, 2, 3, 4),
        "cows_restlessness": (0, 1, 3, 5),
        "cows_pupils": (0, 1, 2, 5),
        "cows_aches": (0, 1, 2, 4),
        "cows_runny_nose": (0, 1, 2, 4),
        "cows_stomach": (0, 1, 2, 3, 5),
        "cows_tremor": (0, 1, 2, 4),
        "cows_yawning": (0, 1, 2, 4),
        "cows_anxiety": (0, 1, 2, 4),
        "cows_gooseflesh": (0, 3, 5),
    }
    assert all(q[f"phq9_{i}"].scores == (0, 1, 2, 3) for i in range(1, 10))
    assert all(q[f"gad7_{i}"].scores == (0, 1, 2, 3) for i in range(1, 8))
    assert all(q[f"auditc_{i}"].scores == (0, 1, 2, 3, 4) for i in range(1, 4))
    dast = {i: {c.value: c.score for c in q[f"dast_{i}"].choices} for i in range(1, 11)}
    assert dast[3] == {"yes": 0, "no": 1}
    assert all(dast[i] == {"yes": 1, "no": 0} for i in dast if i != 3)
    totals = {name: question.derive.names for name, question in q.items() if question.derive is not None}
    assert set(totals) == {"suicide_risk", "ciwa_ar", "cows", "phq9", "gad7", "audit_c", "dast10"}
    assert len(totals["ciwa_ar"]) == 10 and len(totals["cows"]) == 11 and len(totals["dast10"]) == 10
    assert all(
        not question.required
        for question in q.values()
        if not isinstance(question, Computed) and question.id != "primary_substance"
    )


def test_an_include_asks_its_questions_in_place_under_its_condition(instruments):
    order = list(instruments.questions)
    assert order[:3] == ["primary_substance", "other_substances", "cssrs_wish_dead"]
    assert order.index("ciwa_ar") < order.index("cows_pulse") < order.index("phq9_1")
    assert (
        instruments.questions["cows_pulse"].ask_if.source
        == "primary_substance == 'opioids' or 'opioids' in other_substances"
    )
    # The include's condition comes first, then the question's own.
    assert instruments.questions["cssrs_method"].ask_if.source == "cssrs_thoughts"
    assert set(instruments.sections) >= {"cssrs_screen", "ciwa_scale", "cows_scale", "phq9_screen", "dast_screen"}


def test_an_item_takes_its_score_or_its_word_and_nothing_else(instruments):
    pulse = instruments.questions["cows_pulse"]
    assert coerce(pulse, "4") == 4 and coerce(pulse, 4) == 4 and coerce(pulse, "Over_120") == 4
    for bad in ("3", 3, "5", "-1", "fast", "4.5"):
        with pytest.raises(BadValue) as caught:
            coerce(pulse, bad)
        assert caught.value.allowed == "0 (under_81), 1 (from_81_to_100), 2 (from_101_to_120), 4 (over_120)"
    dast3 = instruments.questions["dast_3"]
    assert coerce(dast3, True) == 0 and coerce(dast3, "no") == 1 and coerce(dast3, "1") == 1


def test_a_total_and_its_items_that_disagree_are_an_error_naming_both(instruments):
    items = {f"gad7_{i}": 1 for i in range(1, 8)}
    assert checked(instruments, {**items, "gad7": 7})["gad7"] == 7
    with pytest.raises(AnswersError) as caught:
        checked(instruments, {**items, "gad7": 8})
    (problem,) = caught.value.problems
    assert problem.where == "gad7" and "gad7_1, gad7_2" in problem.message and "8" not in str(problem)
    # Items that do not add up to a total (one left out) do not contradict it: the total stands.
    del items["gad7_7"]
    assert decide(instruments, checked(instruments, {**items, "gad7": 20})).values["gad7"] == 20


def test_iop_check_refuses_a_disagreeing_total_in_one_line(tmp_path):
    answers = tmp_path / "a.yaml"
    items = "\n".join(f"phq9_{i}: 1" for i in range(1, 10))
    answers.write_text(f"primary_substance: cannabis\nphq9: 4\n{items}\n", encoding="utf-8")
    done = iop_in_process("check", "--rules", str(FIXTURE), "--answers", str(answers))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "phq9: is given, and the answers it is derived from (phq9_1, phq9_2" in done.stderr
    assert "Traceback" not in done.stderr


def _cell(value) -> str:
    return "" if value is None else "yes" if value is True else "no" if value is False else str(value)


def instrument_rows(pack, total: int = 10_000) -> list[dict[str, str]]:
    """Rows that give each instrument as nothing, its total, its items (all or some), or both (agreeing or not),
    with items written as scores or as their words."""
    rng = random.Random(20261203)
    groups = {q.id: list(q.derive.names) for q in pack.asked if q.derive is not None}
    rows = []
    for _ in range(total):
        row = {"primary_substance": rng.choice(["alcohol", "opioids", "sedatives", "cannabis", ""])}
        others = rng.sample(["alcohol", "Opioids", " sedatives", "cannabis", "other"], rng.randint(0, 3))
        row["other_substances"] = ";".join(others + (["opioids"] if rng.random() < 0.1 else []))
        for name, items in groups.items():
            how = rng.choice(["none", "total", "items", "some", "both", "both_wrong"])
            answers = {}
            for item in items:
                question = pack.questions[item]
                if question.scores:
                    choice = rng.choice(question.choices)
                    answers[item] = choice.value if rng.random() < 0.3 else choice.score
                else:
                    answers[item] = rng.choice([True, False])
            given = checked(pack, answers) if name != "suicide_risk" else None
            if how in ("items", "both", "both_wrong"):
                row.update({k: _cell(v) for k, v in answers.items()})
            if how == "some":
                row.update({k: _cell(v) for k, v in list(answers.items())[: len(items) // 2]})
            if how in ("total", "both", "both_wrong"):
                q = pack.questions[name]
                if q.type == "choice":
                    value = rng.choice(q.choice_values)
                else:
                    value = (given or {}).get(name) if how == "both" else None
                    value = rng.randint(int(q.min), int(q.max)) if value is None else value
                    if how == "both_wrong" and (given or {}).get(name) == value:
                        value = value + 1 if value < q.max else value - 1
                row[name] = _cell(value)
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def instrument_parity(instruments, tmp_path_factory):
    rows = instrument_rows(instruments)
    fields = [q.id for q in instruments.asked]
    source = tmp_path_factory.mktemp("instruments") / "rows.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows([{f: row.get(f, "") for f in fields} for row in rows])
    out = io.BytesIO()
    summary = batch.score_file(str(source), out, instruments, None)
    assert summary.rows == len(rows)
    return rows, list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))


def test_batch_and_engine_agree_on_items_totals_and_both(instruments, instrument_parity):
    rows, scored = instrument_parity
    kinds = {"error": 0, "ok": 0, "review": 0}
    mismatches = []
    for number, (row, got) in enumerate(zip(rows, scored, strict=True), start=2):
        answers = {k: v for k, v in row.items() if v != ""}
        try:
            decision = decide(instruments, checked(instruments, answers))
        except AnswersError as exc:
            want = ("", "", "", "error", "; ".join(p.where for p in exc.problems))
            have = (
                got["level"],
                got["rule"],
                got["alerts"],
                got["status"],
                "; ".join(e.split(":")[0] for e in got["error"].split("; ")),
            )
        else:
            want = (decision.level.id, decision.rule or "", ";".join(a.id for a in decision.alerts), "", "")
            have = (got["level"], got["rule"], got["alerts"], "", got["error"])
        kinds[got["status"]] += 1
        if want != have:
            mismatches.append((number, want, have))
    assert not mismatches, f"{len(mismatches)} rows differ; first: {mismatches[:3]}"
    assert min(kinds.values()) > 100, kinds  # errors (disagreeing totals), placements and reviews all occur
    levels = {row["level"] for row in scored}
    assert levels == {"crisis", "inpatient", "outpatient", "clinician_review", ""}, levels
    shown = {a for row in scored for a in row["alerts"].split(";") if a}
    assert shown == {"item_nine", "positive_audit", "opioids_too"}, shown


def test_score_frame_agrees_on_derived_totals(instruments, instrument_parity):
    import polars as pl

    from iop_cli.decide.frame import VALUE_TYPES, score_frame

    rows, scored = instrument_parity
    typed = [_typed(instruments, row) for row in rows[:3000]]
    answers = pl.DataFrame(
        {q.id: [t.get(q.id) for t in typed] for q in instruments.asked},
        schema={q.id: VALUE_TYPES[q.type] for q in instruments.asked},
    )
    got = score_frame(instruments, answers)
    for name in ("level", "rule", "alerts", "status"):
        assert got[name].fill_null("").to_list() == [row[name] for row in scored[:3000]], name
    errors = [e is not None for e in got["error"].to_list()]
    assert errors == [row["status"] == "error" for row in scored[:3000]]


def _typed(pack, row):
    from iop_cli.pack.answers import clean_answers

    return clean_answers(pack, {k: v for k, v in row.items() if v != ""})


# -- the loader --------------------------------------------------------------------------------------------


def _pack_with(tmp_path: Path, questions: str, module: str | None = None) -> Path:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "pack.yaml").write_text(
        "pack: {name: t, version: '1'}\n"
        "levels: [{id: review, name: Review}]\n"
        "otherwise: {level: review, because: Always.}\n"
        "questions:\n" + questions,
        encoding="utf-8",
    )
    if module is not None:
        (tmp_path / "module.yaml").write_text(module, encoding="utf-8")
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("question", "message"),
    [
        (
            "  - {id: x, type: integer, label: X, choices: [1, 2]}",
            "a choice of the integer question `x` needs a `score`",
        ),
        ("  - {id: x, type: integer, label: X, choices: [{label: A}]}", "needs a whole-number `score`"),
        ("  - {id: x, type: integer, label: X, choices: [{score: 1}, {score: 1}]}", "duplicate score 1"),
        ("  - {id: x, type: integer, label: X, min: 0, choices: [{score: 1}]}", "takes its range from its choices"),
        ("  - {id: x, type: choice, label: X, choices: [{value: a, score: 1}]}", "only an integer question's choices"),
        ("  - {id: x, type: yesno, label: X, choices: [{score: 1}]}", "has choices but is of type yesno"),
        (
            "  - {id: x, type: integer, label: X, min: 0, max: 3}\n"
            "  - {id: t, type: integer, label: T, min: 0, max: 3, derive: x, compute: x}",
            "has both `compute` and `derive`",
        ),
        (
            "  - {id: t, type: integer, label: T, min: 0, max: 9, derive: later}\n"
            "  - {id: later, type: integer, label: L, min: 0, max: 9}",
            "reads `later`, which is not placed before it",
        ),
        ("  - {id: t, type: integer, label: T, min: 0, max: 3, derive: 'x + x'}\n", "unknown field"),
        (
            "  - {id: g, type: yesno, label: G}\n  - {id: f, type: integer, label: F, min: 0, max: 1, ask_if: g, "
            "implies: g}",
            "only a yes/no question can imply another",
        ),
        ("  - {id: f, type: yesno, label: F, implies: nowhere}", "`implies` must name an earlier yes/no question"),
        (
            "  - {id: g, type: yesno, label: G}\n  - {id: f, type: yesno, label: F, implies: g}",
            "implies `g`, but is not asked only after it",
        ),
    ],
)
def test_a_scored_or_derived_question_that_cannot_work_is_refused(tmp_path, question, message):
    problems = _problems(_pack_with(tmp_path, question + "\n"))
    assert any(message in p for p in problems), problems


def test_a_derived_total_must_fit_its_range(tmp_path):
    questions = (
        "  - {id: a, type: integer, label: A, choices: [{score: 0}, {score: 3}]}\n"
        "  - {id: b, type: integer, label: B, choices: [{score: 0}, {score: 3}]}\n"
        "  - {id: t, type: integer, label: T, min: 0, max: 5, derive: a + b}\n"
    )
    assert any("can give 0 to 6, outside its declared range" in p for p in _problems(_pack_with(tmp_path, questions)))


MODULE = "module: {name: m, version: '1'}\nquestions:\n  - {id: m1, type: yesno, label: M1, required: false}\n"


@pytest.mark.parametrize(
    ("questions", "module", "message"),
    [
        ("  - include: ../missing.yaml\n", None, "cannot read the file"),
        ("  - include: ../module.yaml\n  - include: ../module.yaml\n", MODULE, "is already included at"),
        ("  - include: ../module.yaml\n", "questions: []\n", "the module module.yaml is missing `module`"),
        ("  - include: ../module.yaml\n", MODULE + "levels: []\n", "unknown key `levels` in the module module.yaml"),
        ("  - include: ../module.yaml\n", MODULE + "  - include: other.yaml\n", "a module cannot include another"),
        ("  - {include: ../module.yaml, ask_if: nothing}\n", MODULE, "unknown field"),
        ("  - {include: ../module.yaml, when: x}\n", MODULE, "unknown key `when` in an include"),
    ],
)
def test_an_include_that_cannot_work_is_refused_with_its_place(tmp_path, questions, module, message):
    problems = _problems(_pack_with(tmp_path, questions, module))
    assert any(message in p for p in problems), problems


def test_a_module_in_the_pack_folder_is_refused(tmp_path):
    folder = _pack_with(tmp_path, "  - {id: a, type: yesno, label: A}\n")
    (folder / "m.yaml").write_text(MODULE, encoding="utf-8")
    assert any("m.yaml is a module file, which a pack includes" in p for p in _problems(folder))


def test_an_included_module_is_part_of_the_pack_hash(tmp_path):
    folder = _pack_with(tmp_path, "  - include: ../module.yaml\n", MODULE)
    first = load_pack(folder).hash
    (tmp_path / "module.yaml").write_text(MODULE.replace("M1", "M one"), encoding="utf-8")
    assert load_pack(folder).hash != first


def test_a_test_expecting_a_value_of_an_unknown_field_is_refused(tmp_path):
    folder = _pack_with(
        tmp_path,
        "  - {id: a, type: integer, label: A, choices: [{score: 0}, {score: 2}]}\n"
        "tests:\n  - {name: t, given: {a: 2}, expect: {values: {b: 1}}}\n"
        "  - {name: u, given: {a: 2}, expect: {values: {a: 1}}}\n",
    )
    problems = _problems(folder)
    assert any("test `t`: unknown field `b`" in p for p in problems), problems
    assert any("test `u`: `a` is not one of the item's scores" in p for p in problems), problems


def test_a_partly_answered_total_is_a_range_the_rules_read_but_not_the_profile():
    """CLINICAL.md, version 2: a partly answered instrument counts as not taken, but the range its answered items
    fix decides a rule where it can."""
    from iop_cli.decide.engine import decide
    from iop_cli.lang.py import Range, range_compare, range_member
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    base = {case.name: case for case in pack.tests}[
        "mild alcohol use disorder with a stable supportive home is an IOP candidate"
    ].given
    answers = {**base, "ciwa_ar": None, "ciwa_nausea": 7, "ciwa_tremor": 7, "ciwa_sweats": 6}
    decision = decide(pack, {k: v for k, v in answers.items() if v is not None})
    assert (decision.level.id, decision.rule, decision.status) == (
        "inpatient",
        "inpatient_severe_withdrawal",
        "provisional",
    )
    assert decision.partial == (("ciwa_ar", 20, 66),)  # 7 + 7 + 6, and six items of 0-7 and one of 0-4 to come
    assert decision.values.get("ciwa_ar") is None  # the answers shown keep it unanswered
    withdrawal = next(d for d in decision.profile if d.id == "d1")
    assert withdrawal.rating is None  # not rated, as for a scale not taken

    assert range_compare(">=", Range(20, 63), 20) is True
    assert range_compare(">=", Range(12, 63), 20) is None
    assert range_compare("<", Range(12, 15), 20) is True
    assert range_compare(">", 10, Range(12, 15)) is False  # 10 > t is t < 10
    assert range_compare("==", Range(3, 3), 3) is True
    assert range_compare("!=", Range(4, 9), 3) is True
    assert range_member(frozenset({4, 5, 6}), 4, 6) is True
    assert range_member(frozenset({1, 2}), 4, 6) is False
    assert range_member(frozenset({4, 5}), 4, 6) is None
