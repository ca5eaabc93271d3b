"""REDCap: the pack as a data dictionary (the 18 standard columns), a map for `iop score` of a raw REDCap export of
it, and a data dictionary read back as a starter pack (questions, choices and branching; the rules are the author's).

How the pack's fields become REDCap fields:

- a section is a form (instrument) of its own, its title the section header of its first field; REDCap's record id
  comes first, as `record_id`;
- yes/no is `yesno` (REDCap's codes 1 and 0, which an iop answer accepts); a choice is `radio` with the choice ids
  as codes; a multi-select is `checkbox`; a whole number or a decimal is `text` validated as `integer` or
  `number` with its range; free text is `text`;
- an instrument item (a whole number with scored anchors) is `radio` with the scores as codes, so REDCap can add
  them up; the anchors' own ids are kept in the field annotation (`@IOP-CHOICES=...`) for the way back;
- a computed field is `calc` when it is a number (an instrument total: `@IOP-TOTAL` in the annotation marks a
  total that iop also accepts as given), or a `text` field with REDCap's `@CALCTEXT` otherwise;
- `ask_if` is the branching logic (see `lang.redcap`: shown exactly when iop asks).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from iop_cli.lang.redcap import Fields, LogicError, calculation, literal, shown_if, to_condition, undecided_or
from iop_cli.pack.model import Asked, Computed, Pack, Question
from iop_cli.problems import Problem, ProblemsError

COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
RECORD_ID = "record_id"
CHOICES_TAG = "@IOP-CHOICES="
TOTAL_TAG = "@IOP-TOTAL"


def _scored(question: Question) -> bool:
    return bool(question.scores) and len(set(question.scores)) == len(question.choices)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def dictionary(pack: Pack) -> str:
    """The pack as a REDCap data dictionary (CSV, the 18 standard columns, one row per field). REDCap wants each
    form's fields together: they are grouped by form in the order forms first appear, and a field without a section
    (a computed one) joins the form before it."""
    fields = _fields(pack)
    by_form: dict[str, list[dict[str, str]]] = {}
    form = _variable(pack.name)
    for question in pack.questions.values():
        if question.section:
            form = _variable(question.section)
        row = _row(question, fields)
        row["Form Name"] = form
        if form not in by_form:
            section = pack.sections.get(question.section or "")
            if section is not None:
                row["Section Header"] = section.title
        by_form.setdefault(form, []).append(row)
    rows = [row for group in by_form.values() for row in group]
    first = rows[0]["Form Name"] if rows else _variable(pack.name)
    record = {"Variable / Field Name": RECORD_ID, "Form Name": first, "Field Type": "text", "Field Label": "Record ID"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in [record, *rows]:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return out.getvalue()


def _fields(pack: Pack) -> Fields:
    """The pack's fields for the logic writer: a computed field given by one expression is written in its place."""

    def inline(name: str):
        question = pack.questions.get(name)
        if isinstance(question, Computed) and question.compute.expression is not None:
            return question.compute.expression.root
        return None

    return Fields(lambda name: pack.questions[name].choice_values if name in pack.questions else (), inline)


