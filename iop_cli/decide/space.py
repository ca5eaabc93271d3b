"""The answer space of a pack and the exact search over it, shared by the lint and the analyses built on it:
`rules test`'s suggested cases, `rules diff`'s regions, and the reachable levels and smallest changes that the
explanations use. Pure: takes a pack, returns answers.

The search answers the questions that the rules in question read, in pack order. Each one takes representative
answers: every choice, yes and no, blank for an optional question, and for numbers the points where some test in
the pack can change its outcome. Two answers that no test tells apart decide alike, so a search over the
representatives is exact. Numbers enter tests in three ways:

- one field against numbers (`x >= 20`, `x + 3 >= 10`, `x in [1, 2]`): the field is cut where the test changes
  (each cut, its neighbours and the ends of the range; for a decimal, its cuts and range ends with one value
  between each two, which stands for the open interval);
- a total of items (a computed field that adds or subtracts asked whole numbers, each required and with a range,
  that nothing else reads and no ask_if hides): the search answers the total itself, over its own cuts, since
  every whole number between its bounds is the total of some items; an example then gives items that add up to it;
- two or more fields in one test (`x + y >= 10`): no cut of one field alone decides it, so each takes every whole
  number of its range (up to `WHOLE_RANGE` values). A decimal, a field with no range or a longer range takes the
  cuts of its own tests only: the search is not exact for such a test, and `Space.inexact` names the field (lint
  reports it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from iop_cli.decide.values import applicable
from iop_cli.lang.tree import Node, field_names
from iop_cli.lang.walk import Linear, choices_tested, linear, missing_tested, number_tests, texts_tested
from iop_cli.pack.model import Computed, Pack, Question, Rule

WHOLE_RANGE = 1000  # a field tested together with another takes every whole number of a range up to this size


def trees(pack: Pack, allowances: bool = True) -> list[Node]:
    """Every condition and computation of the pack: rules, alerts, profile ratings, ask_if, computed fields and, unless told
    otherwise, the `when` of its lint allowances (whose cuts the lint needs to check them exactly)."""
    found = [r.when.root for r in [*pack.rules, *pack.alerts, *profile_ratings(pack)]]
    found += [q.ask_if.root for q in pack.questions.values() if q.ask_if]
    for q in pack.questions.values():
        if not isinstance(q, Computed):
            continue
        if q.compute.expression:
            found.append(q.compute.expression.root)
        found += [condition.root for condition, _ in q.compute.cases]
    if allowances:
        found += [a.when.root for a in pack.lint_allow if a.when is not None]
    return found


def questions_read(pack: Pack, names: Collection[str]) -> list[Question]:
    """Every question, asked or computed, whose value conditions over `names` read, directly or through computed
    fields, ask_if and derivations, in pack order: the values a search over them needs, and no others to compute.
    Remembered per pack."""
    memo = pack.memo.setdefault("questions_read", {})
    key = frozenset(names)
    if key not in memo:
        found: set[str] = set()
        pending = list(key)
        while pending:
            name = pending.pop()
            if name in found or name not in pack.questions:
                continue
            found.add(name)
            question = pack.questions[name]
            if isinstance(question, Computed):
                pending += list(question.compute.names)
            if question.ask_if is not None:
                pending += list(question.ask_if.names)
            if question.derive is not None:
                pending += list(question.derive.names)
        memo[key] = [q for q in pack.questions.values() if q.id in found]
    questions: list[Question] = memo[key]
    return questions


def profile_ratings(pack: Pack) -> list[Rule]:
    """Every rating of the pack's profile, as rules (`decide.profile` searches them where answers are missing)."""
    return [cell for dimension in pack.profile for cell in dimension.ratings]


def _read_anywhere(pack: Pack, alerts: bool) -> set[str]:
    """The fields some condition or computation reads, other than a derivation: the rules (and alerts), computed
    fields, allowances, and the ask_if of every question that is not itself an item only a derivation reads (the
    C-SSRS follow-ups are asked only after item 2, but item 2 is not read for that where the follow-ups are not
    searched)."""
    found = [r.when.root for r in [*pack.rules, *(pack.alerts if alerts else ()), *profile_ratings(pack)]]
    for q in pack.questions.values():
        if isinstance(q, Computed):
            if q.compute.expression:
                found.append(q.compute.expression.root)
            found += [condition.root for condition, _ in q.compute.cases]
    found += [a.when.root for a in pack.lint_allow if a.when is not None]
    read = {n for tree in found for n in field_names(tree)}
    derived_only = {n for q in pack.asked if q.derive is not None for n in q.derive.names if n not in read}
    for q in pack.questions.values():
        if q.ask_if is not None and q.id not in derived_only:
            read |= set(q.ask_if.names)
    return read


class Point(NamedTuple):
    """Where the search stands: the answers chosen so far, the values and applicability they give, and each rule's
    verdict under them."""

    answers: dict[str, Any]
    values: dict[str, Any]
    applies: dict[str, bool | None]
    results: list[bool | None]


class Standing(NamedTuple):
    """The placement under partial answers: `decided` when one rule (`rule`; None for `otherwise`) places every
    completion, and the levels still possible, in rule order."""

    decided: bool
    rule: str | None
    possible: tuple[str, ...]


