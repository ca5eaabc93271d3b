"""The decision engine: `decide(pack, answers) -> Decision`. Pure: no I/O, no terminal, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from iop_cli.decide import policy
from iop_cli.decide.explain import Ground, grounds
from iop_cli.decide.explain import reason as explained_reason
from iop_cli.decide.missing import Reach, not_ruled_out, outcome_texts, over_missing
from iop_cli.decide.profile import DimensionRating, rate
from iop_cli.decide.values import applicable, ranges
from iop_cli.lang.py import Range
from iop_cli.pack.answers import clean_answers, disagreement
from iop_cli.pack.model import Level, Pack, Rule
from iop_cli.problems import AnswersError

# 2: `status` (ok, provisional, review) and `provisional` alerts. Keys added since, under the same version:
# `profile`, `possible`, `deciding`, `partly_answered`.
SCHEMA_VERSION = 2
DISCLAIMER = "This recommendation supports clinical judgment; it does not replace it."


@dataclass(frozen=True)
class RuleTrace:
    """One rule as the engine tried it: its verdict (True, False or None for undecided) and the values it read."""

    rule: str
    kind: str  # level or alert
    result: bool | None
    values: dict[str, Any]
    clauses: tuple[tuple[str, bool | None], ...]
    outcome: str  # fired, skipped, undecided, blocked, shown, not_shown


@dataclass(frozen=True)
class AlertHit:
    id: str
    severity: str
    message: str
    because: str
    provisional: bool = False  # it makes the decision provisional


@dataclass(frozen=True)
class NotAssessed:
    rule: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    level: Level
    rule: str | None  # the rule that placed the person; None for `otherwise`, every_filling or missing answers
    reason: str
    basis: str  # rule, otherwise, every_filling (several rules, one level), missing_answers (review)
    alerts: tuple[AlertHit, ...]
    missing: tuple[str, ...]  # required answers that are missing
    not_assessed: tuple[NotAssessed, ...]
    ignored: tuple[str, ...]  # answers given to questions that do not apply
    contradictions: tuple[tuple[str, str], ...]  # (follow-up, gate): a yes to the follow-up counted for a "no" gate
    values: dict[str, Any]  # answers as used, with computed fields
    trace: tuple[RuleTrace, ...]
    pack_name: str
    pack_version: str
    pack_hash: str
    would_be: str | None = None  # the rule that matched but could not stand because answers are missing
    status: str = "ok"  # ok, provisional or review (policy.status)
    profile: tuple[DimensionRating, ...] = ()  # each dimension of the pack's profile, rated (`decide.profile`)
    possible: tuple[str, ...] = ()  # the levels some filling of the missing answers leads to, most intensive first
    deciding: tuple[str, ...] = ()  # the missing answers that would decide among them
    # Instrument totals partly answered: (total, lo, hi), the range the items given fix, which the rules read.
    partial: tuple[tuple[str, int, int], ...] = ()
    grounds: tuple[Ground, ...] = ()  # the answers that decided the rule that placed the person (`decide.explain`)

    @property
    def provisional(self) -> tuple[AlertHit, ...]:
        """The alerts that make this decision provisional: the safety assessments it rests on that are incomplete."""
        return tuple(a for a in self.alerts if a.provisional)


def disagreements(pack: Pack, answers: Mapping[str, Any]) -> list[str]:
    """The derived questions whose answer differs from what their derivation gives (a total and its items)."""
    found: list[str] = []
    applicable(pack, answers, disagree=found)
    return found


def checked(pack: Pack, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw answers checked one by one (`answers.clean_answers`), then together: a derived answer that disagrees
    with its derivation is an error (AnswersError), as it is in batch scoring."""
    clean = clean_answers(pack, raw)
    disagreeing = disagreements(pack, clean)
    if disagreeing:
        raise AnswersError([disagreement(pack, name) for name in disagreeing])
    return clean


