"""Column mappings for `iop score --map FILE`: how a CSV export's columns and codes become the pack's fields.

    columns:     {field: input column}           # rename; a multi-select may join several: [SUB2, SUB3]
    values:      {field: {input code: value}}    # recode (a code not listed is an error); numeric codes match as
                                                 # numbers ("5.0" is 5); null = unanswered;
                                                 # a list = one of these values, not known which (a value set)
    missing:     [codes]                         # codes that mean "unanswered" in every mapped column, e.g. -9
    derive:      {field: {cases: [{when: CONDITION, value: V}], otherwise: V}}   # from input columns, read as numbers
    unanswered:  [fields]                        # fields this file does not have: scored as unanswered, not an error
    checkboxes:  {field: {choice: input column}} # a multi-select as one 0/1 column per choice (REDCap's `field___code`)

Loading checks everything against the pack and reports every problem with file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iop_cli.lang import expr
from iop_cli.pack.answers import BadValue, coerce, shown
from iop_cli.pack.model import Pack
from iop_cli.pack.source import Src
from iop_cli.problems import Problem, ProblemsError, did_you_mean

KEYS = ("columns", "values", "missing", "derive", "unanswered", "checkboxes")
MAX_MEMBERS = 62  # the values a field's lists may name in all (a row's set is a bit mask)


@dataclass
class Derived:
    cases: list[tuple[expr.Expr, Any]]
    otherwise: Any
    columns: tuple[str, ...]  # the input columns the conditions read


class OneOf(tuple):
    """A code that says an answer is one of these values, not which (TEDS-A's DSMCRIT "dependence": 4 or more DSM-5
    criteria). The field counts as unanswered; the exact missing-answer rule fills it from these values only."""


@dataclass
class Mapping:
    path: str = ""
    columns: dict[str, str | tuple[str, ...]] = field(default_factory=dict)  # a tuple: a multi-select's columns
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    derive: dict[str, Derived] = field(default_factory=dict)
    unanswered: tuple[str, ...] = ()
    checkboxes: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {choice: its 0/1 column}

    def members(self, field_id: str) -> list[Any]:
        """Every value some code of this field's value sets names, in first-seen order (a set's bits index it)."""
        found: dict[Any, None] = {}
        for value in self.values.get(field_id, {}).values():
            if isinstance(value, OneOf):
                found.update(dict.fromkeys(value))
        return list(found)


def code_key(value: Any) -> str:
    """A code as text, with numbers written the same way however they were typed: 5, 5.0 and "5.0" are "5"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer():
        return str(int(number))
    return repr(number)


def load_mapping(path: str, pack: Pack) -> Mapping:
    from iop_cli.files import read_text
    from iop_cli.pack.source import load

    text, name = read_text(path)
    doc = load(text, name)
    if doc is None or not isinstance(doc.value, dict):
        where = str(doc.mark) if doc else name
        raise ProblemsError([Problem(where, "a mapping file must be a YAML mapping", "see examples/teds-a.map.yaml")])
    return _MapLoader(pack, name).load(doc)