class Space:
    """A pack's answer space: the fields the search answers (asked questions, and totals in place of their items),
    their representative answers, and what each rule depends on."""

    def __init__(self, pack: Pack, keep_items: Collection[str] = (), alerts: bool = True, screens: bool = False):
        """`keep_items`: totals to search through their items (where another pack defines them otherwise).
        `alerts`: whether the searches of this space read alerts too (lint's searches read only the level rules,
        so the C-SSRS items that only alerts read are not searched there: their derived answers are).
        `screens`: search the items of an answer derived by cases (the C-SSRS questions behind `suicide_risk`)
        rather than the answer itself, so that only fillings the screen can give are tried (the profile's search);
        the items of a sum are never searched (their total is)."""
        self.pack = pack
        self.trees = trees(pack)
        self.read_anywhere = _read_anywhere(pack, alerts)
        if screens:
            self.read_anywhere |= {
                n for q in pack.asked if q.derive is not None and q.derive.cases for n in q.derive.names
            }
        # Items that only a derivation reads: never searched (their derived answer is), and left blank in examples.
        self.items = {
            n for q in pack.asked if q.derive is not None for n in q.derive.names if n not in self.read_anywhere
        }
        found = _totals(pack, self.trees)
        self.totals = {t: items for t, items in found.items() if t not in keep_items}  # total -> items and signs
        self._read: dict[str, frozenset[str]] = {}
        self._missing: dict[str, tuple[str, ...]] = {}
        self._ask_if_reads: dict[str, tuple[str, ...]] = {}
        self._downstream: dict[str, frozenset[str]] = {}
        self._reads: dict[tuple[str, ...], list[Question]] = {}  # by the names the rules read
        self._implied_names = {n for pair in pack.implied for n in pair}
        # Fields tested together with another that cannot take every value: the search is not exact there.
        # For decimals, `points` are the exact values among the representatives; each other one stands for the open
        # interval between its neighbours.
        self.domains, self.points, self.inexact = _domains(pack, self.trees, self.totals)
        # The questions whose values a search needs: items only a derivation reads are never answered, so going
        # through them (a hundred, with the instruments) would only cost time.
        self.evaluated = [q for q in pack.questions.values() if q.id not in self.items]

    def depends(self, read: Sequence[str]) -> list[Question]:
        """The fields the search answers that the fields `read` depend on (themselves included, through computed
        fields and ask_if), in pack order: an order where each question's ask_if reads only fields before it."""
        names: set[str] = set()
        pending = [n for n in read if n in self.pack.questions]
        while pending:
            name = pending.pop()
            if name in names:
                continue
            names.add(name)
            question = self.pack.questions[name]
            if isinstance(question, Computed) and name not in self.totals:
                pending += list(question.compute.names)
            if question.derive is not None:
                # A derived answer also follows what its derivation reads, except items that nothing else reads:
                # the answer itself can take every value they give it (`suicidal_ideation` follows `suicide_risk`,
                # not the C-SSRS items; a total, none of its items).
                pending += [n for n in question.derive.names if n in self.read_anywhere]
            if question.ask_if is not None:
                pending += list(question.ask_if.names)
        return [q for q in self.pack.questions.values() if q.id in names and q.id in self.domains]

    def by_rules(self, rules: Sequence[Rule]) -> list[Question]:
        """The fields these rules depend on, in the order of the first rule that reads each (so a search decides
        the early rules, crisis first, before it branches on what only later rules read), part by part where the
        rules fall into parts that share no field, each field after those its ask_if and derivation read (which
        decide whether it is asked, or its answer)."""
        fields = self.reads(rules)
        first = {q.id: next(i for i, r in enumerate(rules) if q.id in self.read_ids(r)) for q in fields}
        # Fields that no rule reads together (the parts of a pack made of independent parts) stay apart, part by
        # part: interleaving them would keep every part's rules undecided at once, and nothing could be reused.
        part = {q.id: q.id for q in fields}

        def root(name: str) -> str:
            while part[name] != name:
                name = part[name]
            return name

        for rule in rules:
            read = [n for n in self.read_ids(rule) if n in part]
            for name in read[1:]:
                part[root(name)] = root(read[0])
        opens = {q.id: min(first[n] for n in part if root(n) == root(q.id)) for q in fields}
        before = {q.id: {d.id for d in self.depends(self._deps(q))} - {q.id} for q in fields}
        ordered: list[Question] = []
        pending = list(fields)
        while pending:
            done = {q.id for q in ordered}
            ready = [q for q in pending if before[q.id] <= done or not (before[q.id] & {p.id for p in pending})]
            pick = min(ready, key=lambda q: (opens[q.id], first[q.id]))  # stable: pack order among equals
            ordered.append(pick)
            pending.remove(pick)
        return ordered

    @staticmethod
    def _deps(question: Question) -> list[str]:
        names = list(question.ask_if.names) if question.ask_if is not None else []
        return names + (list(question.derive.names) if question.derive is not None else [])

    def _waiting(self, name: str, answers: Mapping[str, Any], applies: Mapping[str, bool | None]) -> bool:
        """Whether a question's applicability is unknown because its ask_if depends on an answer not chosen yet."""
        if applies.get(name, True) is not None:
            return False
        if name not in self._ask_if_reads:
            question = self.pack.questions[name]
            self._ask_if_reads[name] = tuple(
                q.id for q in self.depends(question.ask_if.names if question.ask_if else ())
            )
        return any(f not in answers and applies.get(f, True) is not False for f in self._ask_if_reads[name])

    def not_chosen(self, question: Question, values: Mapping[str, Any], applies: Mapping[str, bool | None]) -> bool:
        """Whether the search leaves a question unanswered: it does not apply, or its answer is derived from the
        answers chosen before it (an answer given as well could only agree, or be an error)."""
        if applies.get(question.id) is False:
            return True
        return question.derive is not None and values.get(question.id) is not None

    def reads(self, rules: Sequence[Rule]) -> list[Question]:
        """The fields these rules depend on (`depends`), remembered per set of rules (batch scoring asks for the
        same few sets thousands of times)."""
        key = tuple(n for r in rules for n in r.when.names)
        if key not in self._reads:
            self._reads[key] = self.depends(key)
        return list(self._reads[key])

    def read_ids(self, rule: Rule) -> frozenset[str]:
        if rule.id not in self._read:
            self._read[rule.id] = frozenset(q.id for q in self.reads([rule]))
        return self._read[rule.id]

    def values(
        self, answers: Mapping[str, Any], ignore_ask_if: bool = False, questions: Sequence[Question] | None = None
    ) -> tuple[dict, dict]:
        """The values and applicability that these answers (totals among them) give, as the engine computes them.
        With `ignore_ask_if`, as if every question were asked: shows whether a rule fails only because a question it
        reads is skipped. `questions`: only these (in pack order), where a search reads no others."""
        values, applies, _ = self.state(answers, ignore_ask_if, questions)
        return values, applies

    def values_after(
        self,
        answers: Mapping[str, Any],
        name: str,
        before: tuple[dict, dict, frozenset[str]],
        questions: Sequence[Question] | None = None,
    ) -> tuple[dict, dict, frozenset[str]]:
        """`state(answers)`, where `before` is `state` of the same answers without `name`: only the questions
        whose value or applicability reads `name` (directly or through others) are computed again, the rest kept
        from `before`. All are computed again where `name` takes part in an implied gate, or where the answers
        held back as waiting change: one of them no longer waits, or an answer computed again starts to."""
        held = before[2]
        if name in self._implied_names:
            return self.state(answers, False, questions)
        evaluated = self.evaluated if questions is None else questions
        values, applies = before[:2]
        touched: set[str] = set()
        new = {name}
        while True:
            # Adding answers only ends waits (another answer's ask_if reads them), and leaves the applicability of
            # the questions not computed again as it was. The answers held back that no longer wait are added in
            # turn, until those still held back all wait: the engine's loop (`state`) holds back the same, since
            # ask_if reads only earlier questions, so which answers wait is settled question by question.
            below = set().union(*(self._below(n) for n in new))
            touched |= below
            changed = [q for q in evaluated if q.id in below]
            kept = {k: v for k, v in answers.items() if k not in held} if held else answers
            values, applies, _ = applicable(
                self.pack, kept, given=self.totals, unanswered_is_empty=False, questions=changed, base=(values, applies)
            )
            released = {n for n in held if not self._waiting(n, kept, applies)}
            if not released:
                break
            held, new = held - released, released
        if any(kept.get(n) is not None and self._waiting(n, kept, applies) for n in touched if n in kept):
            return self.state(answers, False, questions)  # an answer computed again started to wait
        for key in touched:
            if key in kept and kept[key] is None and key in applies:
                applies[key] = False
        return values, applies, held

    def _below(self, name: str) -> frozenset[str]:
        if name not in self._downstream:
            self._downstream[name] = _downstream(self.pack, name)
        return self._downstream[name]

    def state(
        self, answers: Mapping[str, Any], ignore_ask_if: bool = False, questions: Sequence[Question] | None = None
    ) -> tuple[dict, dict, frozenset[str]]:
        """`values`, and the answers held back as waiting on answers not chosen yet (`values_after` builds on
        it)."""
        held: set[str] = set()
        if not ignore_ask_if:
            while True:
                # A multi-select not chosen yet is unknown here, not the empty selection it is in the engine.
                values, applies, _ = applicable(
                    self.pack,
                    answers,
                    given=self.totals,
                    unanswered_is_empty=False,
                    questions=self.evaluated if questions is None else questions,
                )
                # An answer given before the answers its ask_if reads (a fixed answer of `reachable`) may yet not
                # apply: it stays unknown until they are chosen, so no verdict rests on it too early.
                unsure = {n for n, v in answers.items() if v is not None and self._waiting(n, answers, applies)}
                if not unsure:
                    break
                held |= unsure
                answers = {k: v for k, v in answers.items() if k not in unsure}
            for name, value in answers.items():
                if value is None and name in applies:
                    applies[name] = False  # left blank: settled, and like a skipped question, places no rule
            return values, applies, frozenset(held)
        as_if: dict[str, Any] = {}
        for question in self.pack.questions.values():
            if isinstance(question, Computed) and question.id not in self.totals:
                as_if[question.id] = question.compute.evaluate(as_if)
            elif answers.get(question.id) is not None:
                as_if[question.id] = answers[question.id]
        return as_if, {}, frozenset()  # `Search.values_after` computes every such state whole

    def holds(self, rule: Rule, values: dict[str, Any], applies: dict[str, bool | None]) -> bool | None:
        """A rule's verdict. Undecided only because it reads a question that does not apply (its ask_if is false)
        is not holding, as in the engine; undecided because of an answer not yet chosen stays undecided."""
        tested = self._missing.get(rule.id)
        if tested is None:
            tested = self._tested_missing(rule)
        if tested and any(values.get(n) is None and applies.get(n, True) is not False for n in tested):
            # `x is missing` is true of an answer not chosen yet, which the search may still choose: wait until
            # every field such a test depends on is answered or skipped.
            return None
        result = rule.when.evaluate(values)
        if result is not None:
            return result
        if "level" in rule.when.names and "level" not in values:
            return None  # an alert on the level placed waits for the level rules
        # As the engine's `policy.open_sources`, over the fields the search answers (a total, not its items).
        waiting = any(values.get(n) is None and applies.get(n, True) is not False for n in self.read_ids(rule))
        return None if waiting else False

    def standing(self, results: Sequence[bool | None]) -> Standing:
        """What each level rule's verdict (in pack order) says of the placement. A rule places every completion
        when it holds and every rule before it fails; the levels still possible are those of the rules that may yet
        hold, up to the first that does (or `otherwise`)."""
        possible: list[str] = []
        rules = self.pack.rules
        for index, result in enumerate(results):
            if result is None:
                possible.append(rules[index].level)
            elif result is True:
                if not possible:
                    return Standing(True, rules[index].id, (rules[index].level,))
                possible.append(rules[index].level)
                return Standing(False, None, tuple(dict.fromkeys(possible)))
        if not possible:
            return Standing(True, None, (self.pack.otherwise.level,))
        return Standing(False, None, tuple(dict.fromkeys([*possible, self.pack.otherwise.level])))

    def _tested_missing(self, rule: Rule) -> tuple[str, ...]:
        """The fields the search answers that this rule's `is missing` tests depend on."""
        if rule.id not in self._missing:
            self._missing[rule.id] = tuple(q.id for q in self.depends(sorted(missing_tested(rule.when.root))))
        return self._missing[rule.id]

    def as_answers(self, example: dict[str, Any] | None) -> dict[str, Any] | None:
        """An example as answers to asked questions: each total is replaced by items that add up to it."""
        if example is None or not any(name in self.totals for name in example):
            return example
        answers: dict[str, Any] = {}
        for name, value in example.items():
            if name not in self.totals:
                answers[name] = value
                continue
            items = self.totals[name]
            # Start each item where it adds least, then raise them in turn until the total is reached.
            ranges = [self._bounds(item) for item, _ in items]
            least = [lo if sign > 0 else hi for (_, sign), (lo, hi) in zip(items, ranges, strict=True)]
            left = value - sum(sign * v for (_, sign), v in zip(items, least, strict=True))
            for (item, sign), start, (lo, hi) in zip(items, least, ranges, strict=True):
                step = min(left, hi - lo)
                answers[item] = int(start + sign * step)
                left -= step
        return answers

    def complete(self, answers: dict[str, Any], required_only: bool = False) -> dict[str, Any]:
        """Answers to every asked question that applies (or every required one): the given ones (items in place of
        totals), and each other at its first representative answer. Where the given answers decide a placement,
        every completion keeps it."""
        full = dict(self.as_answers(answers) or {})
        for question in self.pack.asked:
            if question.id in full or (required_only and not question.required) or question.id in self.items:
                continue
            values, applies = self.values(full)
            if not self.not_chosen(question, values, applies):
                full[question.id] = self.domains[question.id][0]
        return full

    def _bounds(self, name: str) -> tuple[int, int]:
        question = self.pack.questions[name]
        return int(question.min or 0), int(question.max or 0)


