"""What would change a placement (issue 13, item 3): for one complete record, the smallest sets of answers that,
changed, lead to another level ("would be IOP if no one at home used"), nearest first.

Exact over the pack's answer space: a change tries each representative answer of the fields it changes (the cut
points the rules test, as lint and the missing-answer search use, so every answer that could decide otherwise is
tried), with the person's other answers kept and unanswered questions left unanswered, except the required ones a
change makes apply (the home's, once housing is stable), which are answered too and named with it. A screen given
by its items (the C-SSRS) is changed through them, never through the answer they derive. It is quick because most
sets are ruled out before any answer is tried: to reach a level, a set must touch a field of a rule to that level
that does not hold now, and a field of each rule before it that holds now (the first rule that holds decides).
Only the sets that pass are searched, smallest first, and the search for a level ends with the first size that has
one (the nearest changes; larger sets would hold a smaller one or be farther).

Each changed answer is marked as something a plan can change (housing, home, readiness: the question says
`can_change: true`) or a fact of the person (age, history); in a pack that marks no question, nothing is marked.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from iop_cli.decide import policy
from iop_cli.decide.missing import level_space
from iop_cli.decide.space import Space, profile_space, questions_read
from iop_cli.decide.values import applicable, ranges
from iop_cli.lang import py
from iop_cli.lang.tree import Logic, Node, Not, field_names
from iop_cli.pack.model import Computed, Pack

LARGEST = 3  # the most answers one change alters (`iop check --why-not LEVEL`)
REPORT_LARGEST = 2  # ... in a report, which looks at every level: the nearest changes, quickly
PER_LEVEL = 3  # the most changes shown for one level


class Change(NamedTuple):
    """A set of changed answers that leads to `level` (through `rule`; None for the `otherwise` level)."""

    level: str
    rule: str | None
    answers: dict[str, Any]  # field -> the new answer
    facts: tuple[str, ...]  # the changed fields that are facts of the person, not something a plan changes


def nearest(pack: Pack, answers: Mapping[str, Any], missing: Sequence[str], level: str | None = None) -> list[Change]:
    """What would change a decision, as the reports show it (changes of up to `REPORT_LARGEST` answers to every
    other level): none for a record with required answers `missing` (it needs them first). With `level`
    (`iop check --why-not`), only the changes to it, of up to `LARGEST` answers, and more of them."""
    if missing:
        return []
    if level:
        return changes(pack, answers, [level], largest=LARGEST, per_level=5)
    return changes(pack, answers, largest=REPORT_LARGEST)


def placement(pack: Pack, answers: Mapping[str, Any]) -> tuple[str, str | None]:
    """The level and rule the first rule that holds gives a complete record (nothing is searched)."""
    return _Trials(pack, answers).placement(answers, ())


def changes(
    pack: Pack,
    answers: Mapping[str, Any],
    levels: Sequence[str] | None = None,
    largest: int = LARGEST,
    per_level: int = PER_LEVEL,
) -> list[Change]:
    """The smallest sets of changed answers that lead to each of `levels` (default: every level but the one the
    answers give): for each level, the sets of the fewest answers (up to `largest`) that do, at most `per_level`
    of them; each set's new answers are the first, in the order of the representative answers, that lead there."""
    values, _, _ = applicable(pack, answers)
    answers = _totals_given(pack, answers, values)
    space = _space(pack, answers)
    trials = _Trials(pack, answers)
    values = trials.values(answers, ())
    rules = pack.rules
    now = [rule.when.evaluate(values) for rule in rules]
    current, _ = trials.placement(answers, ())
    # The answers a change may alter: given ones that some rule rests on (not a screen's items where the answer
    # they derive is given too: changed alone, they would disagree with it).
    behind_given = set(held_back(pack, answers))
    fields = [q.id for q in space.reads(rules) if answers.get(q.id) is not None and q.id not in behind_given]
    wanted = [level for level in (levels or pack.levels) if level != current]
    marks = any(q.can_change for q in pack.asked)  # a pack that marks none tells no facts apart
    found: list[Change] = []
    for level in wanted:
        # Per rule to this level: the sets of fields a change must touch (see the module's docstring).
        needs = [
            _must_touch(pack, rule.when.root, values, True)
            + [
                need
                for j in range(index)
                if now[j] is True
                for need in _must_touch(pack, rules[j].when.root, values, False)
            ]
            for index, rule in enumerate(rules)
            if rule.level == level
        ]
        if level == pack.otherwise.level:
            needs.append(
                [
                    need
                    for j, held in enumerate(now)
                    if held is True
                    for need in _must_touch(pack, rules[j].when.root, values, False)
                ]
            )
        kept: list[frozenset[str]] = []
        for size in range(1, largest + 1):
            if kept:
                break  # the nearest changes only: those of the fewest answers
            for names in itertools.combinations(fields, size):
                chosen = frozenset(names)
                if not any(all(n & chosen for n in need) for need in needs):
                    continue
                change = _first(trials, space, answers, names, level)
                if change is not None:
                    kept.append(chosen)
                    facts = tuple(n for n in change[0] if not pack.questions[n].can_change) if marks else ()
                    found.append(Change(level, change[1], change[0], facts))
                    if len(kept) >= per_level:
                        break
    return found


