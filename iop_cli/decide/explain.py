"""This person's reason (issue 13): the answers that decided the rule that placed them, stated in the pack's words.

A rule's condition lists alternatives ("moderate psychiatric symptoms or moderate withdrawal"); its `because` text
says why such people go to its level. What decided for one person is the part of the condition that held for them:
every part of an `and` that holds, the first part of an `or` that holds, and under `not` the same for the opposite
result. The fields those parts read are the grounds, each stated with the person's answer through the question's
`says` text and, for a number, the band it falls in ("COWS 15 (moderate withdrawal, 13-24)").

Grounds depend only on the values of the fields the rule reads, so batch scoring (`decide.frame`) numbers each
combination of them (`digit_sizes`) and states each distinct one once, with the same functions. A rule whose fields
cannot be numbered so (a decimal, free text, or too many combinations) keeps its `because` alone, in every command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from iop_cli.lang import py
from iop_cli.lang.py import Range
from iop_cli.lang.tree import Logic, Node, Not, Ref, children
from iop_cli.pack.model import Pack, Question, Rule

MAX_COMBINATIONS = 1 << 31  # the most combinations of a rule's fields that batch scoring numbers


class Ground(NamedTuple):
    """One answer that decided: the field, its value (a Range for a partly answered total) and the words."""

    field: str
    value: Any
    text: str


def deciding_fields(node: Node, values: Mapping[str, Any], want: bool = True) -> list[str]:
    """The fields of the parts of `node` that give it the result `want` under `values`, in the order they are
    written: every part of an `and` that holds (of an `or` that fails), the first part of an `or` that holds (of an
    `and` that fails)."""
    match node:
        case Logic(op=op, parts=parts):
            if (op == "and") == want:
                return [name for part in parts for name in deciding_fields(part, values, want)]
            for part in parts:
                if py.compile(part)(values) is want:
                    return deciding_fields(part, values, want)
            return []
        case Not(operand=operand):
            return deciding_fields(operand, values, not want)
    return refs(node)


def refs(node: Node) -> list[str]:
    """The fields a node reads, in the order they are written (`level` aside)."""
    if isinstance(node, Ref):
        return [] if node.name == "level" else [node.name]
    return [name for child in children(node) for name in refs(child)]


def rule_fields(rule: Rule) -> list[str]:
    """The fields a rule reads, in the order they are written (each once)."""
    return list(dict.fromkeys(refs(rule.when.root)))


def digit_size(pack: Pack, question: Question) -> int | None:
    """How many values batch scoring tells apart for a field when it states grounds (None: it cannot): no answer
    and each answer, and for an instrument total each range a partly answered one can lie in (lowest, highest)."""
    if question.type == "yesno":
        return 3
    if question.type == "choice":
        return len(question.choices) + 1
    if question.type == "multi" and len(question.choices) <= 20:
        return 1 << len(question.choices)
    if question.type == "integer" and question.min is not None and question.max is not None:
        span = int(question.max) - int(question.min) + 1
        if question.id in pack.sums:
            return 1 + span + span * span if span <= 1000 else None
        return 1 + span if span <= 1_000_000 else None
    return None


def explainable(pack: Pack, rule: Rule) -> bool:
    """Whether a rule's reason states the person's answers: every field it reads can be numbered, and their
    combinations are few enough (`MAX_COMBINATIONS`). Remembered per pack."""
    memo = pack.memo.setdefault("explainable", {})
    if rule.id not in memo:
        sizes = [digit_size(pack, pack.questions[name]) for name in rule_fields(rule)]
        memo[rule.id] = None not in sizes and math.prod(s or 1 for s in sizes) <= MAX_COMBINATIONS
    known: bool = memo[rule.id]
    return known


def grounds(pack: Pack, rule: Rule, values: Mapping[str, Any]) -> tuple[Ground, ...]:
    """The answers that decided `rule` for this person (it holds under `values`), each once, in the order the
    condition reads them; () for a rule whose reason keeps its `because` alone (`explainable`)."""
    if not explainable(pack, rule):
        return ()
    names = dict.fromkeys(deciding_fields(rule.when.root, values))
    return tuple(Ground(name, values.get(name), say(pack.questions[name], values.get(name))) for name in names)


def reason(because: str, found: tuple[Ground, ...]) -> str:
    """A decision's reason: the person's deciding answers, then the rule's `because`."""
    if not found:
        return because
    facts = "; ".join(g.text for g in found)
    return f"{facts[:1].upper()}{facts[1:]}. {because}"


def say(question: Question, value: Any) -> str:
    """One answer in words: the question's `says` text for it, or "LABEL: ANSWER"; a number with its band."""
    if value is None:
        return f"{mid_sentence(question.label)}: not answered"
    if question.type == "yesno":
        if question.says:
            return question.says["yes" if value else "no"]
        return f"{mid_sentence(question.label)}: {'yes' if value else 'no'}"
    if question.type == "choice" and value in question.says:
        return question.says[value]
    if isinstance(value, Range):
        answer = f"at least {value.lo} (partly answered)"
    elif question.type in ("integer", "number"):
        answer = _number(value) + band_text(question, value)
    elif question.type == "multi":  # in the order of the choices, however the answer was written
        picked = [c.value for c in question.choices if c.value in value]
        answer = ", ".join(mid_sentence(question.choice_label(v)) for v in picked) or "none"
    else:
        answer = mid_sentence(str(question.choice_label(value)))
    template = question.says.get("")
    return template.replace("{answer}", answer) if template else f"{mid_sentence(question.label)}: {answer}"


def band_text(question: Question, value: float) -> str:
    """ " (NAME, FROM-TO)" for the band a number falls in; "" when the question has none."""
    bands = question.bands
    for index in range(len(bands) - 1, -1, -1):
        start, name = bands[index]
        if value >= start:
            if index + 1 < len(bands):
                end = bands[index + 1][0]
                upto = _number(end - 1) if question.type == "integer" else f"under {_number(end)}"
                return f" ({name}, {_number(start)}-{upto})" if question.type == "integer" else f" ({name}, {upto})"
            return f" ({name}, {_number(start)} or more)"
    return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def mid_sentence(text: str) -> str:
    """A label as it reads mid-sentence: its first letter in lower case, unless the word is an acronym."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
