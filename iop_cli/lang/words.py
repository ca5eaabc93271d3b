"""The plain-words back end: a checked tree as a reviewer reads it (`iop rules doc`)."""

from __future__ import annotations

from iop_cli.lang.tree import Arith, Compare, Has, Lit, Logic, Member, Missing, Node, Not, Ref, Sign, assert_never

_WORDS = {
    "==": "is",
    "!=": "is not",
    "<": "is below",
    "<=": "is at most",
    ">": "is above",
    ">=": "is at least",
}


def plain(node: Node, parent: str = "") -> str:
    """A condition in words: `ciwa_ar >= 20 and not pregnant` -> "CIWA-Ar is at least 20 and pregnant is no"."""
    match node:
        case Lit(value=value):
            if isinstance(value, bool):
                return "yes" if value else "no"
            return f"'{value}'" if isinstance(value, str) else str(value)
        case Ref(name=name, field_type=ftype):
            return f"{name} is yes" if ftype.kind == "yesno" else name
        case Logic(op=op, parts=parts):
            text = f" {op} ".join(plain(part, op) for part in parts)
            return f"({text})" if parent and parent != op else text
        case Not(operand=inner):
            if isinstance(inner, Ref) and inner.field_type.kind == "yesno":
                return f"{inner.name} is no"
            return f"not ({plain(inner, 'not')})"
        case Compare(op=op, left=left, right=right):
            return f"{_operand(left)} {_WORDS[op]} {_operand(right)}"
        case Member(negate=negate, operand=operand, values=values):
            listed = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
            return f"{_operand(operand)} {'is none of' if negate else 'is one of'} {listed}"
        case Has(negate=negate, field=ref, value=value):
            return f"{ref.name} {'does not include' if negate else 'includes'} '{value}'"
        case Missing(negate=negate, field=ref):
            return f"{ref.name} {'is answered' if negate else 'is unanswered'}"
        case Arith(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case Sign(negative=negative, operand=operand):
            return f"{'-' if negative else '+'}{_operand(operand)}"
        case _:
            assert_never(node)


def _operand(node: Node) -> str:
    return node.name if isinstance(node, Ref) else plain(node, "cmp")