def _downstream(pack: Pack, name: str) -> frozenset[str]:
    """The question itself and every question whose value or applicability reads it, through computed fields,
    derivations and ask_if, however indirectly."""
    found = {name}
    for question in pack.questions.values():  # pack order: a question reads only those before it
        reads = list(question.ask_if.names) if question.ask_if is not None else []
        if question.derive is not None:
            reads += question.derive.names
        if isinstance(question, Computed):
            reads += question.compute.names
        if found.intersection(reads):
            found.add(question.id)
    return frozenset(found)


def _totals(pack: Pack, every: list[Node]) -> dict[str, list[tuple[str, int]]]:
    """Computed fields that the search answers in place of their items: an expression that adds or subtracts asked
    whole-number questions, each required, with a range and no ask_if, that no other condition or computation
    reads."""
    reads: dict[str, int] = {}
    for tree in every:
        for name in field_names(tree):
            reads[name] = reads.get(name, 0) + 1
    found: dict[str, list[tuple[str, int]]] = {}
    for question in pack.questions.values():
        if not isinstance(question, Computed) or question.compute.expression is None or question.ask_if is not None:
            continue
        form = linear(question.compute.expression.root)
        if form is None or not form[0] or form[1] != 0:
            continue
        items = [pack.questions.get(name) for name in form[0]]
        if all(
            item is not None
            and not isinstance(item, Computed)
            and item.type == "integer"
            and item.min is not None
            and item.max is not None
            and item.ask_if is None
            and item.required  # a blank item leaves the total missing: search those items one by one
            and reads.get(item.id) == 1  # read by this total only
            and form[0][item.id] in (1, -1)
            for item in items
        ):
            found[question.id] = [(name, int(sign)) for name, sign in form[0].items()]
    return found


