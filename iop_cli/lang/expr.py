"""The condition language's parser and checker: the one place text becomes a tree, for packs and maps alike.

A condition is a Python-like expression parsed with `ast` under an allow-list and checked against the fields at load
time (names, kinds, choices, ranges, and arithmetic that cannot overflow). The result is a typed tree (`lang.tree`);
`Expr` pairs it with its Python evaluator (`lang.py`). Nothing is ever passed to `eval`.
"""

from __future__ import annotations

import ast
import functools
import io
import math
import re
import sys
import tokenize
import unicodedata
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from iop_cli.lang import py
from iop_cli.lang.tree import (
    Arith,
    Bounds,
    Compare,
    CompareOp,
    FieldType,
    Has,
    Lit,
    Logic,
    Member,
    Missing,
    Node,
    Not,
    Ref,
    Sign,
    as_float,
    bounds_of,
    field_names,
)
from iop_cli.problems import did_you_mean
from iop_cli.safe_text import cut

MAX_LENGTH = 2000
MAX_DEPTH = 40

# Words the language reserves; a field may not use them as its id.
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "True": True, "False": False}
MISSING_WORD = "missing"
RESERVED = set(BOOL_WORDS) | {MISSING_WORD, "level", "and", "or", "not", "in", "is", "None"}

NUMERIC = ("integer", "number")

# A number as a person writes it, in a condition, an answer or a mapped cell: ASCII digits, an optional sign, point
# and exponent. Python's int() and float() also take `3_5`, fullwidth `３５`, Arabic-Indic `٣`, `nan` and
# `infinity`, and its parser `0x22`, `0o7` and `3j`, none of which a person would mean.
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Whole numbers are 64-bit integers in batch scoring (Polars Int64, which wraps on overflow), and decimals are 64-bit
# floats, so every whole value a condition can produce, intermediate ones included, must fit in an int64 and every
# decimal must stay finite (infinity minus infinity is NaN, which Python and Polars compare differently).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = sys.float_info.max

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


