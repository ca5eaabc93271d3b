"""FHIR R4: the pack as a `Questionnaire`, an intake as a `QuestionnaireResponse`, a recommendation as a
`GuidanceResponse` with its `Parameters`, in a `Bundle`; and a QuestionnaireResponse read back as answers.

Plain dicts in, plain dicts out (JSON as FHIR writes it): the tool imports no FHIR library; the tests validate what
is written here with one (`tests/test_fhir.py`).

One difference of meaning is handled here. FHIR's `enableWhen` disables a question whose controlling question has no
answer; iop asks it (an `ask_if` that cannot be decided yet does not hide a question, so nothing a safety rule reads
is skipped for want of an earlier answer). So a condition `x == v` becomes `enableWhen` "x = v" or "x has no
answer" (`enableBehavior: any`); a condition `enableWhen` cannot say is an `enableWhenExpression` in FHIRPath that
holds when the condition holds or cannot be decided.
"""

from __future__ import annotations

import math
import re
from typing import Any

from iop_cli.lang import tree
from iop_cli.lang.fhirpath import fhirpath
from iop_cli.pack.model import Asked, Computed, Pack, Question
from iop_cli.problems import Problem, ProblemsError

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
ENABLE_WHEN_EXPRESSION = SDC + "sdc-questionnaire-enableWhenExpression"
CALCULATED_EXPRESSION = SDC + "sdc-questionnaire-calculatedExpression"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_TYPES = {"yesno": "boolean", "integer": "integer", "number": "decimal", "choice": "choice", "multi": "choice"}


def canonical(pack: Pack) -> str:
    """The Questionnaire's canonical URL: a URN of the pack's name (a center's own pack names itself)."""
    return f"urn:iop-cli:questionnaire:{_token(pack.name)}"


def code_system(pack: Pack, field: str) -> str:
    """The code system of a question's choices: the pack's own (its choice ids are its codes)."""
    return f"urn:iop-cli:{_token(pack.name)}:{field}"


def _token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]", "-", text) or "pack"


def _scored(question: Question) -> bool:
    """An instrument item: a whole-number question whose choices carry scores (a menu of anchors, never a number
    to type); in FHIR a choice of codings, each with its score as `ordinalValue`."""
    return bool(question.scores)


def item_type(question: Question) -> str:
    if _scored(question):
        return "choice"
    return ITEM_TYPES.get(question.type, "string")


# ----------------------------------------------------------------------------------------------------------------
# The pack as a Questionnaire


def questionnaire(pack: Pack) -> dict[str, Any]:
    """The pack as a FHIR R4 Questionnaire: a group per section (an instrument is a section of its own), an item per
    asked question (`linkId` = field id), and an item per computed field (read-only, `calculatedExpression`)."""
    groups: dict[str, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for question in pack.questions.values():
        item = _item(pack, question)
        section = pack.sections.get(question.section or "")
        if section is None:
            top.append(item)
            continue
        if section.id not in groups:
            group: dict[str, Any] = {"linkId": _group_id(pack, section.id), "text": section.title, "type": "group"}
            groups[section.id] = group
            top.append(group)
        groups[section.id].setdefault("item", []).append(item)
    return {
        "resourceType": "Questionnaire",
        "id": _resource_id(pack.name),
        "url": canonical(pack),
        "version": pack.version,
        "name": _computable_name(pack.name),
        "title": pack.description or pack.name,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"The questions of the iop-cli rule pack {pack.name} {pack.version} ({pack.hash[:12]}).",
        "item": top,
    }


def _group_id(pack: Pack, section: str) -> str:
    """A section's linkId: its id, unless a question has that id too."""
    return f"section-{section}" if section in pack.questions else section


def _resource_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-.]", "-", name)[:64] or "pack"


def _computable_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words if w)
    return text if text[:1].isalpha() else "Pack" + text


