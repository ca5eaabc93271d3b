"""Converting raw answers to typed values: what each question type accepts and refuses."""

from __future__ import annotations

import pytest

from iop_cli.pack.answers import BadValue, clean_answers, coerce
from iop_cli.pack.model import Asked, Choice
from iop_cli.problems import AnswersError, Mark

HERE = Mark("t", 1, 1)
YESNO = Asked("q", "yesno", "Q", HERE)
CHOICE = Asked("q", "choice", "Q", HERE)
CHOICE.choices = (Choice("stable", "Stable"), Choice("homeless", "Homeless"))
INTEGER = Asked("q", "integer", "Q", HERE, min=0, max=11)
NUMBER = Asked("q", "number", "Q", HERE, min=0.5, max=2.5)
TEXT = Asked("q", "text", "Q", HERE)


@pytest.mark.parametrize("raw", ["yes", "Y", "TRUE", "1", 1, True, " yes "])
def test_yes_forms(raw):
    assert coerce(YESNO, raw) is True


@pytest.mark.parametrize("raw", ["no", "n", "False", "0", 0, False, 0.0])
def test_no_forms(raw):
    assert coerce(YESNO, raw) is False


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_blank_is_unanswered(raw):
    assert coerce(YESNO, raw) is None and coerce(INTEGER, raw) is None


@pytest.mark.parametrize("question", [YESNO, CHOICE, INTEGER, NUMBER, TEXT])
@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_not_unanswered(question, raw):
    # YAML .nan used to read as unanswered while JSON NaN was an error: both are refused now, for every type.
    with pytest.raises(BadValue, match="NaN and infinity are refused"):
        coerce(question, raw)


@pytest.mark.parametrize("raw, value", [("5", 5), (5, 5), ("5.0", 5), (5.0, 5), (" 11 ", 11), (0, 0)])
def test_integer_forms(raw, value):
    result = coerce(INTEGER, raw)
    assert result == value and isinstance(result, int)


@pytest.mark.parametrize("raw", ["5.5", "five", True, 12, -1, "inf", [1]])
def test_integer_refusals(raw):
    with pytest.raises(BadValue) as info:
        coerce(INTEGER, raw)
    assert info.value.allowed == "a whole number 0-11"


@pytest.mark.parametrize("raw", ["3_5", "\uff13\uff15", "\u0663", "0x22", "0o42", "0b11", "1:30", "1_0.5", "5\u00b2"])
@pytest.mark.parametrize("question", [INTEGER, NUMBER])
def test_only_ascii_decimal_is_a_number(question, raw):
    # Python's int() and float() read 3_5, fullwidth and Arabic-Indic digits; a person would not mean them.
    with pytest.raises(BadValue, match="is not a plain decimal number; write it with the digits 0-9"):
        coerce(question, raw)


@pytest.mark.parametrize("raw", ["nan", "NaN", " inf ", "-Infinity", "+inf", ".nan"])
@pytest.mark.parametrize("question", [INTEGER, NUMBER])
def test_nan_and_infinity_text_is_refused(question, raw):
    with pytest.raises(BadValue, match="NaN and infinity are refused"):
        coerce(question, raw)


def test_huge_numbers_are_refused_with_a_message():
    with pytest.raises(BadValue, match="too long to be a whole number"):
        coerce(INTEGER, "1" * 4301)  # int() itself raises ValueError past 4,300 digits
    with pytest.raises(BadValue, match="too large to be a number"):
        coerce(NUMBER, "1e999")
    with pytest.raises(BadValue, match="outside"):
        coerce(INTEGER, 10**100)


@pytest.mark.parametrize("raw, value", [("+5", 5), (" 5 ", 5), ("5.", 5), ("1e1", 10), ("05", 5), ("-0", 0)])
def test_plain_decimal_forms_still_accepted(raw, value):
    assert coerce(INTEGER, raw) == value


def test_refused_values_are_cut_in_messages(pack):
    with pytest.raises(AnswersError) as info:
        clean_answers(pack, {"client_id": "x" * 500, "age": "9" * 4301})
    messages = [p.message for p in info.value.problems]
    assert messages[0].startswith("'" + "x" * 40 + "…' is longer than")
    assert messages[1].startswith("'" + "9" * 40 + "…' is too long")


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
