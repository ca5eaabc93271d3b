"""The decision policy, written once: which answers a rule rests on, when a missing answer blocks it, when missing
answers send a person to review instead of the level a rule chose, the review reason, and the order alerts are shown
in. `decide.engine` (check, intake), `decide.frame` (score) and `authoring.lint` (lint) all use these. The limits
every command holds packs to (`pack.model.MAX_REQUIRED`, `MAX_ALERTS`) live with the pack.

`needs_review` is written over a small logic interface, so the same lines decide for one person (Python booleans)
and for a whole batch (Polars expressions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


STATUSES = ("ok", "provisional", "review", "error")


def status(pack: Pack, level: str, provisional: bool = False) -> str:
    """A decision's status: `review` when it rests with a clinician (the pack's `otherwise` level, which missing
    answers also lead to); else `provisional` when an alert marked provisional holds (the level stands, but a safety
    assessment it rests on is incomplete); else `ok`. (`error` is for a row that could not be scored.)"""
    if level == pack.otherwise.level:
        return "review"
    return "provisional" if provisional else "ok"


def review_reason(missing: list[str] | tuple[str, ...]) -> str:
    return "Required answers are missing: " + ", ".join(missing) + ". A clinician decides until they are given."


@dataclass(frozen=True)
class Logic(Generic[T]):
    """And, or and not for one kind of truth value: Python booleans, or Polars boolean expressions."""

    and_: Callable[[T, T], T]
    or_: Callable[[T, T], T]
    not_: Callable[[T], T]


PYTHON = Logic[bool](lambda a, b: a and b, lambda a, b: a or b, lambda a: not a)


def needs_review(logic: Logic[T], missing_any: T, none_fired: T, blocked_before: T, fired_urgent: T) -> T:
    """Whether missing answers send the person to review instead of the level a rule chose.

    A missing required answer never lets a less intensive level through: only a clinician decides then. An urgent
    level (crisis, withdrawal) stands only when no missing answer could have led elsewhere first, that is when no
    earlier rule that leads to another level was blocked by one (`blocked_before`): a high suicide risk screen is
    a crisis whether or not the suicide questions asked directly would have been one too.
    """
    return logic.and_(missing_any, logic.or_(logic.or_(none_fired, blocked_before), logic.not_(fired_urgent)))
