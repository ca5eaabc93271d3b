"""Checking and converting raw answers (from a file, a CSV cell or a prompt) into the pack's typed values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from iop_cli.lang.expr import DECIMAL, INT64_MAX, INT64_MIN
from iop_cli.problems import AnswersError, Problem, did_you_mean
from iop_cli.safe_text import cut


class Question(Protocol):
    """What checking an answer needs of a question (`pack.Question` is one). A protocol, so that this module does
    not import the pack, whose loader checks its fixtures with `clean_answers`."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def choice_values(self) -> tuple[str, ...]: ...
    @property
    def computed(self) -> bool: ...
    @property
    def scores(self) -> tuple[int, ...]: ...
    @property
    def choices(self) -> Sequence[Any]: ...


class Pack(Protocol):
    """What checking a set of answers needs of a pack (`pack.Pack` is one)."""

    @property
    def questions(self) -> Mapping[str, Question]: ...
    @property
    def asked(self) -> Sequence[Question]: ...


YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
MAX_TEXT = 200
MULTI_SEPARATOR = ";"  # between the choices of a multi-select answer in a CSV cell
MAX_NUMBER = 30  # characters in a written number; longer is a mistake (and Python's int() stops at 4,300 digits)

NOT_FINITE = re.compile(r"[+-]?\.?(?:nan|inf|infinity)", re.IGNORECASE)
NAN_OR_INFINITY = "is not a number: NaN and infinity are refused"


class BadValue(ValueError):
    """A value that does not fit its question; the message says what is allowed."""

    def __init__(self, message: str, allowed: str = ""):
        super().__init__(message)
        self.message = message
        self.allowed = allowed