def _item(pack: Pack, question: Question) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": question.id, "text": question.label, "type": item_type(question)}
    extensions: list[dict[str, Any]] = []
    if isinstance(question, Computed):
        item["readOnly"] = True
        extensions.append(_expression(CALCULATED_EXPRESSION, _compute_path(pack, question)))
    else:
        assert isinstance(question, Asked)
        item["required"] = question.required
        if question.derive is not None:  # a total that may also be given directly
            extensions.append(_expression(CALCULATED_EXPRESSION, _derive_path(pack, question)))
        if question.ask_if is not None:
            simple = _enable_when(pack, question.ask_if.root)
            if simple is not None:
                item["enableWhen"] = simple
                item["enableBehavior"] = "any"
            else:
                condition = fhirpath(question.ask_if.root, lambda name: _value_path(pack, name))
                # Asked when the condition holds or cannot be decided yet, as in iop.
                extensions.append(_expression(ENABLE_WHEN_EXPRESSION, f"({condition}).empty() or {condition}"))
    if question.type == "multi":
        item["repeats"] = True
    if question.type in ("integer", "number") and not _scored(question):
        kind = "valueInteger" if question.type == "integer" else "valueDecimal"
        for url, bound in ((MIN_VALUE, question.min), (MAX_VALUE, question.max)):
            if bound is not None:
                extensions.append({"url": url, kind: int(bound) if question.type == "integer" else float(bound)})
    if question.choices and item["type"] == "choice":
        item["answerOption"] = [_option(pack, question, choice) for choice in question.choices]
    if extensions:
        item["extension"] = extensions
    return item


def _option(pack: Pack, question: Question, choice: Any) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": code_system(pack, question.id), "code": choice.value, "display": choice.label}
    if choice.score is not None:
        coding["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": choice.score}]
    return {"valueCoding": coding}


def _expression(url: str, text: str) -> dict[str, Any]:
    return {"url": url, "valueExpression": {"language": "text/fhirpath", "expression": text}}


def _answer(name: str) -> str:
    return f"%resource.repeat(item).where(linkId='{name}').answer.value"


def _value_path(pack: Pack, name: str) -> str:
    """The FHIRPath of a field's value in the response: a choice's code, an item's score (the `ordinalValue` of the
    chosen anchor, looked up in the Questionnaire), a computed field's own expression, or the answer itself."""
    question = pack.questions[name]
    if isinstance(question, Computed):
        return f"({_compute_path(pack, question)})"
    if _scored(question):
        options = f"%questionnaire.repeat(item).where(linkId='{name}').answerOption.valueCoding"
        return f"{options}.where(code = {_answer(name)}.code).extension('{ORDINAL_VALUE}').value"
    if question.type in ("choice", "multi"):
        return f"{_answer(name)}.code"
    return _answer(name)


def _compute_path(pack: Pack, question: Computed) -> str:
    compute = question.compute
    return _cases_path(pack, compute.expression, compute.cases, compute.otherwise)


def _derive_path(pack: Pack, question: Asked) -> str:
    derive = question.derive
    assert derive is not None
    return _cases_path(pack, derive.expression, derive.cases, derive.otherwise)


def _cases_path(pack: Pack, expression: Any, cases: Any, otherwise: Any) -> str:
    """A computed value: its expression, or its cases tried in order; a case that cannot be decided leaves the value
    unknown (empty), never a later case's value."""
    from iop_cli.lang.fhirpath import literal

    def value(name: str) -> str:
        return _value_path(pack, name)

    if expression is not None:
        return fhirpath(expression.root, value)
    text = "{}" if otherwise is None else literal(otherwise)
    for condition, result in reversed(cases):
        test = fhirpath(condition.root, value)
        shown = "{}" if result is None else literal(result)
        text = f"iif(({test}).empty(), {{}}, iif({test}, {shown}, {text}))"
    return text


def _enable_when(pack: Pack, node: tree.Node) -> list[dict[str, Any]] | None:
    """`enableWhen` entries (any of them enables) for a condition they can say: one asked question compared with a
    value, or a choice among values; each with "or it has no answer", as iop asks then. None for any other."""
    if isinstance(node, tree.Compare) and isinstance(node.left, tree.Ref) and isinstance(node.right, tree.Lit):
        ref, values, op = node.left, [node.right.value], node.op
    elif isinstance(node, tree.Member) and not node.negate and isinstance(node.operand, tree.Ref):
        ref, values, op = node.operand, list(node.values), "=="
    elif isinstance(node, tree.Has) and not node.negate:
        ref, values, op = node.field, [node.value], "=="
    else:
        return None
    question = pack.questions.get(ref.name)
    if question is None or isinstance(question, Computed) or _scored(question) or question.derive is not None:
        return None
    if question.type == "integer" and any(not float(v).is_integer() for v in values):
        return None  # `age < 17.5`: answerInteger cannot hold it; the FHIRPath expression is exact
    operator = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[op]
    entries = [{"question": ref.name, "operator": operator, **_answer_value(pack, question, v)} for v in values]
    if question.type != "multi":  # an unanswered multi-select is the empty selection: never unknown
        entries.append({"question": ref.name, "operator": "exists", "answerBoolean": False})
    return entries


