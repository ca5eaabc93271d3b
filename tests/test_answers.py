"""Converting raw answers to typed values: what each question type accepts and refuses."""

from __future__ import annotations

import pytest

from iop_cli.answers import BadValue, clean_answers, coerce
from iop_cli.pack import Choice, Question
from iop_cli.problems import AnswersError, Mark

HERE = Mark("t", 1, 1)
YESNO = Question("q", "yesno", "Q", HERE)
CHOICE = Question("q", "choice", "Q", HERE)
CHOICE.choices = (Choice("stable", "Stable"), Choice("homeless", "Homeless"))
INTEGER = Question("q", "integer", "Q", HERE, min=0, max=11)
NUMBER = Question("q", "number", "Q", HERE, min=0.5, max=2.5)
TEXT = Question("q", "text", "Q", HERE)


@pytest.mark.parametrize("raw", ["yes", "Y", "TRUE", "1", 1, True, " yes "])
def test_yes_forms(raw):
    assert coerce(YESNO, raw) is True


@pytest.mark.parametrize("raw", ["no", "n", "False", "0", 0, False, 0.0])
def test_no_forms(raw):
    assert coerce(YESNO, raw) is False


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_blank_is_unanswered(raw):
    assert coerce(YESNO, raw) is None and coerce(INTEGER, raw) is None


@pytest.mark.parametrize("raw, value", [("5", 5), (5, 5), ("5.0", 5), (5.0, 5), (" 11 ", 11), (0, 0)])
def test_integer_forms(raw, value):
    result = coerce(INTEGER, raw)
    assert result == value and isinstance(result, int)


@pytest.mark.parametrize("raw", ["5.5", "five", True, 12, -1, "inf", [1]])
def test_integer_refusals(raw):
    with pytest.raises(BadValue) as info:
        coerce(INTEGER, raw)
    assert info.value.allowed == "a whole number 0-11"


def test_number_and_choice_and_text():
    assert coerce(NUMBER, "1.5") == 1.5
    with pytest.raises(BadValue, match="outside"):
        coerce(NUMBER, 3)
    assert coerce(CHOICE, "Homeless") == "homeless"
    with pytest.raises(BadValue, match="did you mean `stable`"):
        coerce(CHOICE, "stabel")
    assert coerce(TEXT, 1042) == "1042"
    with pytest.raises(BadValue, match="longer than"):
        coerce(TEXT, "x" * 500)


def test_clean_answers_reports_every_problem_and_drops_blanks(pack):
    with pytest.raises(AnswersError) as info:
        clean_answers(pack, {"age": "old", "housng": "stable", "sud": True, "cows": 99})
    fields = [p.where for p in info.value.problems]
    assert fields == ["age", "housng", "sud", "cows"]
    assert clean_answers(pack, {"age": "40", "pregnant": None, "client_id": ""}) == {"age": 40}
