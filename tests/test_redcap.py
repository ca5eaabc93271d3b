"""REDCap: the data dictionary of a pack (the 18 standard columns, branching in REDCap's syntax), its re-import as a
starter pack with the same questions, choices and branching, and `iop score --map` of a raw REDCap export."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from iop_cli.decide.engine import decide
from iop_cli.decide.values import applicable
from iop_cli.exchange import redcap
from iop_cli.pack.build import load_pack

from .conftest import ROOT, accepted_cases, iop_in_process


@pytest.fixture(scope="module")
def default():
    return load_pack(None)


@pytest.fixture(scope="module")
def reimported(default, tmp_path_factory):
    folder = tmp_path_factory.mktemp("redcap")
    dictionary = folder / "dictionary.csv"
    dictionary.write_text(redcap.dictionary(default))
    result = iop_in_process("rules", "import-redcap", str(dictionary), str(folder / "pack"))
    assert result.returncode == 0, result.stderr
    return load_pack(str(folder / "pack")), result.stdout


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_dictionary_has_the_standard_columns_and_a_row_per_field(default):
    text = redcap.dictionary(default)
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == redcap.COLUMNS and len(header) == 18
    found = rows(text)
    assert found[0]["Variable / Field Name"] == "record_id"
    assert [r["Variable / Field Name"] for r in found[1:]] == sorted(
        default.questions, key=[r["Variable / Field Name"] for r in found[1:]].index
    )
    assert {r["Variable / Field Name"] for r in found[1:]} == set(default.questions)
    # Each form's fields are together, as REDCap requires.
    forms = [r["Form Name"] for r in found]
    assert all(forms.index(f) == i or forms[i - 1] == f for i, f in enumerate(forms))
    by_name = {r["Variable / Field Name"]: r for r in found}
    assert by_name["age"]["Text Validation Type OR Show Slider Number"] == "integer"
    assert (by_name["age"]["Text Validation Min"], by_name["age"]["Text Validation Max"]) == ("12", "110")
    assert by_name["other_substances"]["Field Type"] == "checkbox"
    assert by_name["medical_instability"]["Field Type"] == "yesno"
    assert by_name["cows_pulse"]["Choices, Calculations, OR Slider Labels"].startswith("0, 80 or below | 1, 81-100")
    assert by_name["cows"]["Field Type"] == "calc" and "@IOP-TOTAL" in by_name["cows"]["Field Annotation"]
    assert by_name["home_supportive"]["Branching Logic (Show field only if...)"] == (
        "([housing] = '' or [housing] <> 'homeless')"
    )
    # REDCap's logic has no `not`: none is written.
    for row in found:
        logic = row["Branching Logic (Show field only if...)"]
        assert not re.search(r"\bnot\b", logic), row


def test_reimport_gives_the_same_questions_and_choices(default, reimported):
    pack, report = reimported
    assert {q.id for q in pack.asked} == {q.id for q in default.asked}
    for question in default.asked:
        again = pack.questions[question.id]
        assert (again.type, again.label, again.required) == (question.type, question.label, question.required)
        assert [(c.value, c.label, c.score) for c in again.choices] == [
            (c.value, c.label, c.score) for c in question.choices
        ], question.id
        if not question.choices:
            assert (again.min, again.max) == (question.min, question.max), question.id
    assert "note: record_id: REDCap's record id, not a question: left out" in report
    assert "Lint of " in report and "unused-level" in report


def test_reimport_gives_the_same_branching(default, reimported):
    """Each question is asked for exactly the same answers, known or not, in both packs."""
    pack, _ = reimported
    conditioned = [q for q in default.asked if q.ask_if is not None]
    assert conditioned and all(pack.questions[q.id].ask_if is not None for q in conditioned)
    tried = 0
    for answers in accepted_cases(default):
        values, _, _ = applicable(default, answers)
        for question in conditioned:
            again = pack.questions[question.id].ask_if
            assert again is not None
            variants = [values] + [{k: v for k, v in values.items() if k != name} for name in again.names]
            for known in variants:
                full, _, _ = applicable(default, {k: v for k, v in known.items() if k in answers or k not in values})
                asked = question.ask_if.evaluate(full) is not False
                assert (again.evaluate(full) is not False) == asked, (question.id, again.source, full)
                tried += 1
    assert tried > 1000


def raw_export(pack, answers_list: list[dict]) -> str:
    """What REDCap's raw CSV export of the dictionary holds for these answers: record_id, each field's raw code
    (yes/no 1/0, an item's score, a choice's id), one 0/1 column per checkbox choice, and each form's `_complete`."""
    fields = [q for q in pack.asked]
    header = ["record_id"]
    for question in fields:
        if question.type == "multi":
            header += [f"{question.id}___{c}" for c in question.choice_values]
        else:
            header.append(question.id)
    header.append("about_complete")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for number, answers in enumerate(answers_list, start=1):
        row: list[str] = [str(number)]
        for question in fields:
            value = answers.get(question.id)
            if question.type == "multi":
                row += ["1" if c in (value or ()) else "0" for c in question.choice_values]
            elif value is None:
                row.append("")
            elif isinstance(value, bool):
                row.append("1" if value else "0")
            else:
                row.append(str(value))
        row.append("2")
        writer.writerow(row)
    return out.getvalue()