def _domains(
    pack: Pack, every: list[Node], totals: dict[str, list[tuple[str, int]]]
) -> tuple[dict[str, list[Any]], dict[str, set[float]], dict[str, str]]:
    """Each field's representative answers (see the module's docstring), and the fields tested together with
    another that cannot take every value (why, in words): the search is not exact for their tests."""
    fields = [q for q in pack.questions.values() if not isinstance(q, Computed) or q.id in totals]
    bounds: dict[str, tuple[float | None, float | None]] = {}
    for q in fields:
        if q.id in totals:
            ranges = [(pack.questions[i].min or 0, pack.questions[i].max or 0) for i, _ in totals[q.id]]
            lo = sum(lo if s > 0 else -hi for (_, s), (lo, hi) in zip(totals[q.id], ranges, strict=True))
            hi = sum(hi if s > 0 else -lo for (_, s), (lo, hi) in zip(totals[q.id], ranges, strict=True))
            bounds[q.id] = (lo, hi)
        else:
            bounds[q.id] = (q.min, q.max)
    cuts: dict[str, set] = {q.id: set() for q in fields}
    whole: set[str] = set()  # fields tested together with another: every whole number of their range

    def expand(name: str) -> Node | None:
        question = pack.questions.get(name)
        if isinstance(question, Computed) and name not in totals and question.compute.expression is not None:
            return question.compute.expression.root
        return None

    for tree in every:
        for a, b, numbers in number_tests(tree):
            form = _difference(linear(a, expand), None if b is None else linear(b, expand))
            if form is None:
                continue
            terms, constant = form
            searched = [name for name in terms if name in cuts]
            others = [name for name in terms if name not in cuts]
            if len(searched) == 1 and all(_case_values(pack, n) is not None for n in others):
                # One searched field: solve the test for it, for every value the other (case-computed) terms take.
                (name,) = searched
                combos = itertools.product(*(_case_values(pack, n) or () for n in others))
                for combo in combos:
                    rest = constant + sum(terms[n] * v for n, v in zip(others, combo, strict=True))
                    cuts[name].update((number - rest) / terms[name] for number in numbers)
            else:
                whole.update(searched)
    tested: dict[str, set[str]] = {}
    words: dict[str, set[str]] = {}
    for tree in every:
        choices_tested(tree, tested)
        texts_tested(tree, words)
    domains: dict[str, list[Any]] = {}
    points: dict[str, set[float]] = {}  # decimals: the exact points among the representatives
    inexact: dict[str, str] = {}
    for q in fields:
        low, high = bounds[q.id]
        if q.id in whole and q.type == "number" and q.id not in totals:
            inexact[q.id] = "it is a decimal"
        elif q.id in whole and (low is None or high is None):
            inexact[q.id] = "it has no range (min and max)"
        elif q.id in whole and high - low > WHOLE_RANGE:  # type: ignore[operator]
            inexact[q.id] = f"its range holds more than {WHOLE_RANGE:,} whole numbers"
        if q.type == "yesno":
            domains[q.id] = [True, False]
        elif q.type == "choice":
            domains[q.id] = list(q.choice_values)
        elif q.type == "multi":
            domains[q.id] = _selections(q.choice_values, tested.get(q.id, set()))
            if len(tested.get(q.id, ())) > MAX_TESTED_CHOICES:
                inexact[q.id] = f"its conditions test more than {MAX_TESTED_CHOICES} of its choices"
        elif q.type in ("integer", "number"):
            kind = "integer" if q.id in totals else q.type  # a total of whole numbers is whole
            domains[q.id], exact = _numbers(kind, cuts[q.id], *bounds[q.id], q.id in whole)
            if exact is not None:
                points[q.id] = exact
        else:  # free text: each word a condition compares it with, and one word none of them is
            named = sorted(words.get(q.id, ()))
            other = f"not {'/'.join(named)}" if named else "text"
            while other in named:
                other += "_"
            domains[q.id] = [*named, other]
        if q.id not in totals and not q.required and q.type != "multi":
            domains[q.id].append(None)  # an optional question may be left blank (a multi-select: the empty one)
    return domains, points, inexact


