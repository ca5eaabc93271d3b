"""Walkers over the checked tree that the lint (and, later, the counterfactual search) share."""

from __future__ import annotations

from iop_cli.lang.tree import Arith, Compare, Lit, Logic, Member, Missing, Node, Not, Ref, Sign, assert_never, children


def _number(node: Node) -> int | float | None:
    if isinstance(node, Lit) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def constants(node: Node, name: str) -> set[int | float]:
    """The numbers written beside field `name`: compared with it (`x >= 20`), listed for it (`x in [1, 2]`), or added
    to it (`x + 3`). The lint's search cuts a numeric field's range at these, so two answers between the same cuts
    decide alike. (A constant compared with a sum, as in `x + y >= 10`, is not beside either field; packs with sums
    need the finer search of issue 17.)"""
    found: set[int | float] = set()
    match node:
        case Lit() | Ref() | Missing():
            pass
        case Not() | Logic() | Sign():
            pass
        case Compare(left=left, right=right) | Arith(left=left, right=right):
            for side, other in ((left, right), (right, left)):
                value = _number(other)
                if isinstance(side, Ref) and side.name == name and value is not None:
                    found.add(value)
        case Member(operand=Ref(name=field), values=values) if field == name:
            found.update(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
        case Member():
            pass
        case _:
            assert_never(node)
    for child in children(node):
        found |= constants(child, name)
    return found
