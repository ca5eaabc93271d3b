"""Walkers over the checked tree that the lint (and, later, the counterfactual search) share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from iop_cli.lang.tree import (
    Arith,
    Compare,
    Has,
    Lit,
    Member,
    Missing,
    Node,
    Ref,
    Sign,
    children,
)


def _number(node: Node) -> int | float | None:
    if isinstance(node, Lit) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def missing_tested(node: Node) -> set[str]:
    """The fields that `is missing` tests in the tree name."""
    found = {node.field.name} if isinstance(node, Missing) else set()
    for child in children(node):
        found |= missing_tested(child)
    return found


def choices_tested(node: Node, found: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """The choices that `'a' in x` tests name, for each multi-select field `x`."""
    found = {} if found is None else found
    if isinstance(node, Has):
        found.setdefault(node.field.name, set()).add(node.value)
    for child in children(node):
        choices_tested(child, found)
    return found


def texts_tested(node: Node, found: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """The words each free-text field `x` is compared with (`x == 'A1'`, `x in ['a', 'b']`)."""
    found = {} if found is None else found
    match node:
        case (
            Compare(left=Ref(kind="text", name=name), right=Lit(value=str() as value))
            | Compare(left=Lit(value=str() as value), right=Ref(kind="text", name=name))
        ):
            found.setdefault(name, set()).add(value)
        case Member(operand=Ref(kind="text", name=name), values=values):
            found.setdefault(name, set()).update(v for v in values if isinstance(v, str))
    for child in children(node):
        texts_tested(child, found)
    return found


# A linear form: coefficient per field, and a constant. `x - y + 3` is ({"x": 1, "y": -1}, 3).
Linear = tuple[dict[str, int | float], int | float]


def linear(node: Node, expand: Callable[[str], Node | None] = lambda name: None) -> Linear | None:
    """The node as a sum of fields and a number, or None when it is not one (a word, a condition). `expand` gives
    the tree that a field stands for (a computed field's expression), to see through it; None keeps the field."""
    match node:
        case Lit():
            number = _number(node)
            return None if number is None else ({}, number)
        case Ref(name=name):
            inner = expand(name)
            if inner is not None:
                return linear(inner, expand)
            return ({name: 1}, 0) if node.kind == "number" else None
        case Sign(negative=negative, operand=operand):
            form = linear(operand, expand)
            if form is None or not negative:
                return form
            return {k: -v for k, v in form[0].items()}, -form[1]
        case Arith(op=op, left=left, right=right):
            a, b = linear(left, expand), linear(right, expand)
            if a is None or b is None:
                return None
            sign = 1 if op == "+" else -1
            terms = dict(a[0])
            for name, coefficient in b[0].items():
                terms[name] = terms.get(name, 0) + sign * coefficient
            return {k: v for k, v in terms.items() if v != 0}, a[1] + sign * b[1]
    return None


def number_tests(node: Node) -> Iterator[tuple[Node, Node | None, tuple[int | float, ...]]]:
    """Each numeric test in the tree, as (a, b, numbers): the test is of `a - b` (or of `a` when b is None)
    against those numbers. `x + 3 >= 10` is (x + 3, None, (10,)); `x < y` is (x, y, (0,))."""
    match node:
        case Compare(left=left, right=right) if left.kind == "number" and right.kind == "number":
            for side, other in ((left, right), (right, left)):
                value = _number(other)
                if value is not None:
                    yield side, None, (value,)
                    break
            else:
                yield left, right, (0,)
        case Member(operand=operand, values=values) if operand.kind == "number":
            yield operand, None, tuple(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    for child in children(node):
        yield from number_tests(child)