def held_back(pack: Pack, answers: Mapping[str, Any]) -> list[str]:
    """The given answers no change alters: a screen's items given beside the answer they derive (changed alone, an
    item would disagree with it; the search does not change both together)."""
    return sorted(
        {
            n
            for q in pack.asked
            if q.derive is not None and answers.get(q.id) is not None
            for n in q.derive.names
            if pack.questions[n].derive is None and answers.get(n) is not None  # an item, given
        }
    )


def _must_touch(pack: Pack, node: Node, values: Mapping[str, Any], want: bool) -> list[frozenset[str]]:
    """Sets of fields a change must each touch for `node` to give `want` (a necessary condition, from its
    verdict now): every part of an `and` that does not hold yet (of an `or` that holds yet, for `want` False), and
    for an `or` some part (of an `and`, some part to fail): the fields of all its parts."""
    now = py.compile(node)(values)
    if now is want:
        return []
    match node:
        case Not(operand=operand):
            return _must_touch(pack, operand, values, not want)
        case Logic(op=op, parts=parts) if (op == "and") == want:
            return [need for part in parts for need in _must_touch(pack, part, values, want)]
    return [_sources(pack, field_names(node))]


def _sources(pack: Pack, names: Collection[str]) -> frozenset[str]:
    """The asked questions fields rest on, through computed fields, and those their ask_if rests on; for a derived
    answer, also the items it is derived from (a change to a screen's item changes it)."""
    found: set[str] = set()
    for name in names:
        for source in pack.sources(name) if name in pack.questions else ():
            found |= {source, *policy.ask_if_sources(pack, source)}
            derive = pack.questions[source].derive
            if derive is not None:
                found |= _sources(pack, derive.names)
    return frozenset(found)


def _space(pack: Pack, answers: Mapping[str, Any]) -> Space:
    """The answer space a change is searched in: the level rules', where each screen answer is searched itself;
    but where a screen's items are given in place of the answer they derive (the C-SSRS questions behind
    `suicide_risk`), the space that searches those items, so that a change alters what the person was asked and
    tries only what the screen can give."""
    screened = any(
        answers.get(q.id) is None and any(answers.get(n) is not None for n in q.derive.names)
        for q in pack.asked
        if q.derive is not None and q.derive.cases
    )
    return profile_space(pack) if screened else level_space(pack)