MAX_TESTED_CHOICES = 10  # a multi-select's choices that conditions test: every selection of up to 2**10


def _selections(choices: tuple[str, ...], tested: set[str]) -> list[tuple[str, ...]]:
    """A multi-select's representatives: every selection of the choices that conditions test (the others change
    nothing), in the pack's order; past MAX_TESTED_CHOICES, none, each one alone, and all of them."""
    names = [c for c in choices if c in tested]
    if len(names) > MAX_TESTED_CHOICES:
        return [(), *((c,) for c in names), tuple(names)]
    return [
        tuple(c for c, keep in zip(names, mask, strict=True) if keep)
        for mask in itertools.product((False, True), repeat=len(names))
    ]


def _difference(a: Linear | None, b: Linear | None) -> Linear | None:
    if a is None:
        return None
    if b is None:
        return a
    terms = dict(a[0])
    for name, coefficient in b[0].items():
        terms[name] = terms.get(name, 0) - coefficient
    return {k: v for k, v in terms.items() if v != 0}, a[1] - b[1]


def _case_values(pack: Pack, name: str) -> list[Any] | None:
    """The numbers a computed field given by cases can take; None for anything else."""
    question = pack.questions.get(name)
    if not isinstance(question, Computed) or question.compute.expression is not None:
        return None
    values = [v for _, v in question.compute.cases] + [question.compute.otherwise]
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _numbers(
    kind: str, cuts: set, low: float | None, high: float | None, whole: bool
) -> tuple[list[Any], set[float] | None]:
    """Representatives of a numeric field: its cuts, their neighbours and the ends of the range; or every whole
    number of the range, for a field tested together with another. For a decimal: its cuts and the ends of its range
    (the exact points, also returned), and one value between each two, which stands for the open interval."""
    bounded = {v for v in (low, high) if v is not None}
    low = low if low is not None else min(cuts, default=0) - 1
    high = high if high is not None else max(cuts, default=0) + 1
    if kind == "integer" and whole and high - low <= WHOLE_RANGE:
        return list(range(int(low), int(high) + 1)), None
    if kind == "number":
        exact = {c for c in cuts | bounded if low <= c <= high}
        ordered = sorted(exact | {low, high})
        values = sorted({*ordered, *((x + y) / 2 for x, y in itertools.pairwise(ordered))})
        return [int(v) if float(v).is_integer() else v for v in values], exact
    # A cut between two whole numbers (x + y >= 10 solved as x >= 9.5) is decided alike by the whole numbers
    # around it.
    cuts = {f(c) for c in cuts for f in (math.floor, math.ceil)}
    points = {low, high} | {c + d for c in cuts for d in (-1, 0, 1)}
    values = sorted(p for p in points if low <= p <= high)
    return [int(v) if float(v).is_integer() else v for v in values], None


