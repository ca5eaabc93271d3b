"""FHIR R4: the Questionnaire, QuestionnaireResponse and Bundle iop writes validate against the FHIR models of a
maintained library (fhir.resources, its R4B models: Questionnaire, QuestionnaireResponse, Bundle, GuidanceResponse and
Parameters are R4's there), their FHIRPath means what the pack's conditions mean (fhirpathpy evaluates them), and
answers round-trip through a QuestionnaireResponse unchanged; `iop check` and `iop score` read them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhirpathpy import evaluate
from fhirpathpy.models import models

from iop_cli.decide.engine import checked, decide
from iop_cli.decide.values import applicable
from iop_cli.exchange import fhir
from iop_cli.pack.build import load_pack

from .conftest import ROOT, accepted_cases, iop_in_process

V1 = ROOT / "tests" / "packs" / "v1"


@pytest.fixture(scope="module")
def default():
    return load_pack(None)


def walk(items):
    for item in items:
        yield item
        yield from walk(item.get("item", []))


@pytest.mark.parametrize("folder", [None, V1])
def test_questionnaire_validates_and_has_every_question(folder):
    pack = load_pack(folder)
    data = fhir.questionnaire(pack)
    Questionnaire.model_validate(data)
    items = {i["linkId"]: i for i in walk(data["item"])}
    assert set(pack.questions) <= set(items)
    assert len(items) == len(pack.questions) + len({q.section for q in pack.questions.values() if q.section})
    for question in pack.asked:
        item = items[question.id]
        assert item["required"] == question.required
        if question.choices:
            codes = [o["valueCoding"]["code"] for o in item["answerOption"]]
            assert codes == [c.value for c in question.choices]


def test_questionnaire_details(default):
    data = fhir.questionnaire(default)
    items = {i["linkId"]: i for i in walk(data["item"])}
    age = {e["url"]: e["valueInteger"] for e in items["age"]["extension"]}
    assert age == {fhir.MIN_VALUE: 12, fhir.MAX_VALUE: 110} and items["age"]["type"] == "integer"
    assert items["other_substances"]["repeats"] is True
    # An instrument is a group; its items are menus of anchors, each with its score.
    group = next(i for i in data["item"] if i["linkId"] == "cows_scale")
    assert group["type"] == "group" and any(i["linkId"] == "cows_pulse" for i in group["item"])
    pulse = items["cows_pulse"]["answerOption"][3]["valueCoding"]
    assert pulse["code"] == "over_120" and pulse["extension"] == [{"url": fhir.ORDINAL_VALUE, "valueDecimal": 4}]
    # A simple ask_if is enableWhen, asked too while the controlling answer is missing (as iop asks it).
    assert items["home_supportive"]["enableBehavior"] == "any"
    assert {"question": "housing", "operator": "exists", "answerBoolean": False} in items["home_supportive"][
        "enableWhen"
    ]
    computed = [q.id for q in default.computed]
    assert computed and all(items[c]["readOnly"] for c in computed)
    assert any(e["url"] == fhir.CALCULATED_EXPRESSION for e in items["cows"]["extension"])


def _enabled(item, response, context) -> bool | None:
    """Whether a FHIR form filler enables `item` for `response`: its enableWhen entries, or its expression."""
    answers = {i["linkId"]: i.get("answer", []) for i in walk(response["item"])}
    if "enableWhen" in item:
        found = []
        for entry in item["enableWhen"]:
            given = answers.get(entry["question"], [])
            if entry["operator"] == "exists":
                found.append(bool(given) == entry["answerBoolean"])
                continue
            ((key, wanted),) = [(k, v) for k, v in entry.items() if k.startswith("answer")]
            values = [a["value" + key[len("answer") :]] for a in given]
            if key == "answerCoding":
                values, wanted = [v["code"] for v in values], wanted["code"]
            ops = {
                "=": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
                ">": lambda a, b: a > b,
                "<": lambda a, b: a < b,
            }
            ops |= {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}
            found.append(any(ops[entry["operator"]](v, wanted) for v in values))
        return any(found)
    for extension in item.get("extension", []):
        if extension["url"] == fhir.ENABLE_WHEN_EXPRESSION:
            got = evaluate(response, extension["valueExpression"]["expression"], context, models["r4"])
            return got == [True]
    return None


def test_fhirpath_means_what_the_pack_means(default):
    """For the pack's own test cases: each question is enabled exactly where iop asks it (its condition holds or
    cannot be decided), and each calculated item gives the value iop computes."""
    data = fhir.questionnaire(default)
    items = {i["linkId"]: i for i in walk(data["item"])}
    checked_conditions = checked_values = 0
    for answers in accepted_cases(default)[::4]:
        values, applies, _ = applicable(default, answers)
        given = {q.id: values[q.id] for q in default.asked if q.id in values and applies.get(q.id) is not False}
        response = fhir.response(default, given)
        context = {"resource": response, "questionnaire": data}
        for question in default.asked:
            if question.ask_if is None:
                continue
            enabled = _enabled(items[question.id], response, context)
            assert enabled == (question.ask_if.evaluate(values) is not False), (question.id, given)
            checked_conditions += 1
        for question in default.computed:
            expression = next(e for e in items[question.id]["extension"] if e["url"] == fhir.CALCULATED_EXPRESSION)
            got = evaluate(response, expression["valueExpression"]["expression"], context, models["r4"])
            want = values.get(question.id)
            got = [float(v) if isinstance(v, Decimal) else v for v in got]
            assert got == ([] if want is None else [want]), (question.id, given)
            checked_values += 1
    assert checked_conditions > 100 and checked_values > 50


def test_answers_round_trip_through_a_questionnaire_response(default):
    found = accepted_cases(default)
    assert len(found) > 100
    for answers in found:
        response = fhir.response(default, answers)
        QuestionnaireResponse.model_validate(response)
        assert checked(default, fhir.answers_from(default, json.loads(json.dumps(response)), "qr")) == answers


def test_check_reads_a_questionnaire_response(tmp_path, default):
    answers = ROOT / "examples" / "answers" / "iop-candidate.yaml"
    from_yaml = iop_in_process("check", "--answers", str(answers), "--format", "json")
    import yaml

    response = fhir.response(default, checked(default, yaml.safe_load(answers.read_text())))
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(response))
    from_fhir = iop_in_process("check", "--answers", str(path), "--format", "json")
    assert from_fhir.returncode == 0, from_fhir.stderr
    assert json.loads(from_fhir.stdout) == json.loads(from_yaml.stdout)


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda r: r["item"][0]["item"].append({"linkId": "agee", "answer": [{"valueInteger": 3}]}),
            "linkId agee: is not a question of the pack (did you mean age?)",
        ),
        (
            lambda r: r["item"][0]["item"][1]["answer"].__setitem__(0, {"valueString": "34"}),
            "linkId age: valueString where valueInteger is expected",
        ),
        (lambda r: r.__setitem__("resourceType", "Observation"), "a Observation, not a QuestionnaireResponse"),
    ],
)
def test_a_response_that_does_not_fit_is_one_line_naming_the_link_id(tmp_path, default, change, message):
    response = fhir.response(default, {"client_id": "A-1", "age": 34, "primary_substance": "alcohol"})
    change(response)
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(response))
    result = iop_in_process("check", "--answers", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


def test_records_export_fhir_is_a_valid_bundle(db, default):
    env = {"IOP_DB": str(db)}
    result = iop_in_process("records", "export", "1", "--format", "fhir", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    Bundle.model_validate(data)
    kinds = [e["resource"]["resourceType"] for e in data["entry"]]
    assert kinds == ["QuestionnaireResponse", "GuidanceResponse", "Parameters"]
    response, guidance, parameters = (e["resource"] for e in data["entry"])
    assert (
        response["status"] == "completed" and guidance["outputParameters"]["reference"] == data["entry"][2]["fullUrl"]
    )
    named = {p["name"]: p for p in parameters["parameter"]}
    assert named["level"]["valueCoding"]["code"] == "iop" and named["rule"]["valueString"] == "iop_mild_moderate"
    assert named["reason"]["valueString"] and named["status"]["valueCode"] == "ok"
    stored = json.loads(iop_in_process("records", "export", "1", env=env).stdout)
    assert checked(default, fhir.answers_from(default, data, "bundle")) == checked(default, stored["answers"])
    draft = json.loads(iop_in_process("records", "export", "2", "--format", "fhir", env=env).stdout)
    Bundle.model_validate(draft)
    assert [e["resource"]["status"] for e in draft["entry"]] == ["in-progress"]
    assert iop_in_process("records", "export", "1", "--format", "fhir", env=env).stdout == result.stdout  # stable


def test_rules_export_fhir_writes_the_questionnaire(tmp_path):
    out = tmp_path / "q.json"
    result = iop_in_process("rules", "export", "--format", "fhir", "-o", str(out))
    assert result.returncode == 0, result.stderr
    Questionnaire.model_validate(json.loads(out.read_text()))


def test_score_reads_questionnaire_responses_as_ndjson_or_a_bundle(tmp_path, default):
    found = [
        a for a in accepted_cases(default)[:60] if any(v not in (None, []) for v in a.values())
    ]  # a blank row: an error
    lines = [json.dumps(fhir.response(default, a, response_id=f"r{i}")) for i, a in enumerate(found)]
    source = tmp_path / "responses.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = iop_in_process("score", str(source), "--format", "jsonl", "-q")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(found))]
    for row, answers in zip(rows, found, strict=True):
        decision = decide(default, answers)
        assert (row["level"], row["rule"], row["status"]) == (decision.level.id, decision.rule, decision.status)
    bundled = tmp_path / "bundle.json"
    entries = [{"resource": json.loads(line)} for line in lines]
    bundled.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, indent=1))
    again = iop_in_process("score", str(bundled), "--input-format", "fhir", "--format", "jsonl", "-q")
    assert again.returncode == 0 and again.stdout == result.stdout
    # A Bundle on one line of NDJSON gives each of its responses; a non-response line is its row's error.
    one_line = tmp_path / "lines.ndjson"
    patient = {"resourceType": "Patient", "id": "p1"}
    compact = json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}, *entries[:3]]}
    )
    one_line.write_text(compact + "\n" + json.dumps(patient) + "\n" + lines[3] + "\n")
    mixed = iop_in_process("score", str(one_line), "--format", "jsonl", "-q")
    assert mixed.returncode == 0, mixed.stderr
    got = [json.loads(line) for line in mixed.stdout.splitlines()]
    assert [r["id"] for r in got] == ["r0", "r1", "r2", "p1", "r3"]
    assert got[3]["status"] == "error" and got[3]["error"] == "a Patient, not a QuestionnaireResponse"
    assert [r["level"] for r in got[:3]] == [r["level"] for r in rows[:3]]
    broken = tmp_path / "broken.ndjson"
    broken.write_text(lines[0] + "\n{not json\n")
    bad = iop_in_process("score", str(broken), "-q")
    assert bad.returncode == 1 and bad.stderr.startswith(f"error: {broken}:2: not JSON")


def _candidate(default) -> dict:
    import yaml

    return checked(default, yaml.safe_load((ROOT / "examples" / "answers" / "iop-candidate.yaml").read_text()))


def _qr_file(tmp_path, default, change=None, name="qr.json"):
    response = fhir.response(default, _candidate(default))
    if change:
        change(response)
    path = tmp_path / name
    path.write_text(json.dumps(response))
    return path, response


def test_a_question_answered_twice_is_refused_not_overwritten(tmp_path, default):
    def twice(response):
        response["item"].append({"linkId": "later", "item": [{"linkId": "ciwa_ar", "answer": [{"valueInteger": 25}]}]})

    path, _ = _qr_file(tmp_path, default, twice)
    result = iop_in_process("check", "--answers", str(path))
    assert result.returncode == 1 and "linkId ciwa_ar: is answered in two items (keep one)" in result.stderr


def test_items_nested_under_an_answer_are_read(tmp_path, default):
    def nest(response):
        for group in response["item"]:
            for item in group["item"]:
                if item["linkId"] == "primary_substance":
                    item["answer"][0]["item"] = [{"linkId": "ciwa_ar", "answer": [{"valueInteger": 25}]}]
        for group in response["item"]:
            group["item"] = [i for i in group["item"] if i["linkId"] != "ciwa_ar"]

    path, _ = _qr_file(tmp_path, default, nest)
    data = json.loads(iop_in_process("check", "--answers", str(path), "--format", "json").stdout)
    assert data["answers"]["ciwa_ar"] == 25 and data["level"]["id"] == "inpatient"


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda r: r.__setitem__("status", "entered-in-error"), "the response is marked entered-in-error"),
        (
            lambda r: r["item"][1]["item"][0]["answer"][0]["valueCoding"].__setitem__(
                "system", "http://snomed.info/sct"
            ),
            "linkId primary_substance: a code of another code system (http://snomed.info/sct)",
        ),
        (
            lambda r: r["item"][0]["item"][1]["answer"].__setitem__(0, {"valueInteger": True}),
            "linkId age: valueInteger holds true or false",
        ),
        (
            lambda r: r["item"][1]["item"][0]["answer"][0]["valueCoding"].pop("code"),
            "linkId primary_substance: a valueCoding without a code",
        ),
    ],
)
def test_responses_that_cannot_stand_are_refused_by_check_and_are_error_rows_in_score(
    tmp_path, default, change, message
):
    path, response = _qr_file(tmp_path, default, change)
    result = iop_in_process("check", "--answers", str(path))
    assert result.returncode == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1
    good = fhir.response(default, {"client_id": "B-2", "age": 40, "primary_substance": "opioids"}, response_id="ok")
    lines = tmp_path / "two.ndjson"
    lines.write_text(json.dumps(response) + "\n" + json.dumps(good) + "\n")
    scored = iop_in_process("score", str(lines), "--format", "jsonl", "-q", "--summary-json", str(tmp_path / "s.json"))
    assert scored.returncode == 0, scored.stderr
    bad_row, good_row = (json.loads(line) for line in scored.stdout.splitlines())
    assert bad_row["status"] == "error" and message.removeprefix("linkId ") in bad_row["error"]
    assert good_row["status"] != "error"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["error_rows"] == {"rows": 1, "first": [1], "counted_as": "line"}


def test_a_value_the_pack_refuses_names_the_file(tmp_path, default):
    def snomed(response):
        response["item"][1]["item"][0]["answer"][0]["valueCoding"]["code"] = "53041004"

    path, _ = _qr_file(tmp_path, default, snomed)
    result = iop_in_process("check", "--answers", str(path))
    assert result.returncode == 1 and result.stderr.startswith(f"error: {path}: primary_substance: ")


def test_score_reads_responses_from_a_pipe(tmp_path, default):
    lines = [json.dumps(fhir.response(default, _candidate(default), response_id=f"r{i}")) for i in range(3)]
    text = "\n".join(lines) + "\n"
    piped = iop_in_process("score", "-", "--input-format", "fhir", "--format", "jsonl", "-q", input=text.encode())
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line)["id"] for line in piped.stdout.splitlines()] == ["r0", "r1", "r2"]


def test_a_response_to_another_questionnaire_is_refused(tmp_path, default):
    path, _ = _qr_file(
        tmp_path, default, lambda r: r.__setitem__("questionnaire", "http://example.org/Questionnaire/phq")
    )
    result = iop_in_process("check", "--answers", str(path))
    assert result.returncode == 1 and "the response answers another questionnaire" in result.stderr


def test_a_decimal_bound_on_a_whole_number_goes_to_fhirpath(tmp_path):
    """`age < 17.5` cannot be an answerInteger: written as enableWhen it would hide the question at 17."""
    pack_dir = tmp_path / "pack"
    assert iop_in_process("rules", "new", str(pack_dir)).returncode == 0
    questions = (pack_dir / "questions.yaml").read_text()
    questions = questions.replace(
        "  - id: daily_use\n",
        "  - id: age\n    type: integer\n    label: Age\n    help: Age in years.\n    min: 0\n    max: 120\n\n"
        "  - id: daily_use\n    ask_if: age < 17.5\n",
    )
    (pack_dir / "questions.yaml").write_text(questions)
    pack = load_pack(str(pack_dir))
    item = {i["linkId"]: i for i in walk(fhir.questionnaire(pack)["item"])}["daily_use"]
    assert "enableWhen" not in item
    [expression] = [
        e["valueExpression"]["expression"] for e in item["extension"] if e["url"] == fhir.ENABLE_WHEN_EXPRESSION
    ]
    context = {"questionnaire": fhir.questionnaire(pack)}
    for age, asked in ((17, True), (18, False), (None, True)):
        response = fhir.response(pack, {} if age is None else {"age": age})
        got = evaluate(response, expression, {**context, "resource": response}, models["r4"])
        assert (got == [True]) == asked, age