def _answer_value(pack: Pack, question: Question, value: Any) -> dict[str, Any]:
    """An answer as FHIR's `value[x]` (the `answer[x]` of enableWhen uses the same names with `answer`)."""
    found = _value(pack, question, value)
    ((key, inner),) = found.items()
    return {"answer" + key[len("value") :]: inner}


def _value(pack: Pack, question: Question, value: Any) -> dict[str, Any]:
    if question.type == "yesno":
        return {"valueBoolean": bool(value)}
    if _scored(question):
        choice = next((c for c in question.choices if c.score == value), None)
        if choice is None:  # a score no anchor has (the interview never gives one): kept as the number itself
            return {"valueInteger": int(value)}
        return {
            "valueCoding": {"system": code_system(pack, question.id), "code": choice.value, "display": choice.label}
        }
    if question.type in ("choice", "multi"):
        label = next((c.label for c in question.choices if c.value == value), str(value))
        return {"valueCoding": {"system": code_system(pack, question.id), "code": str(value), "display": label}}
    if question.type == "integer":
        return {"valueInteger": int(value)}
    if question.type == "number":
        return {"valueDecimal": float(value)}
    return {"valueString": str(value)}


# ----------------------------------------------------------------------------------------------------------------
# Answers as a QuestionnaireResponse, and back