def widen(
    domains: Mapping[str, list[Any]], answers: dict[str, Any], parts: Sequence[tuple[Collection[str], Callable]]
) -> dict[str, list[Any]]:
    """From one example, the widest box of answers around it that the verdict still holds for throughout: each
    answer in turn takes every value of its domain that keeps the verdict for all combinations so far; an answer
    whose every value does is dropped.

    The verdict is given in `parts`: (the fields a part reads, its verdict on answers), and it holds where every
    part's does.
    Each part is tried over the combinations of its own fields only, which is exact because a part's verdict
    depends on no other answer, and keeps the product small: the box's size is the sum of the parts', not their
    product. Every part holds over the box as it grows, so when one answer changes only the parts that read it
    are tried again."""
    box: dict[str, list[Any]] = {name: [value] for name, value in answers.items()}

    def holds(candidate: dict[str, list[Any]], changed: str) -> bool:
        for reads, verdict in parts:
            if changed not in reads:
                continue
            names = [n for n in candidate if n in reads]
            for combo in itertools.product(*(candidate[n] for n in names)):
                if verdict(dict(zip(names, combo, strict=True))) is not True:
                    return False
        return True

    for name in reversed(list(answers)):
        dropped = {k: v for k, v in box.items() if k != name}
        if holds(dropped, name):
            box = dropped
            continue
        keep = [value for value in domains[name] if holds({**box, name: [value]}, name)]
        box[name] = keep
    return {name: box[name] for name in answers if name in box}


def answer_text(value: Any) -> str:
    """An answer in a finding: yes or no, blank for one left blank, else as written."""
    if value is None:
        return "blank"
    if isinstance(value, tuple):  # a multi-select's selection
        return "+".join(value) if value else "none"
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def describe(
    region: dict[str, list[Any]], domains: Mapping[str, list[Any]], points: Mapping[str, set] | None = None
) -> str:
    """A region in words: `name=value`, `name in {values}`, or numbers as the ranges the representatives stand
    for. `points` gives, for decimals, the exact values among the representatives (`Space.points`): each other one
    stands for the open interval between its neighbours."""
    parts = []
    for name, allowed in region.items():
        values = [v for v in domains.get(name, []) if v is not None]
        exact = (points or {}).get(name)
        if len(allowed) == 1 and (exact is None or allowed[0] in exact or allowed[0] is None):
            parts.append(f"{name}={answer_text(allowed[0])}")
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            spans = [_span(values, i, j, exact) for i, j in _runs(values, allowed)]
            if exact is None:
                spans += ["blank"] if None in allowed else []
                parts.append(f"{name} in {', '.join(spans)}")
            else:  # decimals: phrases (`x over 5 and under 5.5, or = 7`)
                spans += ["blank"] if None in allowed else []
                parts.append(f"{name} {', or '.join(spans)}")
        else:
            parts.append(f"{name} in {{{', '.join(answer_text(v) for v in allowed)}}}")
    return "; ".join(parts) or "any answers"


def _runs(values: list, allowed: list) -> list[tuple[int, int]]:
    """The runs of consecutive representatives inside `allowed`, as (first index, last index)."""
    runs: list[tuple[int, int]] = []
    for index, value in enumerate(values):
        if value not in allowed:
            continue
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _span(values: list, first: int, last: int, exact: set | None) -> str:
    """The numbers a run of representatives stands for. Whole numbers: `0-17` (each stands for itself and the
    numbers up to the next cut). Decimals, as a phrase: a representative that is not an exact point stands for the
    open interval between its neighbours, so a run may begin `over` or end `under` one."""
    low, high = values[first], values[last]
    if exact is None:
        if low == high:
            return f"{low}"
        return f"{low} to {high}" if low < 0 or high < 0 else f"{low}-{high}"
    below = values[first - 1] if first > 0 else None  # the neighbours outside the run
    above = values[last + 1] if last + 1 < len(values) else None
    if low == high and low in exact:
        return f"= {low}"
    if low in exact:
        start = f"from {low}"
    else:
        start = f"over {below}" if below is not None else ""
    if high in exact:
        end = f"to {high}" if start else f"at most {high}"
    else:
        end = ("to under" if low in exact else "and under") + f" {above}" if above is not None else ""
        end = end if start else (f"under {above}" if above is not None else "")
    if not end:
        return f"at least {low}" if low in exact else start
    return f"{start} {end}".strip()


