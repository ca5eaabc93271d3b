"""The condition language of rule packs.

A condition is a Python-like expression parsed with `ast` under an allow-list, checked against the pack's fields at
load time, and compiled to closures. Nothing is ever passed to `eval`.

Logic is three-valued: a field with no answer is unknown (`None`), and unknown flows through `and`/`or`/`not` the
way SQL's NULL does, so a condition over a missing answer is never silently false.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .problems import did_you_mean

MAX_LENGTH = 2000
MAX_DEPTH = 40

# Words the language reserves; a field may not use them as its id.
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "True": True, "False": False}
MISSING_WORD = "missing"
RESERVED = set(BOOL_WORDS) | {MISSING_WORD, "level", "and", "or", "not", "in", "is", "None"}

NUMERIC = ("integer", "number")

_FORBIDDEN = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "subscripts (a[b]) are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "`:=` is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.IfExp: "`x if c else y` is not allowed; write separate rules",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed; use a list like ['a', 'b']",
    ast.Starred: "`*` unpacking is not allowed",
    ast.Await: "`await` is not allowed",
    ast.Yield: "`yield` is not allowed",
    ast.YieldFrom: "`yield` is not allowed",
    ast.Slice: "slices are not allowed",
}


@dataclass(frozen=True)
class FieldType:
    """What the checker needs to know about a name: its kind, choices and range."""

    kind: str  # yesno, choice, integer, number, text, level
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None


class ExprError(Exception):
    """A condition that cannot be accepted; `col` is 0-based within the original text."""

    def __init__(self, message: str, col: int = 0, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.col = col
        self.hint = hint


# ----------------------------------------------------------------------------------------------------------------
# Checked tree. Every node knows its kind and its source text; `ev` is its compiled closure.


@dataclass
class Node:
    kind: str  # bool, number, string, choice, text, level
    text: str
    col: int
    ev: Callable[[Mapping[str, Any]], Any] = field(repr=False, default=lambda v: None)
    field_type: FieldType | None = None  # set for field references
    name: str | None = None  # field name for references
    literal: Any = None  # python value for literals
    is_literal: bool = False
    children: tuple[Node, ...] = ()
    op: str = ""  # the operator, so explanations (and later back ends) can walk the checked tree


def _kleene(values, dominant: bool):
    """Three-valued `and` (dominant False) or `or` (dominant True): the dominant value wins outright; otherwise any
    unknown makes the result unknown."""
    unknown = False
    for value in values:
        if value is dominant:
            return dominant
        if value is None:
            unknown = True
    return None if unknown else not dominant


def _and3(values):
    return _kleene(values, False)


def _or3(values):
    return _kleene(values, True)


_COMPARE = {
    ast.Eq: ("==", lambda a, b: a == b),
    ast.NotEq: ("!=", lambda a, b: a != b),
    ast.Lt: ("<", lambda a, b: a < b),
    ast.LtE: ("<=", lambda a, b: a <= b),
    ast.Gt: (">", lambda a, b: a > b),
    ast.GtE: (">=", lambda a, b: a >= b),
}


def normalize(text: str) -> tuple[str, list[int]]:
    """Rewrite `=` to `==` and `<>` to `!=` outside strings; return the new text and a map to original columns."""
    out: list[str] = []
    origin: list[int] = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            origin.append(i)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                origin.append(i + 1)
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
            origin.append(i)
        elif text.startswith("<>", i):
            out += ["!", "="]
            origin += [i, i + 1]
            i += 1
        elif ch == "=" and (i == 0 or text[i - 1] not in "=!<>:") and text[i + 1 : i + 2] != "=":
            out += ["=", "="]
            origin += [i, i]
        else:
            out.append(ch)
            origin.append(i)
        i += 1
    origin.append(len(text))
    return "".join(out), origin


class _Checker:
    def __init__(self, source: str, origin: list[int], fields: Mapping[str, FieldType]):
        self.source = source
        self.origin = origin
        self.fields = fields
        self.names: list[str] = []

    def col(self, node: ast.AST) -> int:
        offset = getattr(node, "col_offset", 0)
        return self.origin[min(offset, len(self.origin) - 1)]

    def fail(self, node: ast.AST, message: str, hint: str = "") -> ExprError:
        return ExprError(message, self.col(node), hint)

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def check(self, node: ast.AST, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"the condition is nested more than {MAX_DEPTH} levels deep", "split it into rules")
        for bad, message in _FORBIDDEN.items():
            if isinstance(node, bad):
                raise self.fail(node, message)
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"`{self.text(node) or type(node).__name__}` is not allowed in a condition")
        return method(node, depth + 1)

    # -- leaves ------------------------------------------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant, depth: int) -> Node:
        value = node.value
        if isinstance(value, bool):
            return self._literal(node, "bool", value)
        if isinstance(value, (int, float)):
            return self._literal(node, "number", value)
        if isinstance(value, str):
            return self._literal(node, "string", value)
        raise self.fail(
            node, f"the value `{self.text(node)}` is not allowed", "use a number, a quoted word or true/false"
        )

    def _literal(self, node: ast.AST, kind: str, value: Any) -> Node:
        return Node(kind, self.text(node), self.col(node), lambda v, value=value: value, literal=value, is_literal=True)

    def visit_Name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        if name in BOOL_WORDS:
            return self._literal(node, "bool", BOOL_WORDS[name])
        if name == MISSING_WORD:
            raise self.fail(node, "`missing` only works as `FIELD is missing` or `FIELD is not missing`")
        ftype = self.fields.get(name)
        if ftype is None:
            hint = did_you_mean(name, self.fields)
            if not hint:
                owners = [fid for fid, ft in self.fields.items() if name in ft.choices]
                if owners:
                    hint = f"`{name}` is a choice of `{owners[0]}`: quote it, as '{name}'"
            raise self.fail(node, f"unknown field `{name}`", hint)
        self.names.append(name)
        kind = {"yesno": "bool", "integer": "number", "number": "number"}.get(ftype.kind, ftype.kind)
        return Node(kind, name, self.col(node), lambda v, name=name: v.get(name), field_type=ftype, name=name)

    # -- logic -------------------------------------------------------------------------------------------------

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> Node:
        parts = tuple(self.check(value, depth) for value in node.values)
        for part, value in zip(parts, node.values, strict=True):
            self.want_bool(part, value)
        evs = [p.ev for p in parts]
        if isinstance(node.op, ast.And):
            ev, op = (lambda v: _and3(e(v) for e in evs)), "and"
        else:
            ev, op = (lambda v: _or3(e(v) for e in evs)), "or"
        return Node("bool", self.text(node), self.col(node), ev, children=parts, op=op)

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        inner = self.check(node.operand, depth)
        if isinstance(node.op, ast.Not):
            self.want_bool(inner, node.operand)
            e = inner.ev

            def ev(v):
                value = e(v)
                return None if value is None else not value

            return Node("bool", self.text(node), self.col(node), ev, children=(inner,), op="not")
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self.want_number(inner, node.operand)
            if inner.is_literal:
                value = -inner.literal if isinstance(node.op, ast.USub) else inner.literal
                return self._literal(node, "number", value)
            e = inner.ev
            sign = -1 if isinstance(node.op, ast.USub) else 1

            def neg(v):
                value = e(v)
                return None if value is None else sign * value

            return Node(
                "number", self.text(node), self.col(node), neg, children=(inner,), op="neg" if sign < 0 else "pos"
            )
        raise self.fail(node, f"the operator in `{self.text(node)}` is not allowed")

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> Node:
        if isinstance(node.op, ast.Pow):
            raise self.fail(node, "`**` is not allowed")
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            raise self.fail(node, "only `+` and `-` are allowed for arithmetic")
        left, right = self.check(node.left, depth), self.check(node.right, depth)
        self.want_number(left, node.left)
        self.want_number(right, node.right)
        le, re_ = left.ev, right.ev
        add = isinstance(node.op, ast.Add)

        def ev(v):
            a, b = le(v), re_(v)
            if a is None or b is None:
                return None
            return a + b if add else a - b

        return Node("number", self.text(node), self.col(node), ev, children=(left, right), op="+" if add else "-")

    def visit_Compare(self, node: ast.Compare, depth: int) -> Node:
        operands = [node.left, *node.comparators]
        if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            if len(node.ops) != 1:
                raise self.fail(node, "`is missing` cannot be chained with other comparisons")
            return self.is_missing(node, depth)
        checked = [self.check_operand(o, depth) for o in operands]
        pairs: list[Node] = []
        for i, op in enumerate(node.ops):
            left, right = checked[i], checked[i + 1]
            if isinstance(op, (ast.In, ast.NotIn)):
                pairs.append(self.membership(node, operands[i], left, operands[i + 1], isinstance(op, ast.NotIn)))
            else:
                pairs.append(self.compare(node, op, operands[i], left, operands[i + 1], right))
        if len(pairs) == 1:
            return pairs[0]
        evs = [p.ev for p in pairs]
        return Node(
            "bool", self.text(node), self.col(node), lambda v: _and3(e(v) for e in evs), children=tuple(pairs), op="and"
        )

    def check_operand(self, node: ast.AST, depth: int) -> Node | None:
        # List operands are only meaningful after `in`; membership() checks them itself.
        if isinstance(node, (ast.List, ast.Tuple)):
            return None
        return self.check(node, depth)

    def compare(self, whole, op, lnode, left: Node | None, rnode, right: Node | None) -> Node:
        if left is None or right is None:
            raise self.fail(whole, "a list can only follow `in` or `not in`")
        symbol, fn = _COMPARE[type(op)]
        if symbol in ("<", "<=", ">", ">="):
            self.want_number(left, lnode)
            self.want_number(right, rnode)
        else:
            self.same_kind(left, right, lnode, rnode)
        for a, b, bnode in ((left, right, rnode), (right, left, lnode)):
            if a.field_type is not None and b.is_literal:
                self.check_value(a, b, bnode)
        le, re_ = left.ev, right.ev

        def ev(v):
            a, b = le(v), re_(v)
            if a is None or b is None:
                return None
            return fn(a, b)

        text = f"{left.text} {symbol} {right.text}"
        return Node("bool", text, left.col, ev, children=(left, right), op=symbol)

    def membership(self, whole, lnode, left: Node | None, rnode, negate: bool) -> Node:
        if left is None:
            raise self.fail(lnode, "a list cannot stand on the left of `in`")
        if not isinstance(rnode, (ast.List, ast.Tuple)):
            raise self.fail(rnode, "`in` takes a list of values, like ['a', 'b']")
        if not rnode.elts:
            raise self.fail(rnode, "the list after `in` is empty")
        items = [self.check(elt, 0) for elt in rnode.elts]
        for item, elt in zip(items, rnode.elts, strict=True):
            if not item.is_literal:
                raise self.fail(elt, "a list after `in` may hold only literal values")
            self.same_kind(left, item, lnode, elt)
            if left.field_type is not None:
                self.check_value(left, item, elt)
        values = frozenset(item.literal for item in items)
        le = left.ev

        def ev(v):
            a = le(v)
            if a is None:
                return None
            return (a in values) != negate

        op = "not in" if negate else "in"
        text = f"{left.text} {op} [{', '.join(i.text for i in items)}]"
        literal = tuple(item.literal for item in items)
        return Node("bool", text, left.col, ev, children=(left,), op=op, literal=literal)

    def is_missing(self, node: ast.Compare, depth: int) -> Node:
        left, right = node.left, node.comparators[0]
        if not (isinstance(right, ast.Name) and right.id == MISSING_WORD):
            raise self.fail(right, "`is` only works as `FIELD is missing` or `FIELD is not missing`")
        if not isinstance(left, ast.Name):
            raise self.fail(left, "`is missing` takes a field name on its left")
        ref = self.check(left, depth)
        if ref.field_type is None:
            raise self.fail(left, "`is missing` takes a field name on its left")
        negate = isinstance(node.ops[0], ast.IsNot)
        name = ref.name

        def ev(v):
            return (v.get(name) is None) != negate

        op = "is not missing" if negate else "is missing"
        return Node("bool", f"{name} {op}", ref.col, ev, children=(ref,), op=op)

    # -- typing helpers ----------------------------------------------------------------------------------------

    def want_bool(self, node: Node, src: ast.AST) -> None:
        if node.kind != "bool":
            hint = ""
            if node.field_type is not None and node.field_type.choices:
                hint = f"compare it, e.g. {node.name} == '{node.field_type.choices[0]}'"
            raise self.fail(src, f"`{node.text}` is a {self.describe(node)}, not a yes/no condition", hint)

    def want_number(self, node: Node, src: ast.AST) -> None:
        if node.kind != "number":
            raise self.fail(src, f"`{node.text}` is a {self.describe(node)}, not a number")

    def describe(self, node: Node) -> str:
        if node.field_type is not None:
            return f"{node.field_type.kind} field"
        return {"bool": "yes/no value", "number": "number", "string": "quoted word"}.get(node.kind, node.kind)

    def same_kind(self, left: Node, right: Node, lnode, rnode) -> None:
        textual = {"choice", "text", "level", "string"}
        if left.kind == right.kind and left.kind != "string":
            if left.kind in ("choice", "level") and left.field_type and right.field_type:
                if not set(left.field_type.choices) & set(right.field_type.choices):
                    raise self.fail(rnode, f"`{left.text}` and `{right.text}` share no values")
            return
        if left.kind in textual and right.kind in textual and "string" in (left.kind, right.kind):
            return
        if left.kind == "number" and right.kind == "number":
            return
        raise self.fail(
            rnode, f"cannot compare `{left.text}` ({self.describe(left)}) with `{right.text}` ({self.describe(right)})"
        )

    def check_value(self, ref: Node, lit: Node, src: ast.AST) -> None:
        ftype = ref.field_type
        assert ftype is not None
        if ftype.kind in ("choice", "level") and ftype.choices:
            if lit.literal not in ftype.choices:
                hint = did_you_mean(str(lit.literal), ftype.choices) or "allowed: " + ", ".join(ftype.choices)
                what = "a level" if ftype.kind == "level" else f"a choice of `{ref.name}`"
                raise self.fail(src, f"'{lit.literal}' is not {what}", hint)
        if ftype.kind in NUMERIC:
            value = lit.literal
            if ftype.min is not None and value < ftype.min or ftype.max is not None and value > ftype.max:
                raise self.fail(
                    src,
                    f"{value} is outside the range of `{ref.name}` ({_fmt(ftype.min)}-{_fmt(ftype.max)})",
                    "use a value inside the range, or widen the field's range",
                )


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class Expr:
    """A checked condition or computed value, ready to evaluate."""

    source: str
    root: Node
    names: tuple[str, ...]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return self.root.ev(values)

    def clauses(self, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The top-level parts of an and/or with their values: the 'why' of a rule in plain terms."""
        parts = self.root.children if self.root.op in ("and", "or") else (self.root,)
        return [(" ".join(part.text.split()), part.ev(values)) for part in parts]

    @property
    def kind(self) -> str:
        return self.root.kind