class _MapLoader:
    def __init__(self, pack: Pack, name: str):
        self.pack = pack
        self.name = name
        self.problems: list[Problem] = []
        self.asked = {q.id: q for q in pack.asked}

    def problem(self, mark, message: str, hint: str = "") -> None:
        self.problems.append(Problem(str(mark), message, hint))

    def field_id(self, key: str, mark) -> bool:
        if key in self.asked:
            return True
        if key in self.pack.questions:
            self.problem(mark, f"`{key}` is computed by the pack and cannot be mapped", "map the fields it reads")
        else:
            self.problem(mark, f"unknown field `{key}`", did_you_mean(key, self.asked) or "use the pack's field ids")
        return False

    def mapping_of(self, src: Src | None, what: str) -> dict[str, Src]:
        if src is None or src.value is None:
            return {}
        if not isinstance(src.value, dict):
            self.problem(src.mark, f"`{what}` must be a mapping")
            return {}
        return src.value

    def load(self, doc: Src) -> Mapping:
        result = Mapping(path=self.name)
        for key, mark in doc.keys.items():
            if key not in KEYS:
                self.problem(mark, f"unknown key `{key}`", did_you_mean(key, KEYS) or f"allowed: {', '.join(KEYS)}")
        top = doc.value
        for key, src in self.mapping_of(top.get("columns"), "columns").items():
            if self.field_id(key, doc.value["columns"].keys[key]):
                joined = self.joined(key, src)
                if joined is not None:
                    result.columns[key] = joined
                elif not isinstance(src.value, str) or not src.value.strip():
                    self.problem(src.mark, f"columns: `{key}` must name an input column")
                else:
                    result.columns[key] = src.value.strip()
        for key, src in self.mapping_of(top.get("values"), "values").items():
            if self.field_id(key, doc.value["values"].keys[key]):
                result.values[key] = self.codes(key, src)
                if len(result.members(key)) > MAX_MEMBERS:  # each row's set is a bit mask in a 64-bit integer
                    self.problem(src.mark, f"values: {key}: its lists name more than {MAX_MEMBERS} values in all")
        missing = top.get("missing")
        if missing is not None:
            items = missing.value if isinstance(missing.value, list) else [missing]
            result.missing = tuple(code_key(i.value) for i in items if self.scalar(i, "missing"))
        for key, src in self.mapping_of(top.get("derive"), "derive").items():
            if self.field_id(key, doc.value["derive"].keys[key]):
                derived = self.derived(key, src)
                if derived:
                    result.derive[key] = derived
                if key in result.columns:
                    self.problem(src.mark, f"`{key}` is both renamed in `columns` and derived", "keep one")
        for key, src in self.mapping_of(top.get("checkboxes"), "checkboxes").items():
            if self.field_id(key, doc.value["checkboxes"].keys[key]):
                boxes = self.checkboxes(key, src)
                if boxes:
                    result.checkboxes[key] = boxes
                if key in result.columns or key in result.derive:
                    self.problem(src.mark, f"`{key}` is both in `checkboxes` and mapped another way", "keep one")
        unanswered = top.get("unanswered")
        if unanswered is not None:
            if not isinstance(unanswered.value, list):
                self.problem(unanswered.mark, "`unanswered` must be a list of field ids")
            else:
                names = []
                for item in unanswered.value:
                    if isinstance(item.value, str) and self.field_id(item.value, item.mark):
                        names.append(item.value)
                        if (
                            item.value in result.columns
                            or item.value in result.derive
                            or item.value in result.checkboxes
                        ):
                            self.problem(item.mark, f"`{item.value}` is mapped, so it cannot be unanswered")
                result.unanswered = tuple(names)
        if self.problems:
            raise ProblemsError(self.problems)
        return result

    def checkboxes(self, key: str, src: Src) -> dict[str, str]:
        """A multi-select's choices, each with the input column that holds 1 where it is ticked and 0 where not."""
        question = self.asked[key]
        where = f"checkboxes: {key}"
        if question.type != "multi":
            self.problem(src.mark, f"{where}: `{key}` is not a multi-select", "map it in `columns`")
            return {}
        boxes: dict[str, str] = {}
        for choice, column in self.mapping_of(src, where).items():
            if choice not in question.choice_values:
                hint = did_you_mean(str(choice), question.choice_values) or "allowed: " + ", ".join(
                    question.choice_values
                )
                self.problem(src.keys[choice], f"{where}: `{choice}` is not a choice of `{key}`", hint)
            elif not isinstance(column.value, str) or not column.value.strip():
                self.problem(column.mark, f"{where}: {choice} must name an input column")
            else:
                boxes[choice] = column.value.strip()
        return boxes

    def scalar(self, src: Src, what: str) -> bool:
        if isinstance(src.value, (dict, list)):
            self.problem(src.mark, f"{what}: a single code is expected")
            return False
        return True

    def joined(self, key: str, src: Src) -> tuple[str, ...] | None:
        """A list of input columns for a multi-select (each cell one code; the row selects what they name)."""
        if not isinstance(src.value, list):
            return None
        names = [item.value.strip() for item in src.value if isinstance(item.value, str) and item.value.strip()]
        if self.asked[key].type != "multi":
            self.problem(src.mark, f"columns: `{key}` takes one answer, so it reads one column", "name one column")
        elif len(names) != len(src.value) or not names:
            self.problem(src.mark, f"columns: `{key}` must list input column names")
        elif len(set(names)) != len(names):
            self.problem(src.mark, f"columns: `{key}` lists a column twice")
        else:
            return tuple(names)
        return ()

    def codes(self, key: str, src: Src) -> dict[str, Any]:
        question = self.asked[key]
        codes: dict[str, Any] = {}
        for code, value in self.mapping_of(src, f"values: {key}").items():
            mark = src.keys[code]
            target: Any = value.value
            if isinstance(value.value, list):
                target = self.value_set(key, code, value)
                if target is None:
                    continue
            elif not self.scalar(value, f"values: {key}: {code}"):
                continue
            elif value.value is not None:
                try:
                    coerce(question, value.value)
                except BadValue as exc:
                    self.problem(
                        value.mark, f"values: {key}: {shown(value.value)} {exc.message}", f"allowed: {exc.allowed}"
                    )
                    continue
            normal = code_key(code)
            if normal in codes:
                self.problem(mark, f"values: {key}: code {code} is listed twice (as numbers they are equal)")
            codes[normal] = target
        return codes

    def value_set(self, key: str, code: Any, src: Src) -> OneOf | None:
        """A code's list of values: the answer is one of them (each checked against the question)."""
        question = self.asked[key]
        where = f"values: {key}: {code}"
        if question.type == "multi":
            self.problem(src.mark, f"{where}: a multi-select code names one choice", "join columns in `columns`")
            return None
        if question.type == "text" or len(src.value) < 2:
            self.problem(src.mark, f"{where}: a list of values needs a yes/no, choice or number question and 2 or more")
            return None
        if not question.required:
            # The exact missing-answer rule fills missing required answers; an optional one left open is not
            # filled (a rule waiting on it does not fire), so its set would be lost: refused rather than ignored.
            self.problem(src.mark, f"{where}: a list of values needs a required question; `{key}` is optional")
            return None
        members: dict[Any, None] = {}
        for item in src.value:
            typed = self.typed(question, item) if not isinstance(item.value, (list, dict)) else BadValue
            if typed is BadValue or typed is None:
                if typed is None or isinstance(item.value, (list, dict)):
                    self.problem(item.mark, f"{where}: each value of a list is one answer")
                return None
            members[typed] = None
        return OneOf(members)

    def derived(self, key: str, src: Src) -> Derived | None:
        question = self.asked[key]
        body = self.mapping_of(src, f"derive: {key}")
        for extra, mark in src.keys.items():
            if extra not in ("cases", "otherwise"):
                self.problem(mark, f"unknown key `{extra}` in derive: {key}", "use `cases` and `otherwise`")
        cases_src = body.get("cases")
        if cases_src is None or not isinstance(cases_src.value, list) or not cases_src.value:
            self.problem(src.mark, f"derive: {key} needs `cases`: a list of {{when: CONDITION, value: V}}")
            return None
        cases: list[tuple[expr.Expr, Any]] = []
        columns: dict[str, None] = {}
        for case in cases_src.value:
            when, value = (
                (case.value.get("when"), case.value.get("value")) if isinstance(case.value, dict) else (None, None)
            )
            if when is None or not isinstance(when.value, str) or value is None:
                self.problem(case.mark, f"derive: {key}: each case needs `when` (a condition) and `value`")
                continue
            parsed = self.condition(when)
            typed = self.typed(question, value)
            if parsed is not None and typed is not BadValue:
                cases.append((parsed, typed))
                columns.update(dict.fromkeys(parsed.names))
        otherwise_src = body.get("otherwise")
        otherwise = self.typed(question, otherwise_src) if otherwise_src is not None else None
        if otherwise is BadValue:
            otherwise = None
        return Derived(cases, otherwise, tuple(columns))

    def typed(self, question, src: Src):
        if src.value is None:
            return None
        try:
            return coerce(question, src.value)
        except BadValue as exc:
            self.problem(src.mark, f"{shown(src.value)} {exc.message}", f"allowed: {exc.allowed}")
            return BadValue

    def condition(self, src: Src) -> expr.Expr | None:
        # The pack's parser and limits. Input columns are read as numbers (codes); any name is accepted here and
        # checked against the header when a file is scored.
        try:
            return expr.parse(src.value, expr.AnyNumber(), want="bool")
        except expr.ExprError as exc:
            self.problem(f"{src.mark.file}:{src.mark.line}:{src.mark.col + exc.col}", exc.message, exc.hint)
            return None