class Search:
    """Depth-first search over the answers to `fields`, pruned with three-valued evaluation of the conditions."""

    def __init__(
        self,
        space: Space,
        fields: list[Question],
        ignore_ask_if: bool = False,
        fixed: Mapping[str, Any] | None = None,
        blanks: bool = True,
        questions: Sequence[Question] | None = None,
        narrowed: Mapping[str, list[Any]] | None = None,
    ):
        """`fixed`: answers every answer set of the search starts from (its fields are not searched). Without
        `blanks`, an optional question takes only real answers (the profile fills every missing answer).
        `questions`: the only questions whose values the verdicts read (in pack order), to compute no others.
        `narrowed`: fields that take only these answers (each of them, not representatives: a value set)."""
        self.space = space
        self.questions = questions
        self.fixed = dict(fixed or {})
        self.fields = [q for q in fields if q.id not in self.fixed]
        narrowed = narrowed or {}
        self.domains = {
            q.id: narrowed[q.id]
            if q.id in narrowed
            else space.domains[q.id]
            if blanks
            else [v for v in space.domains[q.id] if v is not None]
            for q in self.fields
        }
        self.ignore_ask_if = ignore_ask_if

    def values(self, answers: Mapping[str, Any]) -> tuple[dict, dict]:
        return self.space.values(answers, self.ignore_ask_if, self.questions)

    def state(self, answers: Mapping[str, Any]) -> tuple[dict, dict, frozenset[str]]:
        """The values these answers give, for `values_after` to build on."""
        return self.space.state(answers, self.ignore_ask_if, self.questions)

    def values_after(self, answers: Mapping[str, Any], name: str, before: tuple[dict, dict, frozenset[str]]) -> tuple:
        if self.ignore_ask_if:
            return self.state(answers)
        return self.space.values_after(answers, name, before, self.questions)

    def each_by_rules(
        self, rules: Sequence[Rule], verdict: Callable[[Point], bool | None], shortcuts: bool = False
    ) -> Iterator[dict]:
        """Each partial answer set under which `verdict(node)` is True for every completion (the node holds
        `results`, one verdict per rule; the verdict returns False to cut a branch and None when the answers so far
        do not decide), yielded as it is found; the search goes on from there when asked for the next. Below an
        answer, only the rules that read it are evaluated again, since no other rule's verdict can change there.
        The verdict is evaluated as the search reaches each node, so one that grows stricter between two answers
        (the gap search, which excludes each region it has reported) prunes the rest of the search, which then
        finds exactly what a search started again from the beginning would find next.

        `shortcuts`, for a verdict that looks only at the rules' verdicts and at regions it has yielded (the gap
        search): where every rule that reads the next question is decided and its first value's branch is all
        placed, its other values are not tried (they lead through the same verdicts); and a subtree where every branch was cut by a rule that holds is
        remembered by what its undecided rules read, so a later node with the same is cut at once (its branches
        meet the same verdicts)."""
        readers = {q.id: [i for i, r in enumerate(rules) if q.id in self.space.read_ids(r)] for q in self.fields}
        reads = [self.space.read_ids(r) for r in rules]
        everything = list(range(len(rules)))
        placed: set[tuple] = set()  # the subtrees, by what decides them, that hold nothing but placed answers

        def walk(
            index: int,
            answers: dict[str, Any],
            state: tuple[dict, dict, frozenset[str]],
            above: list,
            changed: list[int],
        ) -> Generator[dict[str, Any], None, bool]:
            """Yields what it finds; returns whether every branch below was cut by a rule that holds. `state`: the
            values these answers give (`Space.values_after`)."""
            values, applies = state[:2]
            results = list(above)
            for i in changed:
                results[i] = self.space.holds(rules[i], values, applies)
            result = verdict(Point(answers, values, applies, results))
            if result is False:
                return any(r is True for r in results)
            if result is True:
                yield dict(answers)
                return False
            if index == len(self.fields):
                return False
            key = None
            if shortcuts:
                open_ = tuple(i for i, r in enumerate(results) if r is None)
                seen = sorted({n for i in open_ for n in reads[i]})
                key = (index, open_, tuple((n, answers.get(n)) for n in seen))
                if key in placed:
                    return True
            question = self.fields[index]
            if self.space.not_chosen(question, values, applies):
                clean = yield from walk(index + 1, answers, state, results, [])
            else:
                # Where no undecided rule reads the question, its values lead through the same verdicts: once the
                # first value's branch is all placed, so are the others'. (A branch cut by a reported region is not
                # enough: the region may hold only the first value.)
                alike = shortcuts and all(results[i] is not None for i in readers[question.id])
                clean = True
                for value in self.domains[question.id]:
                    answers[question.id] = value
                    after = self.values_after(answers, question.id, state)
                    clean = (yield from walk(index + 1, answers, after, results, readers[question.id])) and clean
                    del answers[question.id]
                    if alike and clean:
                        break
            if clean and key is not None:
                placed.add(key)
            return clean

        return walk(0, dict(self.fixed), self.state(self.fixed), [None] * len(rules), everything)

    def first(self, verdict: Callable[[dict, dict], bool | None], rules: Sequence[Rule]) -> dict[str, Any] | None:
        """The first partial answer set, in search order, under which `verdict(values, applies)` is True for every
        completion, for a verdict made only of these rules' verdicts; None if there is none. Where every rule that
        reads the next question is already decided, the question's answer changes no verdict below, so only its
        first value is tried: each other value would lead through the same verdicts to nothing new."""
        readers = {q.id: [r for r in rules if q.id in self.space.read_ids(r)] for q in self.fields}
        empty: set[tuple] = set()  # subtrees that held nothing, by their undecided rules and what those read

        def walk(
            index: int, answers: dict[str, Any], state: tuple[dict, dict, frozenset[str]]
        ) -> dict[str, Any] | None:
            values, applies = state[:2]
            result = verdict(values, applies)
            if result is False:
                return None
            if result is True:
                return dict(answers)
            if index == len(self.fields):
                return None
            verdicts = [self.space.holds(r, values, applies) for r in rules]
            seen = sorted(
                {n for r, v in zip(rules, verdicts, strict=True) if v is None for n in self.space.read_ids(r)}
            )
            key = (index, tuple(verdicts), tuple(answers.get(n) for n in seen))
            if key in empty:
                return None  # the verdict rests on these rules alone: the same below as where it was tried
            question = self.fields[index]
            if self.space.not_chosen(question, values, applies):
                found = walk(index + 1, answers, state)
            else:
                options = self.domains[question.id]
                if all(self.space.holds(r, values, applies) is not None for r in readers[question.id]):
                    options = options[:1]
                found = None
                for value in options:
                    answers[question.id] = value
                    found = walk(index + 1, answers, self.values_after(answers, question.id, state))
                    del answers[question.id]
                    if found is not None:
                        break
            if found is None:
                empty.add(key)
            return found

        return walk(0, dict(self.fixed), self.state(self.fixed))


