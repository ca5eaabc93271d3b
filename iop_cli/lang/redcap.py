"""REDCap branching logic: a checked tree written as REDCap's "show the field only if" logic, and REDCap logic read
back as the pack's condition language (`iop rules export --format redcap`, `iop rules import-redcap`).

REDCap's logic has no `not` and no unknown: a blank field is the empty string. iop asks a question unless its
condition is known to be false, so the logic written is "the condition may hold": for each node, `maybe(node)`
(it is true, or a field it reads is blank) and `maybe_not(node)` (it is false, or blank), each pushed down to
comparisons, where a `not` swaps them. What REDCap shows is exactly what iop asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from iop_cli.lang.tree import (
    Arith,
    Compare,
    Has,
    Lit,
    Logic,
    Member,
    Missing,
    Node,
    Not,
    Ref,
    Sign,
    assert_never,
    field_names,
)

_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def literal(value: bool | int | float | str) -> str:
    """A value as REDCap writes it: yes/no as '1'/'0' (REDCap's codes), numbers bare, text in single quotes."""
    if isinstance(value, bool):
        return "'1'" if value else "'0'"
    if isinstance(value, float):
        from iop_cli.lang.fhirpath import plain_decimal

        return plain_decimal(value)
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "\\'") + "'"


class Fields:
    """What the writer needs to know of the pack's fields: a multi-select's choices (a checkbox field has no blank:
    it is each choice's `[x(code)]`), and the expression of a computed field, written in its place (REDCap's logic
    reads the fields a form has)."""

    def __init__(self, choices: Callable[[str], tuple[str, ...]], inline: Callable[[str], Node | None]):
        self.choices = choices
        self.inline = inline


def shown_if(node: Node, fields: Fields) -> str:
    """REDCap branching logic that shows a field exactly when `node` holds or cannot be decided."""
    return maybe(node, fields, True)


def undecided_or(node: Node, fields: Fields, then: str, otherwise: str) -> str:
    """A REDCap `if`: blank while `node` cannot be decided, else `then` where it holds and `otherwise` where not."""
    holds, fails = maybe(node, fields, True), maybe(node, fields, False)
    return f"if({holds} and {fails}, '', if({holds}, {then}, {otherwise}))"


def _blank(name: str) -> str:
    return f"[{name}] = ''"


def maybe(node: Node, fields: Fields, holds: bool) -> str:
    """`holds`: the logic for "node may be true" (it is, or cannot be decided); else for "node may be false"."""
    match node:
        case Lit(value=v):
            return "1 = 1" if bool(v) == holds else "1 = 0"
        case Ref(name=name):  # a yes/no field standing alone
            inline = fields.inline(name)
            if inline is not None:
                return maybe(inline, fields, holds)
            return f"([{name}] = '' or [{name}] = {literal(holds)})"
        case Not(operand=inner):
            return maybe(inner, fields, not holds)
        case Logic(op=op, parts=parts):
            joiner = op if holds else ("or" if op == "and" else "and")
            return "(" + f" {joiner} ".join(maybe(p, fields, holds) for p in parts) + ")"
        case Compare(op=op, left=left, right=right):
            shown = op if holds else _NEGATED[op]
            blanks = [_blank(n) for n in sorted(_plain_fields(node, fields))]
            test = f"{_value(left, fields)} {_OPS[shown]} {_value(right, fields)}"
            return "(" + " or ".join([*blanks, test]) + ")"
        case Member(negate=negate, operand=inner, values=values):
            inside = holds != negate
            blanks = [_blank(n) for n in sorted(_plain_fields(inner, fields))]
            value = _value(inner, fields)
            if inside:
                tests = [f"{value} = {literal(v)}" for v in values]
                return "(" + " or ".join([*blanks, *tests]) + ")"
            tests = [f"{value} <> {literal(v)}" for v in values]
            return "(" + " or ".join([*blanks, "(" + " and ".join(tests) + ")"]) + ")"
        case Has(negate=negate, field=ref, value=choice):
            return f"[{ref.name}({choice})] = '{1 if holds != negate else 0}'"
        case Missing(negate=negate, field=ref):
            blank = holds != negate
            if fields.inline(ref.name) is not None:
                raise ValueError(f"`{ref.name} is missing` of a computed field")
            if ref.kind == "multi":  # nothing ticked
                boxes = [f"[{ref.name}({c})] = '{0 if blank else 1}'" for c in fields.choices(ref.name)]
                return "(" + (" and " if blank else " or ").join(boxes) + ")"
            return f"[{ref.name}] = ''" if blank else f"[{ref.name}] <> ''"
        case Sign() | Arith():
            raise ValueError("a number is not a condition")
        case _:
            assert_never(node)