def _variable(text: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or "intake"
    return name if name[0].isalpha() else "f_" + name


def _row(question: Question, fields: Fields) -> dict[str, str]:
    row = {"Variable / Field Name": question.id, "Field Label": question.label, "Field Note": question.help}
    notes: list[str] = []
    if isinstance(question, Computed):
        try:
            return _computed_row(question, fields, row)
        except ValueError as exc:  # it reads something REDCap's logic cannot (a computed field's blank, say)
            row["Field Type"] = "text"
            row["Field Annotation"] = f"@READONLY @IOP-NOT-CALCULATED ({exc})"
            return row
    else:
        assert isinstance(question, Asked)
        row["Required Field?"] = "y" if question.required else ""
        if question.ask_if is not None:
            try:
                row["Branching Logic (Show field only if...)"] = shown_if(question.ask_if.root, fields)
            except ValueError as exc:  # asked always: more than iop asks, never less
                notes.append(f"@IOP-ALWAYS-SHOWN ({exc})")
        derive = question.derive
        if derive is not None and derive.expression is not None and question.type in ("integer", "number"):
            row.update(
                {
                    "Field Type": "calc",
                    "Choices, Calculations, OR Slider Labels": calculation(derive.expression.root, fields),
                    "Text Validation Min": _number(question.min),
                    "Text Validation Max": _number(question.max),
                }
            )
            notes.append(TOTAL_TAG)
        elif _scored(question):
            row["Field Type"] = "radio"
            row["Choices, Calculations, OR Slider Labels"] = " | ".join(
                f"{c.score}, {c.label}" for c in question.choices
            )
            notes.append(CHOICES_TAG + ",".join(c.value for c in question.choices))
        elif question.type == "yesno":
            row["Field Type"] = "yesno"
        elif question.type in ("choice", "multi") or question.choices:
            row["Field Type"] = "checkbox" if question.type == "multi" else "radio"
            row["Choices, Calculations, OR Slider Labels"] = " | ".join(
                f"{c.value}, {c.label}" for c in question.choices
            )
        elif question.type in ("integer", "number"):
            row.update(
                {
                    "Field Type": "text",
                    "Text Validation Type OR Show Slider Number": question.type,
                    "Text Validation Min": _number(question.min),
                    "Text Validation Max": _number(question.max),
                }
            )
        else:
            row["Field Type"] = "notes" if question.type == "text" and len(question.label) > 80 else "text"
    if notes:
        row["Field Annotation"] = " ".join(notes)
    return row


def _computed_row(question: Computed, fields: Fields, row: dict[str, str]) -> dict[str, str]:
    """A computed field: a `calc` for a number or a yes/no (1 or 0, blank while it cannot be decided), a text field
    with `@CALCTEXT` for a choice. Raises ValueError where REDCap's logic cannot say what it reads."""
    compute = question.compute
    formula = "Choices, Calculations, OR Slider Labels"
    if compute.expression is not None and compute.expression.root.kind == "number":
        row.update({"Field Type": "calc", formula: calculation(compute.expression.root, fields)})
    elif compute.expression is not None:
        row.update({"Field Type": "calc", formula: undecided_or(compute.expression.root, fields, "1", "0")})
    else:
        row.update({"Field Type": "text", "Field Annotation": f"@CALCTEXT({_cases(compute, fields)})"})
    return row


def _cases(compute: Any, fields: Fields) -> str:
    """A computed value's cases as nested REDCap `if`s: the first case that holds gives the value, and a case that
    cannot be decided leaves it blank (as in iop, never a later case's value)."""
    text = "''" if compute.otherwise is None else literal(compute.otherwise)
    for condition, value in reversed(compute.cases):
        text = undecided_or(condition.root, fields, "''" if value is None else literal(value), text)
    return text


def score_map(pack: Pack) -> str:
    """A map for `iop score --map` that reads a raw REDCap export of this dictionary: each checkbox field's
    `field___code` columns (1 ticked, 0 not) as the multi-select; every other field's column has its own name, and
    REDCap's codes are iop's (yes/no as 1/0, choices by id, an item by its score)."""
    lines = [
        "# A raw REDCap export (Data Exports: CSV, raw data) of the dictionary `iop rules export --format redcap`",
        f"# wrote for the pack {pack.name} {pack.version}. REDCap writes one 0/1 column per choice of a checkbox.",
        "checkboxes:",
    ]
    multis = [q for q in pack.asked if q.type == "multi"]
    for question in multis:
        lines.append(f"  {question.id}:")
        for choice in question.choice_values:
            lines.append(f"    {choice}: {question.id}___{_checkbox_code(choice)}")
    if not multis:
        lines[-1] = "checkboxes: {}"
    return "\n".join(lines) + "\n"


def _checkbox_code(code: str) -> str:
    """How REDCap names a checkbox choice's export column: the code, lower case, other characters as `_`."""
    return re.sub(r"[^a-z0-9_]", "_", code.lower())


# ----------------------------------------------------------------------------------------------------------------
# A data dictionary read back as a starter pack


FIELD_TYPES = {"text", "notes", "radio", "dropdown", "checkbox", "yesno", "truefalse", "calc", "descriptive", "slider"}


def import_dictionary(text: str, name: str) -> tuple[dict[str, list], list[str]]:
    """A REDCap data dictionary as the pack's `sections` and `questions` (YAML-ready data), and notes on what was
    left out or changed (the import report). Raises ProblemsError naming the row for a dictionary it cannot read."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    lacking = [c for c in COLUMNS[:6] if c not in header]
    if lacking:
        raise ProblemsError(
            [
                Problem(
                    f"{name}:1",
                    f"not a REDCap data dictionary: no column {lacking[0]!r}",
                    "export it from REDCap: Project Setup > Data Dictionary",
                )
            ]
        )
    rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]  # a short row: blank cells
    for row in rows:
        for column in COLUMNS:
            row.setdefault(column, "")
    notes: list[str] = []
    problems: list[Problem] = []
    seen_fields: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for row in rows:
        kinds[row["Variable / Field Name"].strip()] = _kind(row)
    sections: list[dict[str, str]] = []
    questions: list[dict[str, Any]] = []
    seen_forms: set[str] = set()
    for number, row in enumerate(rows, start=2):
        field = row["Variable / Field Name"].strip()
        where = f"{name}:{number}"
        field_type = row["Field Type"].strip().lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", field):
            hint = "use lower-case letters, digits and _"
            problems.append(Problem(where, f"{field!r} is not a REDCap variable name", hint))
            continue
        if field in seen_fields:
            problems.append(
                Problem(where, f"{field} is defined again (first on line {seen_fields[field]})", "keep one")
            )
            continue
        seen_fields[field] = number
        if number == 2 and field == RECORD_ID:
            notes.append(f"{RECORD_ID}: REDCap's record id, not a question: left out")
            continue
        if (row.get("Identifier?") or "").strip().lower() == "y":
            notes.append(f"{field}: REDCap marks it an identifier; iop collects no identifying data: left out")
            kinds.pop(field, None)
            continue
        if field_type not in FIELD_TYPES:
            notes.append(f"{field}: a {field_type or 'blank'} field has no iop question type: left out")
            kinds.pop(field, None)
            continue
        if field_type == "descriptive":
            notes.append(f"{field}: descriptive text, not a question: left out")
            kinds.pop(field, None)
            continue
        form = _variable(row["Form Name"].strip() or "intake")
        if form not in seen_forms:
            seen_forms.add(form)
            title = (row.get("Section Header") or "").strip() or form.replace("_", " ").capitalize()
            sections.append({"id": form, "title": _plain(title)})
        try:
            question = _question(row, field, field_type, form, kinds, notes, where)
        except ProblemsError as exc:
            problems.extend(exc.problems)
            continue
        if question is not None:
            questions.append(question)
    if problems:
        raise ProblemsError(problems)
    if not questions:
        raise ProblemsError([Problem(name, "no question could be read from the dictionary", "check the file")])
    return {"sections": sections, "questions": questions}, notes


def _kind(row: dict[str, str]) -> str:
    field_type = row["Field Type"].strip().lower()
    validation = (row.get("Text Validation Type OR Show Slider Number") or "").strip().lower()
    annotation = row.get("Field Annotation") or ""
    if field_type in ("yesno", "truefalse"):
        return "yesno"
    if field_type == "checkbox":
        return "multi"
    if field_type in ("radio", "dropdown"):
        codes = [code for code, _ in _choices(row["Choices, Calculations, OR Slider Labels"])]
        if codes and all(re.fullmatch(r"-?\d+", c) for c in codes):  # scores (an iop item, or any numeric menu)
            return "integer"
        return "choice"
    if field_type == "calc" or field_type == "slider" or validation == "integer":
        return "integer" if field_type != "calc" or TOTAL_TAG in annotation else "number"
    if validation.startswith("number"):
        return "number"
    return "text"


def _choices(text: str) -> list[tuple[str, str]]:
    found = []
    for part in (text or "").split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            found.append((code.strip(), label.strip() or code.strip()))
    return found


def _plain(text: str) -> str:
    """Label text without REDCap's HTML (bold, line breaks): the pack's texts are plain."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def _question(
    row: dict[str, str], field: str, field_type: str, form: str, kinds: dict[str, str], notes: list[str], where: str
) -> dict[str, Any] | None:
    kind = _kind(row)
    label = _plain(row["Field Label"]) or field
    question: dict[str, Any] = {"id": field, "section": form}
    help_text = _plain(row.get("Field Note") or "")
    annotation = row.get("Field Annotation") or ""
    if field_type == "calc":
        formula = row["Choices, Calculations, OR Slider Labels"].strip()
        try:
            expression = _calculation(formula, kinds)
        except LogicError as exc:
            shown = formula if len(formula) <= 60 else formula[:57] + "..."
            notes.append(f"{field}: calculation `{shown}` cannot be read ({exc}): left out")
            kinds.pop(field, None)
            return None
        if TOTAL_TAG in annotation:  # an instrument total iop accepts as given too
            question.update({"type": "integer", "label": label, "required": False, "derive": expression})
            for key in ("min", "max"):
                bound = (row.get(f"Text Validation {key.capitalize()}") or "").strip()
                if re.fullmatch(r"-?\d+", bound):
                    question[key] = int(bound)
        else:
            question.update({"type": kind, "label": label, "compute": expression})
            notes.append(f"{field}: a calculated field: computed by the pack, never asked")
            return question
    elif "@CALCTEXT" in annotation:
        notes.append(f"{field}: a @CALCTEXT field: REDCap's text calculations are not read; left out")
        kinds.pop(field, None)
        return None
    elif (row.get("Text Validation Type OR Show Slider Number") or "").strip().lower().startswith(("date", "time")):
        notes.append(f"{field}: a date or time field: iop asks no dates (and collects no birth dates): left out")
        kinds.pop(field, None)
        return None
    else:
        question.update({"type": kind, "label": label})
        if field_type in ("radio", "dropdown", "checkbox"):
            text = row["Choices, Calculations, OR Slider Labels"]
            found = _choices(text)
            if not found:
                raise ProblemsError(
                    [Problem(where, f"{field}: a {field_type} field without choices", "add its choices")]
                )
            if any("," not in part for part in text.split("|") if part.strip()):
                hint = "write each as `code, label`"
                raise ProblemsError([Problem(where, f"{field}: a choice without `code, label`", hint)])
            codes = [code for code, _ in found]
            if len(set(codes)) != len(codes) or len({_choice_id(c) for c in codes}) != len(codes):
                hint = "give each its own code"
                raise ProblemsError([Problem(where, f"{field}: two choices have the same code", hint)])
            if kind == "integer":
                tagged = annotation.split(CHOICES_TAG, 1)[1].split() if CHOICES_TAG in annotation else []
                words = tagged[0].split(",") if tagged else []
                if len(words) != len(found):
                    words = [_word(label_text, code) for code, label_text in found]
                question["choices"] = [
                    {"score": int(code), "value": word, "label": _plain(text)}
                    for (code, text), word in zip(found, words, strict=True)
                ]
            else:
                question["choices"] = [{"value": _choice_id(code), "label": _plain(text)} for code, text in found]
        validation_min = (row.get("Text Validation Min") or "").strip()
        validation_max = (row.get("Text Validation Max") or "").strip()
        if kind in ("integer", "number") and "choices" not in question:
            if field_type == "slider":
                validation_min, validation_max = validation_min or "0", validation_max or "100"
            for key, bound in (("min", validation_min), ("max", validation_max)):
                if bound:
                    try:
                        question[key] = int(bound) if kind == "integer" else float(bound)
                    except ValueError:
                        notes.append(f"{field}: its {key} {bound!r} is not a number: left out")
        question["required"] = (row.get("Required Field?") or "").strip().lower() == "y"
    if help_text:
        question["help"] = help_text
    logic = (row.get("Branching Logic (Show field only if...)") or "").strip()
    if logic and (f"[{field}]" in logic or f"[{field}(" in logic):
        notes.append(f"{field}: its branching logic reads the field itself: always asked")
    elif logic:
        try:
            question["ask_if"] = to_condition(logic, kinds.get, lambda _, code: _choice_id(code))
        except LogicError as exc:
            shown = logic if len(logic) <= 60 else logic[:57] + "..."
            notes.append(f"{field}: branching logic `{shown}` cannot be read ({exc}): always asked")
    return question


