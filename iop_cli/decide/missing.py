"""The exact missing-answer rule (CLINICAL.md, version 2, routing change 4). With required answers missing, the level
stands when every way of filling them leads to that same level; otherwise the person goes to review, and the
decision says which levels remain possible and which missing answers would decide.

Most records need no search: a rule that holds with answers missing holds whatever they are (three-valued
evaluation), and the rules before it that fail fail whatever they are, so only the earlier rules that a missing
answer leaves open (`blocked`) can change the level. When none of them leads to another level, the level stands
(`policy.settled`). Otherwise the answer-space search (`decide.space`) fills the missing answers that those rules
read, every representative answer of each, and collects the levels it meets. Optional answers that are unknown
(a withdrawal scale not taken) are not filled: a rule that waits on one does not fire, as with every record.

The engine and batch scoring (`decide.frame.MissingSettler`) both call `over_missing`, so they agree. Its result
depends only on the rule that fired, the blocked rules and the answers those read (`key_fields`): batch scoring
runs it once per distinct such key in a file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iop_cli.decide import policy
from iop_cli.decide.space import Point, Search, Space, questions_read
from iop_cli.pack.model import Pack, Question


@dataclass(frozen=True)
class Reach:
    """The levels that the ways of filling the missing answers lead to, most intensive first (by rank)."""

    levels: tuple[str, ...]
    rule: str | None  # the one rule that places every filling; None when several do (or the `otherwise` level)
    deciding: tuple[str, ...]  # the missing answers the placement depends on (those the open rules read)
    # Levels not among them that optional answers not given could still lead to, each with those answers (a
    # withdrawal scale not taken): named apart, since the rules that wait on them do not fire.
    not_ruled_out: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def stands(self) -> bool:
        return len(self.levels) == 1


def level_space(pack: Pack) -> Space:
    """The answer space of the level rules, built once per pack when first needed."""
    space: Space | None = pack.memo.get("level_space")
    if space is None:
        space = pack.memo["level_space"] = Space(pack, alerts=False)
    return space


def key_fields(pack: Pack, blocked: Sequence[int]) -> list[Question]:
    """The fields (asked questions, and totals in place of their items) that the blocked rules read, directly or
    through computed fields, ask_if and derivations: with the rule that fired, they decide `over_missing`."""
    space = level_space(pack)
    return space.reads([pack.rules[i] for i in blocked])


def over_missing(
    pack: Pack,
    fired: int | None,
    blocked: Sequence[int],
    values: Mapping[str, Any],
    missing: set[str],
    value_sets: Mapping[str, Sequence[Any]] | None = None,
) -> Reach:
    """The levels that filling the missing required answers (`missing`) leads to. `fired`: the index of the first
    rule that holds with the answers given (None: none does); `blocked`: the indices of the rules before it whose
    verdict a missing answer leaves open; `values`: the answers and computed values, as the engine has them (at
    least those these rules read); `value_sets`: missing answers known to be one of some values (a batch map's
    value sets, such as a criteria count of 4 or more), filled from those values only. The result depends on
    nothing else (batch scoring remembers it by these)."""
    rules = pack.rules
    tail_level = rules[fired].level if fired is not None else pack.otherwise.level
    tail_rule = rules[fired].id if fired is not None else None
    open_rules = [rules[i] for i in blocked]
    if all(rule.level == tail_level for rule in open_rules):
        # Whatever the missing answers are, the level is the same; the rule that fired holds in every filling.
        return Reach((tail_level,), tail_rule, ())
    space = level_space(pack)
    fields = space.reads(open_rules)
    totals = space.totals

    def open_(question: Question) -> bool:
        return question.id in missing or any(item in missing for item, _ in totals.get(question.id, ()))

    fixed = {q.id: _answer(values.get(q.id)) for q in fields if not open_(q)}
    found: dict[str, set[str | None]] = {}  # level -> the rules that placed it
    deciding = tuple(q.id for q in fields if q.id in missing)
    if any(q.id in space.inexact for q in fields if q.id not in fixed):
        # A missing number tested together with another field takes only some of its values in the search (lint
        # warns `inexact`): every level the open rules lead to stays possible, so a clinician decides.
        levels = {rule.level for rule in open_rules} | {tail_level}
        ranked = sorted(levels, key=lambda level: -pack.levels[level].rank)
        return Reach(tuple(ranked), None, deciding if len(ranked) > 1 else ())

    def record(level: str, rule: str | None) -> bool:
        found.setdefault(level, set()).add(rule)
        return False

    def verdict(point: Point) -> bool | None:
        may: list[tuple[str, str | None]] = []  # the (level, rule) pairs still possible below this point
        for rule, result in zip(open_rules, point.results, strict=True):
            if result is None:
                may.append((rule.level, rule.id))
            elif result:
                if not may:
                    return record(rule.level, rule.id)
                may.append((rule.level, rule.id))
                break
        else:
            if not may:
                return record(tail_level, tail_rule)
            may.append((tail_level, tail_rule))
        if all(rule in found.get(level, ()) for level, rule in may):
            return False  # nothing new below
        if len(found) > 1 and all(level in found for level, _ in may):
            return False  # two levels met already: the rules that reach them no longer matter
        return None

    read = questions_read(pack, [n for rule in open_rules for n in rule.when.names])
    narrowed = {name: list(members) for name, members in (value_sets or {}).items() if name in missing}
    search = Search(space, fields, fixed=fixed, questions=read, narrowed=narrowed)
    for _ in search.each_by_rules(open_rules, verdict):
        pass  # the verdict never yields: it records each placement as the search decides it
    if not found:  # answers that contradict each other leave no filling: every level still open stays possible
        for level, rule in [*((r.level, r.id) for r in open_rules), (tail_level, tail_rule)]:
            record(level, rule)
    ranked = sorted(found, key=lambda level: -pack.levels[level].rank)
    rule = None
    if len(found) == 1:
        (rules_met,) = found.values()
        rule = next(iter(rules_met)) if len(rules_met) == 1 else None
    if len(found) == 1:
        return Reach(tuple(ranked), rule, ())
    return Reach(tuple(ranked), rule, deciding)


def not_ruled_out(
    pack: Pack, waiting: Mapping[int, Collection[str]], levels: Sequence[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The levels of the undecided rules (`waiting`: a rule's index -> the optional answers not given that it waits
    on) that are not among `levels`, most intensive first, each with those answers."""
    found: dict[str, set[str]] = {}
    for index, fields in waiting.items():
        rule = pack.rules[index]
        if rule.level not in levels:
            found.setdefault(rule.level, set()).update(fields)
    ranked = sorted(found, key=lambda level: -pack.levels[level].rank)
    return tuple((level, tuple(sorted(found[level]))) for level in ranked)


def _answer(value: Any) -> Any:
    """An answer as the search keeps it: a selection as a tuple."""
    return tuple(value) if isinstance(value, list) else value


def outcome_texts(
    pack: Pack, missing: tuple[str, ...], reach: Reach
) -> tuple[str, str | None, str, tuple, tuple, tuple]:
    """(level, rule, reason, missing, possible, deciding) of a record whose missing answers the search settled without one
    rule placing every filling: a review naming the levels still possible, or a level every filling leads to."""
    if reach.stands:
        level = pack.levels[reach.levels[0]]
        return level.id, None, policy.every_filling_reason(missing, level.id), missing, reach.levels, ()
    least = reach.levels[-1] if reach.levels[-1] != pack.otherwise.level else None
    reason = policy.review_reason(missing, reach.levels, reach.deciding, least, reach.not_ruled_out)
    return pack.otherwise.level, None, reason, missing, reach.levels, reach.deciding