def response(
    pack: Pack,
    answers: dict[str, Any],
    *,
    authored: str | None = None,
    response_id: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """Answers (field id -> value, as `iop check` reads them) as a QuestionnaireResponse whose items follow the
    Questionnaire's groups. Unanswered questions have no item; a multi-select has one answer per choice."""
    groups: dict[str, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for question in pack.asked:
        value = answers.get(question.id)
        if value is None or (question.type == "multi" and not value):
            continue
        values = list(value) if question.type == "multi" else [value]
        item = {"linkId": question.id, "answer": [_value(pack, question, v) for v in values]}
        section = pack.sections.get(question.section or "")
        if section is None:
            top.append(item)
            continue
        if section.id not in groups:
            groups[section.id] = {"linkId": _group_id(pack, section.id), "item": []}
            top.append(groups[section.id])
        groups[section.id]["item"].append(item)
    found: dict[str, Any] = {"resourceType": "QuestionnaireResponse"}
    if response_id:
        found["id"] = response_id
    found.update({"questionnaire": f"{canonical(pack)}|{pack.version}", "status": status})
    if authored:
        found["authored"] = authored
    found["item"] = top
    return found


def answers_from(pack: Pack, resource: Any, where: str) -> dict[str, Any]:
    """The answers a QuestionnaireResponse holds (or the one a Bundle holds), as an answers file gives them: codes
    for choices, true/false, numbers, a list for a multi-select. Every problem is named by its linkId; the values are
    then checked by the pack like any answers file's. Refused: a response entered in error, an answer to no question
    of the pack, a question answered in two places, a value of another type than its question's, a coding of
    another code system."""
    return read_response(pack, the_response(resource, where), where)


def read_response(pack: Pack, resource: dict[str, Any], where: str) -> dict[str, Any]:
    """`answers_from` for a QuestionnaireResponse."""
    problems: list[Problem] = []
    answers: dict[str, Any] = {}
    if resource.get("status") == "entered-in-error":
        raise ProblemsError([Problem(where, "the response is marked entered-in-error", "score a response that stands")])
    answered = resource.get("questionnaire")
    if isinstance(answered, str) and answered.split("|")[0] != canonical(pack):
        # Another form's answers may share linkIds (age, pregnant) and mean something else.
        hint = f"answer {canonical(pack)} (iop rules export --format fhir), or leave `questionnaire` out"
        raise ProblemsError([Problem(where, f"the response answers another questionnaire ({answered[:80]})", hint)])
    seen: set[str] = set()

    def walk(items: Any) -> None:
        if not isinstance(items, list):
            problems.append(Problem(where, "`item` must be a list", "check the QuestionnaireResponse"))
            return
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
                problems.append(Problem(where, "an item without a linkId", "give every item its linkId"))
                continue
            link = item["linkId"]
            if "item" in item:
                walk(item["item"])
            answered = item.get("answer")
            if answered is None:
                continue
            if not isinstance(answered, list):
                problems.append(Problem(f"{where}: linkId {link}", "`answer` must be a list", "check the response"))
                continue
            for answer in answered:  # items nested under an answer (FHIR allows them) are read like any others
                if isinstance(answer, dict) and "item" in answer:
                    walk(answer["item"])
            question = pack.questions.get(link)
            if isinstance(question, Computed):
                continue  # a calculated item: iop computes it itself
            if question is None:
                problems.append(Problem(f"{where}: linkId {link}", "is not a question of the pack", _near(pack, link)))
                continue
            if link in seen:  # the same question answered in two places: which one stands is not known
                problems.append(Problem(f"{where}: linkId {link}", "is answered in two items", "keep one"))
                continue
            seen.add(link)
            values = []
            for answer in answered:
                got = _read_value(pack, question, answer)
                if isinstance(got, Problem):
                    problems.append(Problem(f"{where}: linkId {link}", got.message, got.hint))
                else:
                    values.append(got)
            if question.type == "multi":
                answers[link] = values
            elif len(values) > 1:
                problems.append(Problem(f"{where}: linkId {link}", "has more than one answer", "give one answer"))
            elif values:
                answers[link] = values[0]

    walk(resource.get("item", []))
    if problems:
        raise ProblemsError(problems)
    return answers


def the_response(resource: Any, where: str) -> dict[str, Any]:
    """The QuestionnaireResponse a document is, or the one a Bundle holds (other entries, a Patient say, are left
    aside); a Bundle with several is refused here (`iop score` takes each as a row)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
        found = responses_in(resource)
        if len(found) != 1:
            how = "no QuestionnaireResponse" if not found else f"{len(found)} QuestionnaireResponses"
            hint = "export one with its answers" if not found else "score them with iop score --input-format fhir"
            raise ProblemsError([Problem(where, f"the Bundle holds {how}", hint)])
        return found[0]
    if not isinstance(resource, dict) or resource.get("resourceType") != "QuestionnaireResponse":
        kind = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise ProblemsError(
            [Problem(where, f"a {kind}, not a QuestionnaireResponse", "give the QuestionnaireResponse of an intake")]
        )
    return resource


def responses_in(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The QuestionnaireResponses of a Bundle's entries, in order."""
    found = []
    for entry in bundle.get("entry") or []:
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict) and inner.get("resourceType") == "QuestionnaireResponse":
            found.append(inner)
    return found


def _near(pack: Pack, link: str) -> str:
    import difflib

    close = difflib.get_close_matches(link, [q.id for q in pack.asked], n=1)
    return f"did you mean {close[0]}?" if close else "answer the pack's questions (iop rules export --format fhir)"


_VALUE_KEYS = ("valueBoolean", "valueInteger", "valueDecimal", "valueString", "valueCoding")


def _read_value(pack: Pack, question: Question, answer: Any) -> Any:
    """One `answer` as the value an answers file would hold, or the Problem with it (its linkId added by the
    caller)."""
    kinds = [k for k in _VALUE_KEYS if isinstance(answer, dict) and k in answer]
    wanted = {
        "boolean": "valueBoolean",
        "integer": "valueInteger",
        "decimal": "valueDecimal",
        "choice": "valueCoding",
    }.get(item_type(question), "valueString")
    if len(kinds) != 1:
        return Problem("", f"an answer must have one value ({wanted} here)", "check the answer")
    kind, value = kinds[0], answer[kinds[0]]
    if kind == "valueCoding":
        if question.type not in ("choice", "multi") and not _scored(question):
            return Problem("", f"a valueCoding where {wanted} is expected", "answer with the item's own type")
        if not isinstance(value, dict) or not isinstance(value.get("code"), str):
            return Problem("", "a valueCoding without a code", "give the choice's code")
        system = value.get("system")
        if system is not None and system != code_system(pack, question.id):
            return Problem(
                "", f"a code of another code system ({str(system)[:60]})", f"use {code_system(pack, question.id)}"
            )
        return value["code"]
    if wanted == "valueCoding" and kind == "valueInteger" and _scored(question) and _is_int(value):
        return value  # an item's score given as the number itself
    if kind != wanted and not (kind == "valueInteger" and wanted == "valueDecimal"):
        return Problem("", f"{kind} where {wanted} is expected", "answer with the item's own type")
    fits = {
        "valueBoolean": isinstance(value, bool),
        "valueInteger": _is_int(value),
        "valueDecimal": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        "valueString": isinstance(value, str),
    }[kind]
    if not fits:
        return Problem("", f"{kind} holds {json_type(value)}", f"give {kind} its own kind of value")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """What kind of JSON value this is, in words (never the value: it is an answer)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "null"


# ----------------------------------------------------------------------------------------------------------------
# A stored intake as a Bundle


def bundle(
    pack: Pack,
    answers: dict[str, Any],
    report: dict[str, Any] | None,
    *,
    record_id: int,
    authored: str,
    client_id: str | None,
) -> dict[str, Any]:
    """A `collection` Bundle of the intake's QuestionnaireResponse and, for a finished intake, the recommendation: a
    GuidanceResponse (the result of evaluating a decision-support rule set on these answers) whose output is a
    Parameters resource holding the level, the rule, the reason, the status, the alerts and the missing answers."""
    response_id = f"intake-{record_id}"
    status = "in-progress" if report is None else "completed"  # a draft's answers so far
    found = response(pack, answers, authored=authored, response_id=response_id, status=status)
    if client_id:
        found["identifier"] = {"system": "urn:iop-cli:client-id", "value": client_id}
    entries = [{"fullUrl": f"urn:uuid:{_uuid(pack, record_id, 'qr')}", "resource": found}]
    if report is not None:
        parameters_url = f"urn:uuid:{_uuid(pack, record_id, 'parameters')}"
        level = report["level"]
        status = report["status"]
        guidance = {
            "resourceType": "GuidanceResponse",
            "id": f"recommendation-{record_id}",
            "moduleUri": f"urn:iop-cli:pack:{_token(report['pack']['name'])}:{report['pack']['version']}",
            "status": "data-required" if report.get("missing") and status == "review" else "success",
            "occurrenceDateTime": authored,
            "reasonReference": [{"reference": f"urn:uuid:{_uuid(pack, record_id, 'qr')}"}],
            "note": [{"text": report.get("reason") or ""}, {"text": report.get("disclaimer") or ""}],
            "outputParameters": {"reference": parameters_url},
        }
        params: list[dict[str, Any]] = [
            {
                "name": "level",
                "valueCoding": {
                    "system": f"urn:iop-cli:{_token(pack.name)}:level",
                    "code": level["id"],
                    "display": level["name"],
                },
            },
            {"name": "status", "valueCode": status},
            {
                "name": "pack",
                "valueString": f"{report['pack']['name']} {report['pack']['version']} {report['pack']['hash']}",
            },
        ]
        if report.get("rule"):
            params.append({"name": "rule", "valueString": report["rule"]})
        if report.get("reason"):
            params.append({"name": "reason", "valueString": report["reason"]})
        for alert in report.get("alerts") or []:
            params.append(
                {
                    "name": "alert",
                    "part": [
                        {"name": "id", "valueString": alert["id"]},
                        {"name": "severity", "valueString": alert["severity"]},
                        {"name": "message", "valueString": alert["message"]},
                    ],
                }
            )
        for name in report.get("missing") or []:
            params.append({"name": "missing", "valueString": name})
        entries.append({"fullUrl": f"urn:uuid:{_uuid(pack, record_id, 'guidance')}", "resource": guidance})
        entries.append({"fullUrl": parameters_url, "resource": {"resourceType": "Parameters", "parameter": params}})
    return {"resourceType": "Bundle", "type": "collection", "timestamp": authored, "entry": entries}


def _uuid(pack: Pack, record_id: int, part: str) -> str:
    """A stable UUID for one part of one record's export: the same record exports the same Bundle."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{canonical(pack)}/{record_id}/{part}"))