def _calculation(formula: str, kinds: dict[str, str]) -> str:
    """A REDCap calculation of + and - over fields and numbers, in the pack's language (which has no functions)."""
    text = formula.strip()
    if not re.fullmatch(r"[\s\[\]a-z0-9_+\-().]*", text):
        raise LogicError("only + and - over fields and numbers are read")
    names = re.findall(r"\[([a-z][a-z0-9_]*)\]", text)
    unknown = [n for n in names if n not in kinds]
    if unknown:
        raise LogicError(f"[{unknown[0]}] is not a field of this dictionary")
    if re.search(r"[a-z_]\s*\(", re.sub(r"\[[^\]]*\]", "x", text)):
        raise LogicError("it calls a function")
    return re.sub(r"\[([a-z][a-z0-9_]*)\]", r"\1", text)


def _choice_id(code: str) -> str:
    """A choice code as a pack choice id (a REDCap code may start with a digit or hold a dash)."""
    word = re.sub(r"[^a-z0-9_]", "_", code.lower())
    return word if word[:1].isalpha() else "c" + word


def _word(label: str, code: str) -> str:
    """An anchor's id from its label, for a dictionary not written by iop: `Not at all` -> `not_at_all`."""
    word = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40].strip("_")
    return (word if word[:1].isalpha() else f"score_{code}".replace("-", "minus_")) or f"score_{code}"