def _through_given_items(space: Space, answers: Mapping[str, Any]) -> Space:
    """The space to search from these answers: a total some of whose items are given is searched through its
    items, since the answers fix those."""
    given = {t for t, items in space.totals.items() if any(answers.get(item) is not None for item, _ in items)}
    return Space(space.pack, keep_items=given) if given else space


def reachable(space: Space, answers: Mapping[str, Any]) -> list[str]:
    """Every level that some way of answering the questions left open (the fields the rules read that `answers`
    does not give) leads to, in the order the search meets them. Exact: a branch is cut once its placement is
    decided, or once every level it may still reach has been met."""
    space = _through_given_items(space, answers)
    rules = space.pack.rules
    found: list[str] = []

    def verdict(point: Point) -> bool | None:
        standing = space.standing(point.results)
        if standing.decided:
            if standing.possible[0] not in found:
                found.append(standing.possible[0])
            return False
        return False if set(standing.possible) <= set(found) else None

    for _ in Search(space, space.reads(rules), fixed=answers).each_by_rules(rules, verdict):
        pass  # the verdict never yields: it records each level as the search decides it
    return found


def changes_to(space: Space, answers: Mapping[str, Any], level: str, largest: int = 3) -> list[dict[str, Any]]:
    """The smallest sets of changed answers that lead to `level` (for the explanations: "would be IOP if ..."),
    each with new values that do, smallest sets first; at most `largest` answers changed. A question these answers
    leave open (skipped, or blank) may take any answer in a change without counting as one. Exact: a set is kept
    when some answers to it lead to the level and no smaller kept set lies inside it."""
    space = _through_given_items(space, answers)
    rules = space.pack.rules
    given = {name: value for name, value in answers.items() if value is not None}
    candidates = [q.id for q in space.reads(rules) if q.id in given]
    found: list[dict[str, Any]] = []
    kept: list[frozenset[str]] = []

    def verdict(values: dict, applies: dict) -> bool | None:
        standing = space.standing([space.holds(r, values, applies) for r in rules])
        if standing.decided:
            return standing.possible[0] == level
        return None if level in standing.possible else False

    for size in range(largest + 1):  # size 0: answering only what these answers leave open
        for names in itertools.combinations(candidates, size):
            if any(k <= set(names) for k in kept):
                continue  # a smaller change already leads there
            fixed = {k: v for k, v in given.items() if k not in names}
            trial = Search(space, space.reads(rules), fixed=fixed)
            example = trial.first(verdict, rules)
            if example is not None:
                kept.append(frozenset(names))
                found.append({k: v for k, v in example.items() if k not in fixed})
    return found


def profile_space(pack: Pack, answers: Mapping[str, Any] | None = None) -> Space:
    """The answer space the profile is rated over where answers are missing (`decide.profile`): the level rules'
    and the profile's fields, a screen's items in place of the answer they derive, and a computed total through its
    items where some of them are among `answers`. Built once per pack (and set of such totals), when first needed."""
    space: Space = pack.memo.get("profile_space") or Space(pack, alerts=False, screens=True)
    pack.memo["profile_space"] = space
    given = frozenset(
        t for t, items in space.totals.items() if answers and any(answers.get(i) is not None for i, _ in items)
    )
    if not given:
        return space
    key = f"profile_space:{','.join(sorted(given))}"
    if key not in pack.memo:
        pack.memo[key] = Space(pack, keep_items=given, alerts=False, screens=True)
    through: Space = pack.memo[key]
    return through