def decide(pack: Pack, answers: Mapping[str, Any]) -> Decision:
    """Place one person: the first level rule that holds, every alert that applies, and why."""
    contradictions: list[tuple[str, str]] = []
    values, applies, ignored = applicable(pack, answers, contradictions=contradictions)
    missing = tuple(
        q.id for q in pack.asked if q.required and applies.get(q.id) is not False and values.get(q.id) is None
    )
    missing_set = set(missing)
    # The rules read a partly answered instrument's total as the range its items fix; everything else sees none.
    partial = ranges(pack, values, applies)
    rule_values = {**values, **partial} if partial else values
    trace: list[RuleTrace] = []
    not_assessed: list[NotAssessed] = []
    fired: int | None = None
    blocked: list[int] = []  # rules before the one that holds whose verdict a missing answer leaves open
    waiting: dict[int, tuple[str, ...]] = {}  # ... and those an optional answer not given leaves open: its fields
    for index, rule in enumerate(pack.rules):
        result = rule.when.evaluate(rule_values)
        unknown = policy.open_sources(pack, rule, values, applies)
        # A verdict that reads an answer whose question may not apply, depending on a missing answer, is open too.
        unsure = bool(missing_set) and policy.unsure(pack, rule, applies, missing_set)
        if result is True and not unsure:
            outcome = "fired"
        elif result is False and not unsure:
            outcome = "skipped"
        elif unknown & missing_set or unsure:
            outcome = "blocked"
            blocked.append(index)
        else:
            outcome = "undecided"
            waiting[index] = tuple(sorted(unknown))
            not_assessed.append(NotAssessed(rule.id, waiting[index]))
        trace.append(_trace(rule, "level", result, rule_values, outcome))
        if outcome == "fired":
            fired = index
            break

    blocked_elsewhere = fired is None or any(pack.rules[i].level != pack.rules[fired].level for i in blocked)
    if policy.settled(policy.PYTHON, bool(missing), fired is None, blocked_elsewhere):
        reach = Reach((pack.rules[fired].level if fired is not None else pack.otherwise.level,), None, ())
        placing = pack.rules[fired] if fired is not None else None
    else:
        reach = over_missing(pack, fired, blocked, rule_values, missing_set)
        if not reach.stands:
            reach = replace(reach, not_ruled_out=not_ruled_out(pack, waiting, reach.levels))
        placing = next((r for r in pack.rules if r.id == reach.rule), None) if reach.stands else None

    would_be = None
    found: tuple[Ground, ...] = ()
    if placing is not None:
        level, rule_id, basis = pack.levels[placing.level], placing.id, "rule"
        if placing.when.evaluate(rule_values) is True:  # not a rule the search found to hold in every filling
            found = grounds(pack, placing, rule_values)
        reason = explained_reason(placing.because, found)
    elif reach.stands and reach.levels[0] == pack.otherwise.level:
        level, reason, rule_id, basis = pack.levels[pack.otherwise.level], pack.otherwise.because, None, "otherwise"
    else:  # the search settled it: a review naming the levels still possible, or one level every filling leads to
        level_id, _, reason, *_ = outcome_texts(pack, missing, reach)
        level, rule_id = pack.levels[level_id], None
        basis = "every_filling" if reach.stands else "missing_answers"
        would_be = pack.rules[fired].id if fired is not None and not reach.stands else None

    alert_values = {**rule_values, "level": level.id}
    alerts: list[AlertHit] = []
    for alert in pack.alerts:
        result = alert.when.evaluate(alert_values)
        if result is None:
            unknown = policy.open_sources(pack, alert, values, applies)
            not_assessed.append(NotAssessed(alert.id, tuple(sorted(unknown))))
        if result is True:
            alerts.append(AlertHit(alert.id, alert.severity, alert.alert, alert.because, alert.provisional))
        outcome = {True: "shown", False: "not_shown", None: "undecided"}[result]
        trace.append(_trace(alert, "alert", result, alert_values, outcome))
    alerts = policy.in_alert_order(alerts, lambda a: a.severity)

    return Decision(
        level=level,
        rule=rule_id,
        reason=reason,
        basis=basis,
        alerts=tuple(alerts),
        missing=missing,
        not_assessed=tuple(not_assessed),
        ignored=tuple(ignored),
        contradictions=tuple(contradictions),
        values=values,
        trace=tuple(trace),
        pack_name=pack.name,
        pack_version=pack.version,
        pack_hash=pack.hash,
        would_be=would_be,
        possible=reach.levels if missing else (level.id,),
        deciding=reach.deciding,
        status=policy.status(pack, level.id, any(a.provisional for a in alerts)),
        profile=rate(pack, values, applies) if pack.profile else (),
        partial=tuple((name, r.lo, r.hi) for name, r in partial.items()),
        grounds=found,
    )


def _trace(rule: Rule, kind: str, result, values: Mapping[str, Any], outcome: str) -> RuleTrace:
    seen = {name: shown_value(values.get(name)) for name in rule.when.names}
    return RuleTrace(rule.id, kind, result, seen, tuple(rule.when.clauses(values)), outcome)


def shown_value(value: Any) -> Any:
    """A value as a trace or the JSON shows it: a partly answered total as the range its items fix."""
    return {"at_least": value.lo, "at_most": value.hi} if isinstance(value, Range) else value
