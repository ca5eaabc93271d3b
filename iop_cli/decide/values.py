"""The values a set of answers gives: the answers that apply (ask_if), derived and computed fields, the gates a
follow-up implies. Shared by the engine, the answer-space search (`decide.space`) and the profile. Pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from iop_cli.lang.py import Range
from iop_cli.pack.model import Computed, Pack, Question


def applicable(
    pack: Pack,
    answers: Mapping[str, Any],
    given: Collection[str] = (),
    disagree: list[str] | None = None,
    unanswered_is_empty: bool = True,
    questions: Iterable[Question] | None = None,
    contradictions: list[tuple[str, str]] | None = None,
    base: tuple[Mapping[str, Any], Mapping[str, bool | None]] | None = None,
) -> tuple[dict[str, Any], dict[str, bool | None], list[str]]:
    """Answers that apply, whether each question applies (True, False, or None when unknown), and ignored ones.
    Computed fields named in `given` take their value from the answers instead (the lint searches a total's values
    rather than its items'). A derived question takes its answer, else the value its derivation gives; where both
    are known and differ, its id goes into `disagree`. An unanswered multi-select is the empty selection, unless
    `unanswered_is_empty` is False (the lint's search, for a selection it has not chosen yet). `questions`: only
    these, in pack order (the lint's search leaves out the items it never answers). A yes to a follow-up that
    `implies` its gate counts as a yes to the gate, even where the gate was answered no; each such pair goes into
    `contradictions`. `base`: values and applicability these answers share with others already computed, so
    that only `questions` (those that may differ) are computed again (what would change a placement)."""
    answers = gates_implied(pack, answers, contradictions)
    values: dict[str, Any] = dict(base[0]) if base else {}
    applies: dict[str, bool | None] = dict(base[1]) if base else {}
    ignored: list[str] = []
    for question in pack.questions.values() if questions is None else questions:
        if isinstance(question, Computed):
            given_here = question.id in given
            values[question.id] = answers.get(question.id) if given_here else question.compute.evaluate(values)
            continue
        shown = True if question.ask_if is None else question.ask_if.evaluate(values)
        applies[question.id] = shown
        values.pop(question.id, None)  # from `base`: computed again here
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


def ranges(
    pack: Pack, values: Mapping[str, Any], applies: Mapping[str, bool | None], totals: Collection[str] | None = None
) -> dict[str, Range]:
    """The range each instrument total lies in where only some of its items are answered (CLINICAL.md, version 2:
    a partly answered instrument counts as not taken, but the range its answered items fix decides a rule where it
    can). The level rules and alerts read these; the profile and the values shown do not. `totals`: only these."""
    found: dict[str, Range] = {}
    for total, items in pack.sums.items():
        if totals is not None and total not in totals:
            continue
        if values.get(total) is not None or applies.get(total) is False:
            continue
        given = [values.get(item) for item, _, _ in items]
        if all(value is None for value in given):
            continue
        lo = sum(low if value is None else value for value, (_, low, _) in zip(given, items, strict=True))
        hi = sum(high if value is None else value for value, (_, _, high) in zip(given, items, strict=True))
        found[total] = Range(lo, hi)
    return found