def _first(
    trials: _Trials, space, answers: Mapping[str, Any], names: Sequence[str], level: str
) -> tuple[dict[str, Any], str | None] | None:
    """The first new answers to `names` (each other than now) that lead to `level`, with the rule that places.
    Answers are chosen one field at a time; a branch ends as soon as the rules, evaluated three-valued with the
    fields not chosen yet unknown, rule the level out."""
    trial = {k: v for k, v in answers.items() if k not in names}

    def walk(index: int, chosen: tuple[str, ...]) -> tuple[dict[str, Any], str | None] | None:
        if index == len(chosen):
            # Required questions the change makes apply (the home's, once housing is stable) are answered too,
            # each way, without counting as a change: the change then names those answers as well.
            opened = [n for n in trials.opened(trial, chosen) if n in space.domains and n not in chosen]
            if opened:
                return walk(index, (*chosen, *opened))
            placed, rule = trials.placement(trial, chosen)
            if placed != level or (trials.delicate & set(chosen) and not trials.confirmed(trial, level, rule)):
                return None
            return {n: trial[n] for n in chosen}, rule
        if not trials.possible(trial, chosen, level):
            return None
        name = chosen[index]
        for value in space.domains[name]:
            if value is None or value == _hashable(answers.get(name)):
                continue
            trial[name] = value
            found = walk(index + 1, chosen)
            del trial[name]
            if found is not None:
                return found
        return None

    return walk(0, tuple(names))


