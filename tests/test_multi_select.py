"""Multi-select questions: `'a' in x` in conditions, a list in answers files and JSON, `a;b` in a CSV cell, the
empty selection for unanswered, and the lint's search over the selections its conditions tell apart."""

from __future__ import annotations

import io
import json

import pytest

from iop_cli.authoring.lint import lint
from iop_cli.batch import score as batch
from iop_cli.decide.engine import checked, decide
from iop_cli.decide.space import Space
from iop_cli.lang.expr import ExprError, FieldType, parse
from iop_cli.pack.answers import BadValue, coerce
from iop_cli.pack.build import load_pack
from iop_cli.problems import PackError
from tests.conftest import iop_in_process

PACK = """\
pack: {name: multi, version: '1'}
questions:
  - {id: primary, type: choice, label: Primary, choices: [alcohol, opioids, cannabis]}
  - {id: others, type: multi, label: Others, choices: [alcohol, opioids, cannabis, other]}
  - {id: cows, type: integer, label: COWS, min: 0, max: 48, required: false,
     ask_if: "primary == 'opioids' or 'opioids' in others"}
levels:
  - {id: detox, name: Detox, rank: 3, urgent: true}
  - {id: care, name: Care, rank: 1}
  - {id: review, name: Review}
rules:
  - {id: withdrawal, when: cows >= 25, level: detox, because: Severe opioid withdrawal.}
  - {id: mixed, when: "'alcohol' in others or primary == 'alcohol'", level: care, because: Alcohol is in use.}
  - {id: plain, when: "'alcohol' not in others", level: care, because: No alcohol.}
  - {id: moud, when: "'opioids' in others", alert: Offer medication for opioid use disorder, because: Opioids.}
otherwise: {level: review, because: Nothing placed the person.}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "pack.yaml").write_text(PACK, encoding="utf-8")
    return tmp_path / "pack"


@pytest.fixture
def multi(folder):
    return load_pack(folder)


def test_a_selection_is_a_list_or_semicolon_text_in_the_packs_order(multi):
    others = multi.questions["others"]
    assert coerce(others, ["cannabis", "Alcohol", "cannabis"]) == ("alcohol", "cannabis")
    assert coerce(others, "opioids; alcohol") == ("alcohol", "opioids")
    assert coerce(others, []) == () and coerce(others, "") is None and coerce(others, " ; ") == ()
    with pytest.raises(BadValue) as caught:
        coerce(others, "alcohol;beer")
    assert caught.value.message == "holds a value that is not one of the choices"  # names no part of the cell
    with pytest.raises(BadValue):
        coerce(others, 3)


def test_unanswered_is_the_empty_selection(multi):
    assert not multi.questions["others"].required
    decision = decide(multi, checked(multi, {"primary": "cannabis"}))
    assert decision.values["others"] == () and decision.rule == "plain" and decision.missing == ()
    assert decide(multi, checked(multi, {"primary": "cannabis", "others": []})).rule == "plain"


def test_in_tests_a_selection_and_widens_an_ask_if(multi):
    decision = decide(multi, checked(multi, {"primary": "alcohol", "others": ["opioids"], "cows": 30}))
    assert (decision.rule, [a.id for a in decision.alerts]) == ("withdrawal", ["moud"])
    # Without opioids anywhere the COWS does not apply: its answer is listed as ignored, and places nothing.
    decision = decide(multi, checked(multi, {"primary": "alcohol", "others": ["cannabis"], "cows": 30}))
    assert decision.rule == "mixed" and decision.ignored == ("cows",)


def test_check_reads_a_list_from_an_answers_file_and_json_gives_a_list(folder, tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("primary: cannabis\nothers: [opioids, alcohol]\n", encoding="utf-8")
    done = iop_in_process("check", "--rules", str(folder), "--answers", str(answers), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rule"] == "mixed" and report["answers"]["others"] == ["alcohol", "opioids"]
    answers.write_text("primary: cannabis\nothers: [opioids, beer]\n", encoding="utf-8")
    done = iop_in_process("check", "--rules", str(folder), "--answers", str(answers))
    assert done.returncode == 1 and "others: a list was given" not in done.stderr
    assert "others: a list holds a value that is not one of the choices" in done.stderr


def test_score_reads_semicolon_cells_like_check(multi, tmp_path):
    rows = [
        ("cannabis", "", "", "care", "plain", ""),
        ("cannabis", "alcohol;opioids", "", "care", "mixed", "moud"),
        ("alcohol", "Opioids ; cannabis", "26", "detox", "withdrawal", "moud"),
        ("cannabis", "cannabis", "30", "care", "plain", ""),
    ]
    source = tmp_path / "in.csv"
    source.write_text(
        "primary,others,cows\n" + "".join(f'{p},"{o}",{c}\n' for p, o, c, *_ in rows) + 'cannabis,"opioids;beer",\n',
        encoding="utf-8",
    )
    out = io.BytesIO()
    batch.score_file(str(source), out, multi, None)
    lines = out.getvalue().decode().splitlines()[1:]
    for line, (primary, others, cows, level, rule, alerts) in zip(lines, rows, strict=False):
        # A COWS score without opioids in use is listed as ignored (before `missing` .. `decided_by`, empty here).
        ignored = "cows" if cows and "opioids" not in (primary + others).lower() else ""
        assert f",{level},{rule}," in line and line.endswith(f",{alerts},ok,,{ignored},,,,"), line
    assert lines[-1].startswith('cannabis,"opioids;beer",,,,,,error,') and "holds a value that is not one" in lines[-1]


def test_lint_searches_every_selection_its_conditions_tell_apart(multi):
    space = Space(multi)
    assert sorted(space.domains["others"]) == sorted([(), ("alcohol",), ("opioids",), ("alcohol", "opioids")])
    findings = {f.key: f for f in lint(multi)}
    assert "never-fires:plain" not in findings  # it fires when no alcohol is selected
    # `plain` places everyone `mixed` does not, so nothing reaches `otherwise`.
    assert not [k for k in findings if k.startswith("gap")]


def test_lint_finds_a_rule_that_no_selection_reaches(folder):
    text = PACK.replace(
        "  - {id: moud,",
        "  - {id: never, when: \"'other' in others and 'alcohol' not in others\", level: care,"
        " because: Shadowed.}\n  - {id: moud,",
    )
    (folder / "pack.yaml").write_text(text, encoding="utf-8")
    findings = {f.key for f in lint(load_pack(folder))}
    assert "shadowed:never" in findings  # `plain` already places everyone without alcohol


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drugs in ['a']", "`drugs` holds several choices: test one at a time"),
        ("drugs == 'a'", "cannot compare `drugs` (multi-select field)"),
        ("'z' in drugs", "'z' is not a choice of `drugs`"),
        ("kind in drugs", "put one quoted choice before `in`"),
        ("drugs", "is not a yes/no condition"),
    ],
)
def test_conditions_that_misuse_a_selection_are_refused(text, message):
    fields = {"drugs": FieldType("multi", choices=("a", "b")), "kind": FieldType("choice", choices=("a", "b"))}
    with pytest.raises(ExprError) as caught:
        parse(text, fields)
    assert message in caught.value.message


def test_a_multi_select_cannot_be_required_or_computed(tmp_path):
    (tmp_path / "pack.yaml").write_text(
        PACK.replace("label: Others,", "label: Others, required: true,"), encoding="utf-8"
    )
    with pytest.raises(PackError) as caught:
        load_pack(tmp_path)
    assert "unanswered means none of its choices, so it cannot be required" in str(caught.value.problems[0])