def allowed_text(question: Question) -> str:
    if question.type == "yesno":
        return "yes or no"
    if question.type == "choice":
        return ", ".join(question.choice_values)
    if question.type == "multi":
        return "any of " + ", ".join(question.choice_values) + f" (separated by `{MULTI_SEPARATOR}` in a cell)"
    if question.scores:
        return ", ".join(
            str(c.score) if c.value == str(c.score) else f"{c.score} ({c.value})" for c in question.choices
        )
    if question.type in ("integer", "number"):
        kind = "a whole number" if question.type == "integer" else "a number"
        lo = "" if question.min is None else _num(question.min)
        hi = "" if question.max is None else _num(question.max)
        return f"{kind} {lo}-{hi}" if lo or hi else kind
    return f"text up to {MAX_TEXT} characters"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def coerce(question: Question, value: Any) -> Any:
    """The typed value of one answer, None for unanswered; raise BadValue when it does not fit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    allowed = allowed_text(question)
    if isinstance(value, (list, tuple)) and question.type != "multi":
        raise BadValue("was given, but the question takes one answer", allowed)
    if isinstance(value, float) and not math.isfinite(value):  # YAML .nan and .inf, like JSON NaN and Infinity
        raise BadValue(NAN_OR_INFINITY, allowed)
    if question.type == "yesno":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if isinstance(value, (int, float)):
            word = _num(value)
        if word in YES:
            return True
        if word in NO:
            return False
        raise BadValue("is not yes or no", allowed)
    if question.type == "choice":
        return _choice(question, value, allowed)
    if question.type == "multi":
        return _selection(question, value, allowed)
    if question.scores:
        return _score(question, value, allowed)
    if question.type in ("integer", "number"):
        number = _number(value, question.type == "integer", allowed)
        if (question.min is not None and number < question.min) or (question.max is not None and number > question.max):
            raise BadValue("is outside the allowed range", allowed)
        if isinstance(number, int) and not INT64_MIN <= number <= INT64_MAX:
            raise BadValue("is too large: whole numbers must fit in 64 bits, as batch scoring holds them", allowed)
        return float(number) if question.type == "number" else number  # a decimal field holds floats, 1 as 1.0
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise BadValue(f"is longer than {MAX_TEXT} characters", allowed)
    return text


def _choice(question: Question, value: Any, allowed: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadValue("is not one of the choices", allowed)
    word = _num(value) if isinstance(value, (int, float)) else value.strip()
    if word in question.choice_values:
        return word
    folded = {c.lower(): c for c in question.choice_values}
    if word.lower() in folded:
        return folded[word.lower()]
    hint = did_you_mean(word.lower(), question.choice_values)
    raise BadValue(f"is not one of the choices{'; ' + hint if hint else ''}", allowed)


def _selection(question: Question, value: Any, allowed: str) -> tuple[str, ...]:
    """A multi-select answer: a list (answers files, JSON) or `a;b` text (a CSV cell), each part one of the choices;
    the choices picked, once each, in the pack's order. An empty list is the empty selection."""
    if isinstance(value, str):
        parts: list[Any] = [p for p in value.split(MULTI_SEPARATOR) if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise BadValue("is not a list of choices", allowed)
    if len(parts) > len(question.choice_values) * 4:
        raise BadValue("lists too many choices", allowed)
    picked = set()
    for part in parts:
        if isinstance(part, str) and not part.strip():
            continue
        try:
            picked.add(_choice(question, part, allowed))
        except BadValue as exc:  # the message names no part: batch errors must not repeat a row's cells
            raise BadValue("holds a value that " + exc.message, allowed) from None
    return tuple(c for c in question.choice_values if c in picked)


def _score(question: Question, value: Any, allowed: str) -> int:
    """An item's answer: one of its scores, written as the number or as its choice's word."""
    if isinstance(value, bool):  # a yes or no that YAML or JSON read as true or false: the choice's word
        value = "yes" if value else "no"
    if isinstance(value, str) and not DECIMAL.fullmatch(value.strip()):
        word = value.strip().lower()
        found = next((c.score for c in question.choices if c.value.lower() == word), None)
        if found is None:
            hint = did_you_mean(word, [c.value for c in question.choices])
            raise BadValue(f"is not one of the choices{'; ' + hint if hint else ''}", allowed)
        return found
    number = _number(value, True, allowed)
    if number not in question.scores:
        raise BadValue("is not one of the item's scores", allowed)
    return int(number)


def _number(value: Any, whole: bool, allowed: str) -> int | float:
    """The number in an int, a float or text in plain ASCII decimal; BadValue for anything else."""
    kind = "a whole number" if whole else "a number"
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER:
            raise BadValue(f"is too long to be {kind}", allowed)
        if not DECIMAL.fullmatch(text):
            if NOT_FINITE.fullmatch(text):
                raise BadValue(NAN_OR_INFINITY, allowed)
            if any(ch.isdigit() or ch.isnumeric() for ch in text):  # 3_5, 0x22, 1:30, ３５, ٣
                raise BadValue("is not a plain decimal number; write it with the digits 0-9", allowed)
            raise BadValue(f"is not {kind}", allowed)
        value = float(text) if "." in text or "e" in text or "E" in text else int(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValue(f"is not {kind}", allowed)
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 read as text
        raise BadValue(f"is too large to be {kind}", allowed)
    if whole and isinstance(value, float):
        if not value.is_integer():
            raise BadValue("is not a whole number", allowed)
        value = int(value)
    return value


def shown(value: Any) -> str:
    """A refused answer as a message repeats it: quoted, cut to SHOWN characters."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (int, float, bool)):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        return "a list"
    else:
        return type(value).__name__
    short = cut(text)
    return repr(short) if isinstance(value, str) else short


def clean_answers(pack: Pack, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check every answer against the pack; raise AnswersError listing every problem."""
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    asked = {q.id: q for q in pack.asked}
    for key, value in raw.items():
        name = str(key).strip()
        question = pack.questions.get(name)
        if question is None:
            problems.append(Problem(name, "unknown field", did_you_mean(name, asked) or "see the pack's questions"))
            continue
        if question.computed:
            problems.append(Problem(name, "is computed by the pack and cannot be answered", "remove it"))
            continue
        try:
            clean[name] = coerce(question, value)
        except BadValue as exc:
            problems.append(Problem(name, f"{shown(value)} {exc.message}", f"allowed: {exc.allowed}"))
    if problems:
        raise AnswersError(problems)
    return {k: v for k, v in clean.items() if v is not None}


def disagreement(pack: Pack, name: str) -> Problem:
    """A derived answer that differs from its derivation, naming both sides (never their values)."""
    reads = ", ".join(pack.questions[name].derive.names)  # type: ignore[attr-defined, union-attr]
    return Problem(
        name,
        f"is given, and the answers it is derived from ({reads}) give another value",
        "give one or the other, or correct the one that is wrong",
    )