class _Trials:
    """The placement under changed answers, computed from the person's own values: only the questions that the
    changed ones reach (through computed fields, ask_if and derivations) are computed again."""

    def __init__(self, pack: Pack, answers: Mapping[str, Any]):
        self.pack = pack
        self.read = _read(pack)
        # Two bases: as the engine reads answers (an unanswered selection is empty), and with the answers not
        # chosen yet unknown (`possible`).
        self.base = {
            empty: applicable(pack, answers, unanswered_is_empty=empty, questions=self.read)[:2]
            for empty in (True, False)
        }
        self.reached: dict[frozenset[str], list] = {}
        # The answers whose change the engine confirms (`confirmed`): a derived answer and what it derives from,
        # where some of that is given (a total whose items are not cannot disagree), and a follow-up with the gate
        # it implies. For any other change the placement computed here is the engine's.
        self.delicate = {
            n
            for q in pack.asked
            if q.derive is not None and any(answers.get(i) is not None for i in q.derive.names)
            for n in (q.id, *q.derive.names)
        }
        self.delicate |= {n for pair in pack.implied if any(answers.get(m) is not None for m in pair) for n in pair}
        read = {q.id for q in self.read}
        self.required = [q.id for q in pack.asked if q.required and q.id in read]  # those the rules rest on
        # Whether an instrument is partly answered (a change alters totals, never items: the ranges stay).
        self.partly = any(answers.get(item) is not None for items in pack.sums.values() for item, _, _ in items)
        # The ranges of the person's own answers: a change computes again only those of the totals it reaches.
        self.base_ranges = {empty: ranges(pack, *self.base[empty]) for empty in (True, False)} if self.partly else {}

    def downstream(self, names: Collection[str]) -> list:
        """The questions whose values the answers to `names` may change, in pack order."""
        key = frozenset(names)
        if key not in self.reached:
            # A follow-up's yes counts as a yes to its gate (`pack.implied`): changing either changes both.
            found = set(key) | {n for pair in self.pack.implied if set(pair) & key for n in pair}
            for question in self.read:  # pack order: a question reads only earlier ones
                reads = set(question.compute.names) if isinstance(question, Computed) else set()
                reads |= set(question.ask_if.names) if question.ask_if is not None else set()
                reads |= set(question.derive.names) if question.derive is not None else set()
                if question.id in key or reads & found:
                    found.add(question.id)
            self.reached[key] = [q for q in self.read if q.id in found]
        return self.reached[key]

    def values(self, answers: Mapping[str, Any], changed: Collection[str], empty: bool = True) -> dict[str, Any]:
        """The values the rules read (a partly answered instrument as its range)."""
        return self._state(answers, changed, empty)[0]

    def _state(
        self, answers: Mapping[str, Any], changed: Collection[str], empty: bool = True
    ) -> tuple[dict[str, Any], dict[str, bool | None]]:
        downstream = self.downstream(changed)
        values, applies, _ = applicable(
            self.pack, answers, unanswered_is_empty=empty, questions=downstream, base=self.base[empty]
        )
        if self.partly:
            reached = {q.id for q in downstream}
            values.update((t, r) for t, r in self.base_ranges[empty].items() if t not in reached)
            values.update(ranges(self.pack, values, applies, totals=reached))
        return values, applies

    def confirmed(self, answers: Mapping[str, Any], level: str, rule: str | None) -> bool:
        """Whether `iop check` accepts these answers and places them so: every change shown is checked whole by
        the engine, once found (a derived answer the change makes disagree with its items is refused there)."""
        from iop_cli.decide.engine import decide, disagreements

        if disagreements(self.pack, answers):
            return False
        decision = decide(self.pack, answers)
        return (decision.level.id, decision.rule) == (level, rule)

    def opened(self, answers: Mapping[str, Any], changed: Collection[str]) -> list[str]:
        """The questions to answer for the required answers the rules rest on that these answers leave missing
        where they apply: the answer itself, or for an answer derived from a screen whose items are given (the
        C-SSRS), the items it waits on (an answer given beside them would have to agree with them)."""
        values, applies = self._state(answers, changed)
        found: dict[str, None] = {}

        def to_answer(name: str) -> None:
            derive = self.pack.questions[name].derive
            if derive is None or not self._screened(name, answers):
                found[name] = None
                return
            for n in derive.names:  # a derived item (`suicide_risk` behind `suicidal_ideation`): its own items
                if answers.get(n) is None and applies.get(n) is not False and n not in found:
                    to_answer(n)

        for name in self._missing(values, applies):
            to_answer(name)
        return list(found)

    def _screened(self, name: str, answers: Mapping[str, Any]) -> bool:
        """Whether a derived answer comes from items given here (directly, or through derived items)."""
        derive = self.pack.questions[name].derive
        return derive is not None and any(
            answers.get(n) is not None or (n != name and self._screened(n, answers)) for n in derive.names
        )

    def _missing(self, values: Mapping[str, Any], applies: Mapping[str, bool | None]) -> list[str]:
        return [name for name in self.required if values.get(name) is None and applies.get(name) is not False]

    def placement(self, answers: Mapping[str, Any], changed: Collection[str]) -> tuple[str, str | None]:
        """The level and rule these answers give: the first rule that holds, for a complete record. A change can
        leave a required answer missing (one it makes apply, such as the home's questions once housing is stable,
        or a screen's follow-up): the engine's missing-answer rule then decides, as `iop check` would."""
        values, applies = self._state(answers, changed)
        if self._missing(values, applies):
            from iop_cli.decide.engine import decide

            decision = decide(self.pack, answers)
            return decision.level.id, decision.rule
        for rule in self.pack.rules:
            if rule.when.evaluate(values) is True:
                return rule.level, rule.id
        return self.pack.otherwise.level, None

    def possible(self, answers: Mapping[str, Any], changed: Collection[str], level: str) -> bool:
        """Whether some answers to `changed` not chosen yet could lead to `level` (three-valued: a rule that fails
        here fails whatever they are, and one that holds holds)."""
        values = self.values(answers, changed, empty=False)
        for rule in self.pack.rules:
            result = rule.when.evaluate(values)
            if result is not False and rule.level == level:
                return True
            if result is True:
                return False
        return level == self.pack.otherwise.level


def _read(pack: Pack):
    read = pack.memo.get("rules_read")
    if read is None:
        read = pack.memo["rules_read"] = questions_read(pack, [n for rule in pack.rules for n in rule.when.names])
    return read


def _totals_given(pack: Pack, answers: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The answers with each instrument total that its items gave written as the total, and the items dropped: a
    change alters the total (as the rules read it), not one item."""
    out = dict(answers)
    for total, items in pack.sums.items():
        if out.get(total) is None and values.get(total) is not None:
            out[total] = values[total]
            for item, _, _ in items:
                out.pop(item, None)
    return out


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
