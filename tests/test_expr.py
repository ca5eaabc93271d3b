"""The condition language: what it accepts, what it refuses, and three-valued logic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iop_cli.lang.expr import ExprError, FieldType, parse

FIELDS = {
    "age": FieldType("integer", min=12, max=110),
    "ciwa_ar": FieldType("integer", min=0, max=67),
    "score": FieldType("number"),
    "housing": FieldType("choice", ("stable", "unstable", "homeless")),
    "pregnant": FieldType("yesno"),
    "home_supportive": FieldType("yesno"),
    "client_id": FieldType("text"),
}


def ev(text, **values):
    return parse(text, FIELDS).evaluate(values)


@pytest.mark.parametrize(
    "text, values, expected",
    [
        ("age >= 18", {"age": 18}, True),
        ("age >= 18", {"age": 17}, False),
        ("10 <= ciwa_ar <= 19", {"ciwa_ar": 19}, True),
        ("10 <= ciwa_ar <= 19", {"ciwa_ar": 20}, False),
        ("housing == 'homeless'", {"housing": "homeless"}, True),
        ("housing = 'homeless'", {"housing": "homeless"}, True),  # = is accepted for ==
        ("housing <> 'homeless'", {"housing": "stable"}, True),  # <> is accepted for !=
        ("housing in ['stable', 'unstable']", {"housing": "unstable"}, True),
        ("housing not in ['stable', 'unstable']", {"housing": "unstable"}, False),
        ("pregnant", {"pregnant": True}, True),
        ("not pregnant", {"pregnant": True}, False),
        ("pregnant == yes", {"pregnant": False}, False),
        ("pregnant is missing", {}, True),
        ("pregnant is not missing", {"pregnant": False}, True),
        ("age - 10 >= 8", {"age": 18}, True),
        ("age + -2 < 16", {"age": 17}, True),
        ("client_id == 'A-1'", {"client_id": "A-1"}, True),
        ("housing == 'stable' and (pregnant or age > 60)", {"housing": "stable", "age": 70}, True),
    ],
)
def test_evaluates(text, values, expected):
    assert ev(text, **values) is expected


def test_unanswered_is_unknown_not_false():
    assert ev("age >= 18") is None
    assert ev("not pregnant") is None
    assert ev("housing == 'stable'") is None


def test_three_valued_and_or():
    # false wins an and, true wins an or, whatever the unknown side
    assert ev("pregnant and age > 20", age=10) is False
    assert ev("pregnant or age > 20", age=30) is True
    assert ev("pregnant and age > 20", age=30) is None
    assert ev("pregnant or age > 20", age=10) is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os')", "function calls are not allowed"),
        ("age.real > 1", "attribute access"),
        ("housing[0] == 's'", "subscripts"),
        ("(lambda: 1)()", "function calls"),
        ("[x for x in 'ab'] == 1", "comprehensions"),
        ("age ** 2 > 1", "`**` is not allowed"),
        ("(x := 3) > 1", "`:=` is not allowed"),
        ("f'{age}' == '1'", "f-strings are not allowed"),
        ("1 if age else 2", "write separate rules"),
        ("age * 2 > 1", "only `+` and `-`"),
        ("{1: 2} == 1", "dictionaries"),
    ],
)
def test_refuses_dangerous_or_unsupported_syntax(text, fragment):
    with pytest.raises(ExprError) as info:
        parse(text, FIELDS)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "text, fragment, hint",
    [
        ("housng == 'stable'", "unknown field `housng`", "did you mean `housing`?"),
        (
            "housing == 'stabel'",
            "'stabel' is not a choice of `housing`",
            "did you mean `stabel`".replace("stabel", "stable"),
        ),
        ("housing == homeless", "unknown field `homeless`", "quote it"),
        ("ciwa_ar >= 80", "80 is outside the range of `ciwa_ar` (0-67)", "inside the range"),
        ("age in [5, 30]", "5 is outside the range of `age`", ""),
        ("housing > 3", "not a number", ""),
        ("pregnant == 'x'", "cannot compare", ""),
        ("housing", "not a yes/no condition", "compare it"),
        ("age", "not a yes/no condition", ""),
        ("age >= ", "cannot read the condition", ""),
        ("housing is 'x'", "`FIELD is missing`", ""),
        ("age in []", "empty", ""),
    ],
)
def test_type_errors_name_the_problem(text, fragment, hint):
    with pytest.raises(ExprError) as info:
        parse(text, FIELDS)
    assert fragment in info.value.message
    assert hint in info.value.hint


def test_error_column_points_at_the_offending_name():
    with pytest.raises(ExprError) as info:
        parse("age >= 18 and housng == 'stable'", FIELDS)
    assert info.value.col == len("age >= 18 and ")
    # the column is in the author's text even after `=` was rewritten to `==`
    with pytest.raises(ExprError) as info:
        parse("age = 18 and housng = 'stable'", FIELDS)
    assert info.value.col == len("age = 18 and ")


def test_length_and_depth_are_capped():
    with pytest.raises(ExprError, match="longer than"):
        parse("age > 1 or " * 300 + "age > 1", FIELDS)
    with pytest.raises(ExprError, match="nested|too complex"):
        parse("not " * 60 + "pregnant", FIELDS)


def test_strings_are_not_rewritten():
    assert ev("client_id == 'a=b'", client_id="a=b") is True
    assert ev("client_id == 'a<>b'", client_id="a<>b") is True


# --- properties -------------------------------------------------------------------------------------------------

DOMAINS = {
    "age": [None, 12, 17, 18, 65, 110],
    "housing": [None, "stable", "unstable", "homeless"],
    "pregnant": [None, True, False],
    "home_supportive": [None, True, False],
}
ATOMS = [
    "age >= 18",
    "age < 65",
    "housing == 'homeless'",
    "housing in ['stable', 'unstable']",
    "pregnant",
    "home_supportive",
]
# `x is missing` asks about the gap itself, so filling the gap may change it by design: it is left out of the
# soundness property below and tested on its own above.


@st.composite
def conditions(draw, depth=0):
    if depth >= 3 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    op = draw(st.sampled_from(["and", "or", "not"]))
    if op == "not":
        return f"not ({draw(conditions(depth + 1))})"
    return f"({draw(conditions(depth + 1))}) {op} ({draw(conditions(depth + 1))})"


@settings(max_examples=300, deadline=None)
@given(conditions(), st.fixed_dictionaries({k: st.sampled_from(v) for k, v in DOMAINS.items()}))
def test_a_definite_answer_holds_for_every_way_of_filling_the_gaps(text, values):
    """Soundness of three-valued logic: if the result is true or false with some answers missing, every
    completion of those answers gives the same result; unknown is never a silent false."""
    expr = parse(text, FIELDS)
    result = expr.evaluate(values)
    gaps = [k for k, v in values.items() if v is None]
    completions = itertools.product(*[[x for x in DOMAINS[k] if x is not None] for k in gaps])
    outcomes = {expr.evaluate({**values, **dict(zip(gaps, combo, strict=True))}) for combo in completions}
    assert None not in outcomes
    if result is not None:
        assert outcomes == {result}
    if not gaps:
        assert result is not None


@settings(max_examples=200, deadline=None)
@given(conditions(), st.fixed_dictionaries({k: st.sampled_from(v) for k, v in DOMAINS.items()}))
def test_not_not_and_de_morgan(text, values):
    a = parse(text, FIELDS).evaluate(values)
    assert parse(f"not (not ({text}))", FIELDS).evaluate(values) == a
    b = parse(f"not (({text}) and pregnant)", FIELDS).evaluate(values)
    c = parse(f"(not ({text})) or (not pregnant)", FIELDS).evaluate(values)
    assert b == c


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_the_parser(text):
    try:
        parse(text, FIELDS)
    except ExprError:
        pass
