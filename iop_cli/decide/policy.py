"""The decision policy, written once: which answers a rule rests on, when a missing answer blocks it, when the level
is settled without searching the missing answers (`decide.missing` does the rest), the review reason, and the order alerts are shown
in. `decide.engine` (check, intake), `decide.frame` (score) and `authoring.lint` (lint) all use these. The limits
every command holds packs to (`pack.model.MAX_REQUIRED`, `MAX_ALERTS`) live with the pack.

`settled` is written over a small logic interface, so the same lines decide for one person (Python booleans)
and for a whole batch (Polars expressions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from iop_cli.pack.model import Pack, Rule

ALERT_ORDER = {"safety": 0, "caution": 1, "info": 2}

T = TypeVar("T")
A = TypeVar("A")


def severity_rank(severity: str) -> int:
    """Safety first, then caution, then info; anything else last."""
    return ALERT_ORDER.get(severity, len(ALERT_ORDER))


def in_alert_order(alerts: list[A], severity: Callable[[A], str]) -> list[A]:
    """Alerts in the order every surface shows them: by severity, and in pack order within one (a stable sort)."""
    return sorted(alerts, key=lambda alert: severity_rank(severity(alert)))


def rule_sources(pack: Pack, rule: Rule) -> set[str]:
    """The asked questions a rule's condition rests on, directly or through computed fields."""
    return {source for name in rule.when.names if name in pack.questions for source in pack.sources(name)}


def open_sources(pack: Pack, rule: Rule, values: Mapping[str, Any], applies: Mapping[str, Any]) -> set[str]:
    """The unanswered questions a rule rests on. A question that does not apply to this person (its ask_if is false)
    is absent by design, not a gap."""
    return {s for s in rule_sources(pack, rule) if values.get(s) is None and applies.get(s) is not False}


def ask_if_sources(pack: Pack, name: str) -> frozenset[str]:
    """The asked questions whether a question applies rests on: what its ask_if reads (through computed fields), and
    what their own ask_if reads in turn. Remembered per pack."""
    memo = pack.memo.setdefault("ask_if_sources", {})
    if name not in memo:
        memo[name] = frozenset()  # a cycle (the loader refuses one) ends here
        question = pack.questions.get(name)
        found: set[str] = set()
        for read in question.ask_if.names if question is not None and question.ask_if is not None else ():
            for source in pack.sources(read):
                found |= {source, *ask_if_sources(pack, source)}
        memo[name] = frozenset(found)
    sources: frozenset[str] = memo[name]
    return sources


def unsure_sources(pack: Pack, rule: Rule) -> list[str]:
    """The questions a rule rests on whose applicability rests on other answers (they have an ask_if)."""
    return [s for s in sorted(rule_sources(pack, rule)) if ask_if_sources(pack, s)]


def unsure(pack: Pack, rule: Rule, applies: Mapping[str, Any], missing: set[str]) -> bool:
    """Whether a rule's verdict may change with the missing answers although it reads none of them: it reads an
    answer whose question may or may not apply, and that waits on a missing answer (a COWS score given while the
    substance is missing). Such a rule is searched like one a missing answer leaves open."""
    return any(applies.get(s) is None and ask_if_sources(pack, s) & missing for s in unsure_sources(pack, rule))


STATUSES = ("ok", "provisional", "review", "error")


def urgent_certain(pack: Pack, decision: Any) -> bool:
    """Whether a decision's urgent level stands whatever the answers not given yet are: placed by a rule or by
    every filling of the missing required answers, with no level rule before it still waiting on an optional answer
    not given (a withdrawal scale not taken yet could still lead elsewhere)."""
    level = pack.levels[decision.level.id]
    if not level.urgent or decision.basis not in ("rule", "every_filling"):
        return False
    order = {rule.id: index for index, rule in enumerate(pack.rules)}
    placing = order.get(decision.rule, len(pack.rules))
    return not any(
        item.rule in order and order[item.rule] < placing and pack.rules[order[item.rule]].level != level.id
        for item in decision.not_assessed
    )


def status(pack: Pack, level: str, provisional: bool = False) -> str:
    """A decision's status: `review` when it rests with a clinician (the pack's `otherwise` level, which missing
    answers also lead to); else `provisional` when an alert marked provisional holds (the level stands, but a safety
    assessment it rests on is incomplete); else `ok`. (`error` is for a row that could not be scored.)"""
    if level == pack.otherwise.level:
        return "review"
    return "provisional" if provisional else "ok"


def review_reason(
    missing: Sequence[str],
    levels: Sequence[str] = (),
    deciding: Sequence[str] = (),
    least: str | None = None,
    not_ruled_out: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """Why missing answers send a person to review: which answers, the levels still possible (most intensive
    first; `least`, the least intensive, when every filling leads to some rule's level), the answers that would
    decide, and the levels that optional answers not given leave open as well (`not_ruled_out`)."""
    text = "Required answers are missing: " + ", ".join(missing) + "."
    if len(levels) > 1:
        notes = ([f"at least {least}"] if least else []) + ([", ".join(deciding) + " would decide"] if deciding else [])
        text += " Depending on them the level could be " + ", ".join(levels[:-1]) + " or " + levels[-1]
        text += f" ({'; '.join(notes)})." if notes else "."
    by_fields: dict[tuple[str, ...], list[str]] = {}
    for level, fields in not_ruled_out:
        by_fields.setdefault(tuple(fields), []).append(level)
    for fields, named in by_fields.items():
        levels_text = " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
        text += f" Not ruled out either: {levels_text} ({', '.join(fields) or 'an answer'} not given)."
    return text + " A clinician decides until they are given."


def every_filling_reason(missing: Sequence[str], level: str) -> str:
    """Why a level stands although required answers are missing and no one rule places every filling of them."""
    return f"Whatever the missing answers ({', '.join(missing)}) are, a rule leads to {level}."  # a level id


@dataclass(frozen=True)
class Logic(Generic[T]):
    """And, or and not for one kind of truth value: Python booleans, or Polars boolean expressions."""

    and_: Callable[[T, T], T]
    or_: Callable[[T, T], T]
    not_: Callable[[T], T]


PYTHON = Logic[bool](lambda a, b: a and b, lambda a, b: a or b, lambda a: not a)


def settled(logic: Logic[T], missing_any: T, none_fired: T, blocked_elsewhere: T) -> T:
    """Whether the level is decided without searching the missing answers (`decide.missing`).

    With no required answer missing, the first rule that holds decides. With some missing, a rule that holds
    holds whatever they are, and so does every earlier rule that fails; only an earlier rule that a missing answer
    leaves open could change the level, and only if it leads to another level (`blocked_elsewhere`). Then, and
    when no rule holds, the missing answers are searched: the level stands only when every way of filling them
    leads to it, so a missing answer never lets a less intensive level through.
    """
    return logic.or_(logic.not_(missing_any), logic.and_(logic.not_(none_fired), logic.not_(blocked_elsewhere)))