def test_score_reads_a_raw_redcap_export_with_the_generated_map(default, tmp_path):
    found = [a for a in accepted_cases(default) if any(v not in (None, [], ()) for v in a.values())][:80]
    source, mapping = tmp_path / "export.csv", tmp_path / "redcap.map.yaml"
    source.write_text(raw_export(default, found))
    made = iop_in_process(
        "rules", "export", "--format", "redcap", "-o", str(tmp_path / "d.csv"), "--score-map", str(mapping)
    )
    assert made.returncode == 0, made.stderr
    result = iop_in_process("score", str(source), "--map", str(mapping), "--format", "jsonl", "-q")
    assert result.returncode == 0, result.stderr
    scored = [json.loads(line) for line in result.stdout.splitlines()]
    for row, answers in zip(scored, found, strict=True):
        decision = decide(default, answers)
        assert (row["level"], row["rule"], row["status"]) == (decision.level.id, decision.rule, decision.status), row
    # A checkbox cell that is neither 1 nor 0 is the row's error, naming the field.
    bad = source.read_text().replace("\n1,", "\n1,", 1).splitlines()
    columns = bad[0].split(",")
    cells = bad[1].split(",")
    cells[columns.index("other_substances___alcohol")] = "yes"
    source.write_text("\n".join([bad[0], ",".join(cells), *bad[2:]]) + "\n")
    again = iop_in_process("score", str(source), "--map", str(mapping), "--format", "jsonl", "-q")
    first = json.loads(again.stdout.splitlines()[0])
    assert first["status"] == "error" and "other_substances" in first["error"]


