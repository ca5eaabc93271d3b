"""The FHIRPath back end: a checked tree as a FHIRPath expression over a QuestionnaireResponse (`iop rules export
--format fhir`: `enableWhenExpression` and `calculatedExpression`).

FHIRPath is three-valued the way the pack's language is: an operation on an empty collection (an unanswered
question) gives empty, and `and`/`or` follow the same tables. How a field's answer is reached depends on its
question (a coding's code, a scored item's ordinal), so the caller gives `value`, the expression of one field.
"""

from __future__ import annotations

from collections.abc import Callable

from iop_cli.lang.tree import Arith, Compare, Has, Lit, Logic, Member, Missing, Node, Not, Ref, Sign, assert_never

_OPS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def literal(value: bool | int | float | str) -> str:
    """A literal value in FHIRPath: true/false, a number, or a quoted string (backslash escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return plain_decimal(value)
    if isinstance(value, int):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def plain_decimal(value: float) -> str:
    """A decimal without an exponent (`1e-05` is no FHIRPath or REDCap number): `0.00001`."""
    text = repr(float(value))
    if "e" in text:
        text = format(value, "f").rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


def fhirpath(node: Node, value: Callable[[str], str]) -> str:
    """`node` as FHIRPath, each field `name` written as `value(name)`."""
    match node:
        case Lit(value=v):
            return literal(v)
        case Ref(name=name):
            return value(name)
        case Not(operand=inner):
            return f"({fhirpath(inner, value)}).not()"
        case Logic(op=op, parts=parts):
            return "(" + f" {op} ".join(fhirpath(p, value) for p in parts) + ")"
        case Sign(negative=negative, operand=inner):
            # `0 - x` rather than `-x`: the same value (empty for empty), and every engine takes it for any number.
            return f"(0 - {fhirpath(inner, value)})" if negative else f"({fhirpath(inner, value)})"
        case Arith(op=op, left=left, right=right):
            return f"({fhirpath(left, value)} {op} {fhirpath(right, value)})"
        case Compare(op=op, left=left, right=right):
            return f"({fhirpath(left, value)} {_OPS[op]} {fhirpath(right, value)})"
        case Member(negate=negate, operand=inner, values=values):
            test = f"({fhirpath(inner, value)} in ({' | '.join(literal(v) for v in values)}))"
            return f"{test}.not()" if negate else test
        case Has(negate=negate, field=ref, value=choice):
            test = f"({value(ref.name)} contains {literal(choice)})"
            return f"{test}.not()" if negate else test
        case Missing(negate=negate, field=ref):
            return f"{value(ref.name)}.{'exists' if negate else 'empty'}()"
        case _:
            assert_never(node)