def _plain_fields(node: Node, fields: Fields) -> set[str]:
    """The fields a value reads, computed ones replaced by what they read."""
    found: set[str] = set()
    for name in field_names(node):
        inline = fields.inline(name)
        found |= {name} if inline is None else _plain_fields(inline, fields)
    return found


def _value(node: Node, fields: Fields) -> str:
    match node:
        case Lit(value=v):
            return literal(v)
        case Ref(name=name):
            inline = fields.inline(name)
            if inline is not None and inline.kind == "number":
                return _value(inline, fields)
            if inline is not None:
                raise ValueError(f"`{name}` is a computed {inline.kind}, which REDCap's logic cannot read")
            return f"[{name}]"
        case Sign(negative=negative, operand=inner):
            return f"(0 - {_value(inner, fields)})" if negative else _value(inner, fields)
        case Arith(op=op, left=left, right=right):
            return f"({_value(left, fields)} {op} {_value(right, fields)})"
        case Not() | Logic() | Compare() | Member() | Has() | Missing():
            raise ValueError("a condition is not a value")
        case _:
            assert_never(node)


def calculation(node: Node, fields: Fields) -> str:
    """A number computed from fields (an instrument's total) as a REDCap calculation."""
    return _value(node, fields)


# ----------------------------------------------------------------------------------------------------------------
# REDCap logic read back


class LogicError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<field>\[[A-Za-z][A-Za-z0-9_]*(?:\([A-Za-z0-9_\-.]+\))?\])"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op><>|!=|<=|>=|==|=|<|>|\+|-)"
    r"|(?P<word>and|or|AND|OR|And|Or)\b"
    r"|(?P<paren>[()]))"
)


def to_condition(
    logic: str, kinds: Callable[[str], str | None], choice_id: Callable[[str, str], str] = lambda name, code: code
) -> str:
    """REDCap branching logic as a condition in the pack's language, for the fields `kinds` knows (its kind: yesno,
    integer, number, choice, multi, text; None: not a field here); `choice_id` turns a field's REDCap code into the
    pack's choice id. Raises LogicError for what the pack's language cannot say (functions, smart variables, other
    events)."""
    tokens = _tokens(logic)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "paren":
            out.append(text)
            i += 1
        elif kind == "word":
            out.append(text.lower())
            i += 1
        elif kind == "field" and i + 2 < len(tokens) and tokens[i + 1][0] == "op" and tokens[i + 1][1] not in "+-":
            out.append(_comparison(text, tokens[i + 1][1], tokens[i + 2], kinds, choice_id))
            i += 3
        else:
            raise LogicError(f"cannot read `{text}` here")
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def _tokens(logic: str) -> list[tuple[str, str]]:
    found, position = [], 0
    text = logic.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise LogicError(f"cannot read the logic from `{text[position : position + 20]}`")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _comparison(
    field: str,
    op: str,
    right: tuple[str, str],
    kinds: Callable[[str], str | None],
    choice_id: Callable[[str, str], str],
) -> str:
    inner = field[1:-1]
    name, _, code = inner.partition("(")
    code = code.rstrip(")")
    kind = kinds(name)
    if kind is None:
        raise LogicError(f"[{name}] is not a field of this dictionary")
    right_kind, right_text = right
    if right_kind not in ("string", "number"):
        raise LogicError(f"[{inner}] is compared with `{right_text}`, not a value")
    value = right_text[1:-1] if right_kind == "string" else right_text
    equal = op in ("=", "==")
    if op not in ("=", "==", "<>", "!=") and value == "":
        raise LogicError(f"[{inner}] {op} '' compares with a blank")
    if code:  # a checkbox: [x(code)] = '1'
        if kind != "multi" or value not in ("0", "1") or op not in ("=", "==", "<>", "!="):
            raise LogicError(f"[{inner}] {op} {right_text} is not a checkbox test")
        ticked = (value == "1") == equal
        return f"'{choice_id(name, code)}' {'in' if ticked else 'not in'} {name}"
    if value == "":
        return f"{name} is {'' if equal else 'not '}missing"
    pack_op = {"=": "==", "==": "==", "<>": "!=", "!=": "!="}.get(op, op)
    if kind == "yesno":
        if value not in ("0", "1") or pack_op not in ("==", "!="):
            raise LogicError(f"[{name}] is yes/no; compare it with '1' or '0'")
        return f"{name} {pack_op} {'true' if value == '1' else 'false'}"
    if kind in ("integer", "number"):
        try:
            float(value)
        except ValueError:
            raise LogicError(f"[{name}] is a number; `{right_text}` is not") from None
        return f"{name} {pack_op} {value}"
    if kind == "choice":
        value = choice_id(name, value)
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{name} {pack_op} {quoted}"