def parse(text: str, fields: Mapping[str, FieldType], want: str | None = "bool") -> Expr:
    """Parse and check `text` against `fields`; raise ExprError with a column on any problem."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the condition is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the condition is longer than {MAX_LENGTH} characters", 0, "split it into rules")
    source, origin = normalize(text)
    # YAML block text may carry newlines and indentation; the language has no statements, so fold them away.
    flat = source.replace("\n", " ")
    lead = len(flat) - len(flat.lstrip())
    flat, origin = flat[lead:], origin[lead:]
    try:
        tree = ast.parse(flat, mode="eval")
    except SyntaxError as exc:
        col = origin[min(max((exc.offset or 1) - 1, 0), len(origin) - 1)]
        raise ExprError(f"cannot read the condition: {exc.msg}", col, "check brackets, quotes and operators") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError("the condition is too complex to read", 0, "split it into rules") from None
    checker = _Checker(flat, origin, fields)
    try:
        root = checker.check(tree.body)
    except RecursionError:
        raise ExprError("the condition is too complex to read", 0, "split it into rules") from None
    if want == "bool" and root.kind != "bool":
        raise ExprError(
            f"`{text.strip()}` is not a yes/no condition", root.col, "compare it with something, e.g. `== 'x'`"
        )
    if want == "number" and root.kind != "number":
        raise ExprError(f"`{text.strip()}` is not a number", root.col)
    return Expr(text, root, tuple(dict.fromkeys(checker.names)))