class ExprError(Exception):
    """A condition that cannot be accepted; `col` is 0-based within the original text."""

    def __init__(self, message: str, col: int = 0, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.col = col
        self.hint = hint


def field_bounds(ftype: FieldType) -> Bounds | None:
    """A numeric field's range as the checker assumes it: its declared min and max, else everything the batch
    back end can hold (int64 for whole numbers, finite floats for decimals)."""
    if ftype.kind == "integer":
        low = INT64_MIN if ftype.min is None else math.ceil(ftype.min)
        high = INT64_MAX if ftype.max is None else math.floor(ftype.max)
        return Bounds(low, high, True)
    if ftype.kind == "number":
        lo = -FLOAT_MAX if ftype.min is None else as_float(ftype.min)
        hi = FLOAT_MAX if ftype.max is None else as_float(ftype.max)
        return Bounds(lo, hi, False)
    return None


# A mapped input column holds codes: batch scoring reads a cell as a number only within this range (exact in a
# float), so a map's arithmetic has bounds to check.
CODE_LIMIT = 10**15


class AnyNumber(Mapping):
    """Fields for conditions over input columns (`--map` derive): every name is a code, a number within
    +/-CODE_LIMIT. An export's headers may be in any language (`ÉTAT`), so names may hold any letters, as long as
    Python reads them exactly as written (no look-alike folding)."""

    any_letters = True

    def __getitem__(self, name: str) -> FieldType:
        return FieldType("number", min=-CODE_LIMIT, max=CODE_LIMIT)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_COMPARE: dict[type, CompareOp] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
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
        # ast counts columns in UTF-8 bytes; a quoted word may hold other characters, so map bytes to characters.
        self.char_at: list[int] = []
        for index, ch in enumerate(source):
            self.char_at += [index] * len(ch.encode("utf-8", "surrogatepass"))
        self.char_at.append(len(source))

    def col(self, node: ast.AST) -> int:
        offset = getattr(node, "col_offset", 0)
        char = self.char_at[min(offset, len(self.char_at) - 1)]
        return self.origin[min(char, len(self.origin) - 1)]

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
            return Lit("bool", self.text(node), self.col(node), value)
        if isinstance(value, (int, float)):
            return self._number(node, value)
        if isinstance(value, str):
            bad = next((ch for ch in value if 0xD800 <= ord(ch) <= 0xDFFF), None)
            if bad is not None:
                raise self.fail(
                    node,
                    f"the quoted word holds a lone surrogate (U+{ord(bad):04X}), which is not a character",
                    "remove the \\u escape, or write the character itself",
                )
            return Lit("string", self.text(node), self.col(node), value)
        raise self.fail(
            node, f"the value `{self.text(node)}` is not allowed", "use a number, a quoted word or true/false"
        )

    def _number(self, node: ast.AST, value: int | float) -> Lit:
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            digits = len(str(abs(value)))
            raise self.fail(
                node,
                f"the whole number `{_cut(self.text(node))}` ({digits} digits) is too large: whole numbers must lie "
                f"within +/-{INT64_MAX}",
                "use a smaller number",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(
                node,
                f"the number `{_cut(self.text(node))}` is too large: it reads as infinity",
                f"use a number within +/-{FLOAT_MAX:.4g}",
            )
        return Lit("number", self.text(node), self.col(node), value, Bounds(value, value, isinstance(value, int)))

    def visit_Name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        written = self.text(node)
        if written != name or not name.isidentifier() or not (name.isascii() or _any_letters(self.fields, name)):
            # Python folds look-alike letters (NFKC): `ａｇｅ` and `ᵃge` would silently read `age`.
            raise self.fail(node, f"`{written}` is not a plain name", _spoof_hint(written, self.fields))
        if name in BOOL_WORDS:
            return Lit("bool", written, self.col(node), BOOL_WORDS[name])
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
        return Ref(kind, name, self.col(node), name, ftype, field_bounds(ftype))

    # -- logic -------------------------------------------------------------------------------------------------

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> Node:
        parts = tuple(self.check(value, depth) for value in node.values)
        for part, value in zip(parts, node.values, strict=True):
            self.want_bool(part, value)
        return Logic(self.text(node), self.col(node), "and" if isinstance(node.op, ast.And) else "or", parts)

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        operand = node.operand
        value = operand.value if isinstance(operand, ast.Constant) else None
        if isinstance(node.op, ast.USub) and isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._number(node, -value)  # -9223372036854775808 fits, though 9223372036854775808 does not
        inner = self.check(node.operand, depth)
        if isinstance(node.op, ast.Not):
            self.want_bool(inner, node.operand)
            return Not(self.text(node), self.col(node), inner)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self.want_number(inner, node.operand)
            negative = isinstance(node.op, ast.USub)
            if isinstance(inner, Lit):
                assert isinstance(inner.value, (int, float))
                return self._number(node, -inner.value if negative else inner.value)
            b = _bounds(inner)
            text = self.text(node)
            bounds = self.within(node, Bounds(-b.hi, -b.lo, b.whole) if negative else b, text, inner)
            return Sign(text, self.col(node), negative, inner, bounds)
        raise self.fail(node, f"the operator in `{self.text(node)}` is not allowed")

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> Node:
        if isinstance(node.op, ast.Pow):
            raise self.fail(node, "`**` is not allowed")
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            raise self.fail(node, "only `+` and `-` are allowed for arithmetic")
        left, right = self.check(node.left, depth), self.check(node.right, depth)
        self.want_number(left, node.left)
        self.want_number(right, node.right)
        add = isinstance(node.op, ast.Add)
        a, b = _bounds(left), _bounds(right)
        if a.whole and b.whole:
            lo, hi = (a.lo + b.lo, a.hi + b.hi) if add else (a.lo - b.hi, a.hi - b.lo)
        else:  # Python and Polars both turn the whole side into a float first, rounding the same way
            alo, ahi, blo, bhi = as_float(a.lo), as_float(a.hi), as_float(b.lo), as_float(b.hi)
            lo, hi = (alo + blo, ahi + bhi) if add else (alo - bhi, ahi - blo)
        text = self.text(node)
        bounds = self.within(node, Bounds(lo, hi, a.whole and b.whole), text, left, right)
        return Arith(text, self.col(node), "+" if add else "-", left, right, bounds)

    def within(self, src: ast.AST, bounds: Bounds, text: str, *operands: Node) -> Bounds:
        """Refuse arithmetic whose result can leave int64 (whole numbers) or the finite floats (decimals)."""
        fields = sorted(set().union(*(field_names(o) for o in operands)))
        hint = (
            "narrow the `min`/`max` of " + ", ".join(f"`{f}`" for f in fields) + ", or use smaller numbers"
            if fields
            else "use smaller numbers"
        )
        if fields:
            given = " given the range of " + ", ".join(f"`{f}`" for f in fields)
        else:
            given = ""
        if bounds.whole:
            if bounds.lo < INT64_MIN or bounds.hi > INT64_MAX:
                extreme = bounds.hi if bounds.hi > INT64_MAX else bounds.lo
                raise self.fail(
                    src,
                    f"`{_cut(text)}` can reach {extreme}{given}, beyond the whole numbers batch scoring holds "
                    f"(+/-{INT64_MAX})",
                    hint,
                )
        elif not (math.isfinite(bounds.lo) and math.isfinite(bounds.hi)):
            raise self.fail(src, f"`{_cut(text)}` can overflow to infinity{given}", hint)
        return bounds

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
        return Logic(self.text(node), self.col(node), "and", tuple(pairs))

    def check_operand(self, node: ast.AST, depth: int) -> Node | None:
        # List operands are only meaningful after `in`; membership() checks them itself.
        if isinstance(node, (ast.List, ast.Tuple)):
            return None
        return self.check(node, depth)

    def compare(self, whole, op, lnode, left: Node | None, rnode, right: Node | None) -> Node:
        if left is None or right is None:
            raise self.fail(whole, "a list can only follow `in` or `not in`")
        symbol = _COMPARE[type(op)]
        if symbol in ("<", "<=", ">", ">="):
            self.want_number(left, lnode)
            self.want_number(right, rnode)
        else:
            self.same_kind(left, right, lnode, rnode)
        for a, b, bnode in ((left, right, rnode), (right, left, lnode)):
            if isinstance(a, Ref) and isinstance(b, Lit):
                self.check_value(a, b, bnode)
        lb, rb = bounds_of(left), bounds_of(right)
        # A whole number against a decimal compares as two floats, as Polars compares Int64 with Float64.
        floats = lb is not None and rb is not None and lb.whole != rb.whole
        return Compare(f"{left.text} {symbol} {right.text}", left.col, symbol, left, right, floats)

    def membership(self, whole, lnode, left: Node | None, rnode, negate: bool) -> Node:
        if left is None:
            raise self.fail(lnode, "a list cannot stand on the left of `in`")
        if isinstance(rnode, ast.Name) and (selection := self.check(rnode, 0)).kind == "multi":
            assert isinstance(selection, Ref)
            return self.has(lnode, left, rnode, selection, negate)
        if isinstance(left, Ref) and left.kind == "multi":
            raise self.fail(
                lnode,
                f"`{left.text}` holds several choices: test one at a time",
                f"e.g. '{left.field_type.choices[0]}' in {left.text}" if left.field_type.choices else "",
            )
        if not isinstance(rnode, (ast.List, ast.Tuple)):
            raise self.fail(rnode, "`in` takes a list of values, like ['a', 'b']")
        if not rnode.elts:
            raise self.fail(rnode, "the list after `in` is empty")
        items = [self.check(elt, 0) for elt in rnode.elts]
        literals: list[Lit] = []
        for item, elt in zip(items, rnode.elts, strict=True):
            if not isinstance(item, Lit):
                raise self.fail(elt, "a list after `in` may hold only literal values")
            self.same_kind(left, item, lnode, elt)
            if isinstance(left, Ref):
                self.check_value(left, item, elt)
            literals.append(item)
        op = "not in" if negate else "in"
        text = f"{left.text} {op} [{', '.join(i.text for i in literals)}]"
        values = tuple(item.value for item in literals)
        # Decimals when the left side or a value is not whole; both back ends then turn whole numbers into floats
        # first, as Polars does when it compares Int64 with Float64.
        bounds = bounds_of(left)
        floats = left.kind == "number" and not (
            bounds is not None and bounds.whole and all(type(x) is int for x in values)
        )
        return Member(text, left.col, negate, left, values, floats)

    def has(self, lnode, left: Node, rnode, selection: Ref, negate: bool) -> Node:
        """`'a' in x` over a multi-select field: the left side is one quoted choice of `x`."""
        if not (isinstance(left, Lit) and left.kind == "string"):
            raise self.fail(
                lnode,
                f"`{selection.name}` holds several choices: put one quoted choice before `in`",
                f"e.g. '{selection.field_type.choices[0]}' in {selection.name}",
            )
        if left.value not in selection.field_type.choices:
            hint = did_you_mean(str(left.value), selection.field_type.choices) or "allowed: " + ", ".join(
                selection.field_type.choices
            )
            raise self.fail(lnode, f"'{left.value}' is not a choice of `{selection.name}`", hint)
        op = "not in" if negate else "in"
        return Has(f"{left.text} {op} {selection.name}", left.col, negate, selection, str(left.value))

    def is_missing(self, node: ast.Compare, depth: int) -> Node:
        left, right = node.left, node.comparators[0]
        if not (isinstance(right, ast.Name) and right.id == MISSING_WORD):
            raise self.fail(right, "`is` only works as `FIELD is missing` or `FIELD is not missing`")
        if not isinstance(left, ast.Name):
            raise self.fail(left, "`is missing` takes a field name on its left")
        ref = self.check(left, depth)
        if not isinstance(ref, Ref):
            raise self.fail(left, "`is missing` takes a field name on its left")
        negate = isinstance(node.ops[0], ast.IsNot)
        return Missing(f"{ref.name} {'is not missing' if negate else 'is missing'}", ref.col, negate, ref)

    # -- typing helpers ----------------------------------------------------------------------------------------

    def want_bool(self, node: Node, src: ast.AST) -> None:
        if node.kind != "bool":
            hint = ""
            if isinstance(node, Ref) and node.kind == "multi" and node.field_type.choices:
                hint = f"test one of its choices, e.g. '{node.field_type.choices[0]}' in {node.name}"
            elif isinstance(node, Ref) and node.field_type.choices:
                hint = f"compare it, e.g. {node.name} == '{node.field_type.choices[0]}'"
            raise self.fail(src, f"`{node.text}` is a {self.describe(node)}, not a yes/no condition", hint)

    def want_number(self, node: Node, src: ast.AST) -> None:
        if node.kind != "number":
            raise self.fail(src, f"`{node.text}` is a {self.describe(node)}, not a number")

    def describe(self, node: Node) -> str:
        if isinstance(node, Ref):
            return "multi-select field" if node.kind == "multi" else f"{node.field_type.kind} field"
        return {"bool": "yes/no value", "number": "number", "string": "quoted word"}.get(node.kind, node.kind)

    def same_kind(self, left: Node, right: Node, lnode, rnode) -> None:
        textual = {"choice", "text", "level", "string"}
        if left.kind == right.kind and left.kind != "string":
            if left.kind in ("choice", "level") and isinstance(left, Ref) and isinstance(right, Ref):
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

    def check_value(self, ref: Ref, lit: Lit, src: ast.AST) -> None:
        ftype = ref.field_type
        if ftype.kind in ("choice", "level") and ftype.choices:
            if lit.value not in ftype.choices:
                hint = did_you_mean(str(lit.value), ftype.choices) or "allowed: " + ", ".join(ftype.choices)
                what = "a level" if ftype.kind == "level" else f"a choice of `{ref.name}`"
                raise self.fail(src, f"'{lit.value}' is not {what}", hint)
        if ftype.kind in NUMERIC:
            value = lit.value
            assert isinstance(value, (int, float))
            if ftype.min is not None and value < ftype.min or ftype.max is not None and value > ftype.max:
                raise self.fail(
                    src,
                    f"{value} is outside the range of `{ref.name}` ({_fmt(ftype.min)}-{_fmt(ftype.max)})",
                    "use a value inside the range, or widen the field's range",
                )


def _bounds(node: Node) -> Bounds:
    """A numeric node's bounds: every number literal and numeric field has them (`want_number` came first)."""
    bounds = bounds_of(node)
    assert bounds is not None, node.text
    return bounds


def _any_letters(fields: Mapping[str, FieldType], word: str) -> bool:
    """Whether `word` may hold letters outside ASCII here: only over a map's input columns, and only when it has one
    spelling (Python folds `ＡＢ` to `AB`, but leaves `ÉTAT` as it is)."""
    return getattr(fields, "any_letters", False) and unicodedata.normalize("NFKC", word) == word


def _cut(text: str) -> str:
    return cut(" ".join(text.split()))


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def _spoof_hint(word: str, fields: Mapping[str, FieldType]) -> str:
    odd = next((ch for ch in word if not (ch.isascii() and (ch.isalnum() or ch == "_"))), None)
    plain = unicodedata.normalize("NFKC", word)
    what = f"`{odd}` is {_describe(odd)}; " if odd else ""
    if plain != word and plain.isascii() and (plain in fields or plain in BOOL_WORDS):
        return f"{what}retype it as `{plain}`: names use only the plain letters a-z, A-Z, digits and _"
    return f"{what}names use only the plain letters a-z, A-Z, digits and _"


def show_number(value: float) -> str:
    """A bound as a person reads it: 12, 2.5, or a huge one in exponent form."""
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.6g}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class Expr:
    """A checked condition or computed value: its text, its tree, the fields it reads, and its Python evaluator."""

    source: str
    root: Node
    names: tuple[str, ...]
    evaluate: py.Evaluator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.evaluate = py.compile(self.root)

    @functools.cached_property
    def _parts(self) -> list[tuple[str, py.Evaluator]]:
        parts = self.root.parts if isinstance(self.root, Logic) else (self.root,)
        return [(" ".join(part.text.split()), py.compile(part)) for part in parts]

    def clauses(self, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The top-level parts of an and/or with their values: the 'why' of a rule in plain terms."""
        return [(text, ev(values)) for text, ev in self._parts]

    @property
    def kind(self) -> str:
        return self.root.kind


def both(first: Expr, second: Expr) -> Expr:
    """`first and second`, of two checked conditions (a module's questions under their include's `ask_if`)."""
    root = Logic(f"({first.source}) and ({second.source})", 0, "and", (first.root, second.root))
    return Expr(root.text, root, tuple(dict.fromkeys((*first.names, *second.names))))


_SYNTAX_HINTS = (
    ("invalid decimal literal", "put a space between a number and a word, as in `34 and sud`"),
    ("invalid hexadecimal literal", "put a space between a number and a word"),
    ("invalid octal literal", "put a space between a number and a word"),
    ("invalid binary literal", "put a space between a number and a word"),
    ("invalid escape sequence", "inside quotes, write a backslash as \\\\"),
)


def _scan(text: str, fields: Mapping[str, FieldType]) -> None:
    """Checks on the author's own text, before Python's parser folds or drops anything: no lone surrogates, only
    plain ASCII outside quotes (Python would read `ａｇｅ` or `ᵃge` as `age`), no `#` (Python would ignore the rest),
    and only plain quotes. Columns are those of `text`."""
    for index, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ExprError(
                f"the condition holds a lone surrogate (U+{ord(ch):04X}), which is not a character",
                index,
                "remove it, or write the character itself",
            )
        if ch == "\0":
            raise ExprError("the condition holds a NUL character", index, "remove it")
    # Newlines of a YAML block become spaces (one character each), so token columns are columns of `text`.
    flat = text.replace("\r", " ").replace("\n", " ")
    try:
        for token in tokenize.generate_tokens(io.StringIO(flat).readline):
            kind, word, col = token.type, token.string, token.start[1]
            if kind == tokenize.COMMENT:
                raise ExprError(
                    "`#` is not allowed in a condition: Python would ignore everything after it",
                    col,
                    "a YAML comment goes outside the condition: after a plain (unquoted) one, or on its own line",
                )
            if kind == tokenize.STRING:
                if word[0] not in "'\"":
                    what = "f-strings are" if "f" in word[:2].lower() else "a letter before a quote is"
                    raise ExprError(f"`{_cut(word)}`: {what} not allowed", col, "write a plain 'word'")
                if word[:3] in ("'''", '"""'):
                    raise ExprError("triple quotes are not allowed", col, "write a plain 'word'")
                continue
            if kind == tokenize.NUMBER and not DECIMAL.fullmatch(word):
                raise ExprError(
                    f"`{_cut(word)}` is not a plain decimal number",
                    col,
                    "write numbers with the digits 0-9 and at most one point, as in 34 or 2.5",
                )
            if kind == tokenize.ERRORTOKEN and word[:1] in "'\"":
                return  # an unclosed quote: the parser says so
            odd = next((i for i, ch in enumerate(word) if not ch.isascii()), None)
            if odd is not None and kind == tokenize.NAME and _any_letters(fields, word):
                continue
            if odd is not None:
                ch = word[odd]
                if kind == tokenize.NAME:
                    raise ExprError(f"`{word}` is not a plain name", col, _spoof_hint(word, fields))
                raise ExprError(
                    f"`{ch}` ({_describe(ch)}) is not allowed outside quotes",
                    col + odd,
                    "retype it with a plain keyboard character",
                )
    except (tokenize.TokenError, SyntaxError):
        return  # the parser reports what is wrong


def parse(text: str, fields: Mapping[str, FieldType], want: str | None = "bool") -> Expr:
    """Parse and check `text` against `fields`; raise ExprError with a column on any problem."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the condition is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the condition is longer than {MAX_LENGTH} characters", 0, "split it into rules")
    _scan(text, fields)
    source, origin = normalize(text)
    # YAML block text may carry newlines and indentation; the language has no statements, so fold them away.
    flat = source.replace("\r", " ").replace("\n", " ")
    lead = len(flat) - len(flat.lstrip())
    flat, origin = flat[lead:], origin[lead:]
    try:
        # Python's warnings (SyntaxWarning for `34and`, invalid escapes) become errors here: none reaches stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(flat, mode="eval")
    except SyntaxError as exc:
        col = origin[min(max((exc.offset or 1) - 1, 0), len(origin) - 1)]
        message = str(exc.msg)
        hint = next((h for key, h in _SYNTAX_HINTS if key in message), "check brackets, quotes and operators")
        raise ExprError(f"cannot read the condition: {message}", col, hint) from None
    except (RecursionError, MemoryError, ValueError, Warning):
        raise ExprError("the condition is too complex to read", 0, "split it into rules") from None
    checker = _Checker(flat, origin, fields)
    try:
        root = checker.check(tree.body)
    except RecursionError:
        raise ExprError("the condition is too complex to read", 0, "split it into rules") from None
    if want == "bool" and root.kind != "bool":
        hint = "compare it with something, e.g. `== 'x'`"
        if isinstance(root, Ref) and root.kind == "multi" and root.field_type.choices:
            hint = f"test one of its choices, e.g. '{root.field_type.choices[0]}' in {root.name}"
        raise ExprError(f"`{_cut(text.strip())}` is not a yes/no condition", root.col, hint)
    if want == "number" and root.kind != "number":
        raise ExprError(f"`{_cut(text.strip())}` is not a number", root.col)
    return Expr(text, root, tuple(dict.fromkeys(checker.names)))