def test_map_checkboxes_are_checked_against_the_pack(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("checkboxes:\n  other_substances: {alcohool: a___1}\n  age: {x: y}\n")
    result = iop_in_process("score", str(ROOT / "tests" / "corpus" / "score" / "good.csv"), "--map", str(mapping))
    assert result.returncode == 1
    assert "`alcohool` is not a choice of `other_substances` (did you mean `alcohol`?)" in result.stderr
    assert "`age` is not a multi-select" in result.stderr


FOREIGN = """\
Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation
study_id,screening,,text,Study ID,,,,,,,,,,,,,
name,screening,Screening,text,Name,,,,,,y,,,,,,,
intro,screening,,descriptive,<b>Read this first</b>,,,,,,,,,,,,,
drinks,screening,,radio,How often do you drink?,"0, Never | 1, Monthly or less | 2, Weekly",,,,,,,y,,,,,
drugs,screening,,checkbox,Drugs used,"1, Cannabis | 2, Opioids",,,,,,,,,,,,
weeks,screening,,text,Weeks in treatment,,,integer,0,52,,[drinks] > 0 and [drugs(2)] = '1',,,,,,
why,screening,,notes,Why now?,,,,,,,"datediff([dob], 'today', 'y') > 18",,,,,,
total,screening,,calc,Total,[drinks] + [weeks],,,,,,,,,,,,
"""


def test_import_of_a_dictionary_made_elsewhere(tmp_path):
    dictionary = tmp_path / "study.csv"
    dictionary.write_text(FOREIGN)
    result = iop_in_process("rules", "import-redcap", str(dictionary), str(tmp_path / "pack"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "note: name: REDCap marks it an identifier; iop collects no identifying data: left out" in out
    assert "note: intro: descriptive text, not a question: left out" in out
    assert "note: why: branching logic" in out and "always asked" in out
    pack = load_pack(str(tmp_path / "pack"))
    assert "name" not in pack.questions and "study_id" in pack.questions  # the first field is study_id, not record_id
    drinks = pack.questions["drinks"]
    assert drinks.type == "integer" and [(c.score, c.value) for c in drinks.choices] == [
        (0, "never"),
        (1, "monthly_or_less"),
        (2, "weekly"),
    ]
    assert [c.value for c in pack.questions["drugs"].choices] == ["c1", "c2"]
    assert pack.questions["weeks"].ask_if.source == "drinks > 0 and 'c2' in drugs"
    assert (pack.questions["weeks"].min, pack.questions["weeks"].max) == (0, 52)
    assert pack.questions["total"].computed
    refused = iop_in_process("rules", "import-redcap", str(dictionary), str(tmp_path / "pack"))
    assert refused.returncode == 1 and "exists and is not an empty folder" in refused.stderr
    not_one = tmp_path / "x.csv"
    not_one.write_text("a,b\n1,2\n")
    result = iop_in_process("rules", "import-redcap", str(not_one), str(tmp_path / "other"))
    assert result.returncode == 1 and "not a REDCap data dictionary" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_broken_dictionary_is_every_problem_at_once_never_a_crash(tmp_path):
    header = FOREIGN.splitlines()[0]
    body = [
        "ok_one,f,,text,One,,,,,,,,,,,,,",
        "Bad-Name,f,,text,Two,,,,,,,,,,,,,",
        "ok_one,f,,text,Again,,,,,,,,,,,,,",
        'sex,f,,radio,Sex,"1 Male | 2, Female",,,,,,,,,,,,',
        "dob,f,,text,Date of birth,,,date_ymd,,,,,,,,,,",
        "short,row",
    ]
    dictionary = tmp_path / "odd.csv"
    dictionary.write_text("\n".join([header, *body]) + "\n")
    result = iop_in_process("rules", "import-redcap", str(dictionary), str(tmp_path / "pack"))
    assert result.returncode == 1 and "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(":3: 'Bad-Name' is not a REDCap variable name" in line for line in lines)
    assert any(":4: ok_one is defined again (first on line 2)" in line for line in lines)
    assert any(":5: sex: a choice without `code, label`" in line for line in lines)
    dictionary.write_text("\n".join([header, body[0], body[4], body[5]]) + "\n")
    result = iop_in_process("rules", "import-redcap", str(dictionary), str(tmp_path / "pack2"))
    assert result.returncode == 0, result.stderr
    assert "note: dob: a date or time field: iop asks no dates (and collects no birth dates): left out" in result.stdout


def test_export_of_a_computed_field_redcap_cannot_calculate_is_a_plain_field(tmp_path):
    """A computed yes/no that tests another computed yes/no for `== false`: no REDCap calculation says it exactly,
    so it is a read-only text field with a note, and the export still succeeds."""
    import shutil

    pack_dir = tmp_path / "pack"
    shutil.copytree(ROOT / "rules" / "default", pack_dir)
    shutil.copytree(ROOT / "rules" / "instruments", tmp_path / "instruments")
    questions = (pack_dir / "questions.yaml").read_text()
    questions = questions.replace(
        "  - id: use_frequency\n",
        "  - id: opioids_only\n    type: yesno\n    label: Opioids without alcohol\n"
        "    compute: uses_opioids == false and uses_alcohol\n\n  - id: use_frequency\n",
        1,
    )
    (pack_dir / "questions.yaml").write_text(questions)
    assert iop_in_process("rules", "validate", str(pack_dir)).returncode == 0
    result = iop_in_process("rules", "export", str(pack_dir), "--format", "redcap")
    assert result.returncode == 0, result.stderr
    row = next(r for r in rows(result.stdout) if r["Variable / Field Name"] == "opioids_only")
    assert row["Field Type"] == "text" and row["Field Annotation"].startswith("@READONLY @IOP-NOT-CALCULATED")


def test_a_hand_edited_annotation_is_no_crash(tmp_path):
    header = FOREIGN.splitlines()[0]
    body = [
        'mood,f,,radio,Mood,"low, Low | high, High",,,,,,,,,,,,@IOP-CHOICES=',
        'amount,f,,radio,Amount,"0, None | 1, Some",,,,,,,,,,,,@IOP-CHOICES=',
    ]
    dictionary = tmp_path / "d.csv"
    dictionary.write_text("\n".join([header, *body]) + "\n")
    result = iop_in_process("rules", "import-redcap", str(dictionary), str(tmp_path / "pack"))
    assert result.returncode == 0, result.stderr
    pack = load_pack(str(tmp_path / "pack"))
    assert pack.questions["mood"].type == "choice"
    assert [(c.score, c.value) for c in pack.questions["amount"].choices] == [(0, "none"), (1, "some")]
