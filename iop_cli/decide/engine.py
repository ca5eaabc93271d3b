"""The decision engine: `decide(pack, answers) -> Decision`. Pure: no I/O, no terminal, no clock."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iop_cli.decide import policy
from iop_cli.pack.answers import clean_answers, disagreement
from iop_cli.pack.model import Computed, Level, Pack, Placement, Question, Rule
from iop_cli.problems import AnswersError

SCHEMA_VERSION = 2  # 2: `status` (ok, provisional, review) and `provisional` alerts in a decision
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
    rule: str | None  # the rule that placed the person; None for `otherwise` or missing answers
    reason: str
    basis: str  # rule, otherwise, missing_answers
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

    @property
    def provisional(self) -> tuple[AlertHit, ...]:
        """The alerts that make this decision provisional: the safety assessments it rests on that are incomplete."""
        return tuple(a for a in self.alerts if a.provisional)


def applicable(
    pack: Pack,
    answers: Mapping[str, Any],
    given: Collection[str] = (),
    disagree: list[str] | None = None,
    unanswered_is_empty: bool = True,
    questions: Iterable[Question] | None = None,
    contradictions: list[tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, bool | None], list[str]]:
    """Answers that apply, whether each question applies (True, False, or None when unknown), and ignored ones.
    Computed fields named in `given` take their value from the answers instead (the lint searches a total's values
    rather than its items'). A derived question takes its answer, else the value its derivation gives; where both
    are known and differ, its id goes into `disagree`. An unanswered multi-select is the empty selection, unless
    `unanswered_is_empty` is False (the lint's search, for a selection it has not chosen yet). `questions`: only
    these, in pack order (the lint's search leaves out the items it never answers). A yes to a follow-up that
    `implies` its gate counts as a yes to the gate, even where the gate was answered no; each such pair goes into
    `contradictions`."""
    answers = gates_implied(pack, answers, contradictions)
    values: dict[str, Any] = {}
    applies: dict[str, bool | None] = {}
    ignored: list[str] = []
    for question in pack.questions.values() if questions is None else questions:
        if isinstance(question, Computed):
            given_here = question.id in given
            values[question.id] = answers.get(question.id) if given_here else question.compute.evaluate(values)
            continue
        shown = True if question.ask_if is None else question.ask_if.evaluate(values)
        applies[question.id] = shown
        answer = answers.get(question.id)
        if shown is False:
            if answer is not None:
                ignored.append(question.id)
            continue
        if answer is None and question.type == "multi" and unanswered_is_empty:
            answer = ()  # unanswered is the empty selection: a multi-select is never missing
        if question.derive is not None:
            derived = question.derive.evaluate(values)
            if answer is None:
                answer = derived
            elif derived is not None and derived != answer and disagree is not None:
                disagree.append(question.id)
        if answer is not None:
            values[question.id] = answer
    return values, applies, ignored


def gates_implied(
    pack: Pack, answers: Mapping[str, Any], contradictions: list[tuple[str, str]] | None = None
) -> Mapping[str, Any]:
    """The answers with each gate that a follow-up's yes implies set to yes (a plan with intent, though "no
    thoughts": the plan is never ignored). Contradicting pairs go into `contradictions`."""
    changed: dict[str, Any] | None = None
    for follow_up, gate in pack.implied:
        if answers.get(follow_up) is True and answers.get(gate) is False:
            changed = dict(answers) if changed is None else changed
            changed[gate] = True
            if contradictions is not None:
                contradictions.append((follow_up, gate))
    return answers if changed is None else changed


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
    trace: list[RuleTrace] = []
    not_assessed: list[NotAssessed] = []
    fired: Placement | None = None
    blocked: list[Placement] = []
    for rule in pack.rules:
        result = rule.when.evaluate(values)
        unknown = policy.open_sources(pack, rule, values, applies)
        if result is True:
            outcome = "fired"
        elif result is False:
            outcome = "skipped"
        elif unknown & missing_set:
            outcome = "blocked"
            blocked.append(rule)
        else:
            outcome = "undecided"
            not_assessed.append(NotAssessed(rule.id, tuple(sorted(unknown))))
        trace.append(_trace(rule, "level", result, values, outcome))
        if result is True:
            fired = rule
            break

    would_be = None
    fired_urgent = fired is not None and pack.levels[fired.level].urgent
    if policy.needs_review(policy.PYTHON, bool(missing), fired is None, bool(blocked), fired_urgent):
        would_be = fired.id if fired else None
        level = pack.levels[pack.otherwise.level]
        reason = policy.review_reason(missing)
        rule_id, basis = None, "missing_answers"
    elif fired is not None:
        level, reason, rule_id, basis = pack.levels[fired.level], fired.because, fired.id, "rule"
    else:
        level, reason, rule_id, basis = pack.levels[pack.otherwise.level], pack.otherwise.because, None, "otherwise"

    alert_values = {**values, "level": level.id}
    alerts: list[AlertHit] = []
    for alert in pack.alerts:
        result = alert.when.evaluate(alert_values)
        if result is None:
            unknown = policy.open_sources(pack, alert, alert_values, applies)
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
        status=policy.status(pack, level.id, any(a.provisional for a in alerts)),
    )


def _trace(rule: Rule, kind: str, result, values: Mapping[str, Any], outcome: str) -> RuleTrace:
    seen = {name: values.get(name) for name in rule.when.names}
    return RuleTrace(rule.id, kind, result, seen, tuple(rule.when.clauses(values)), outcome)
