"""Checks for rule authors: lint (rules that never fire or are shadowed, gaps, unused questions and levels), test
coverage, and the differences between two packs. Pure: takes packs, returns findings; prints nothing.

Lint is exact over finite domains. Every answer set is covered by a search over the questions the rules read, in
pack order: choices, yes/no, and whole numbers cut at the constants the pack's conditions compare them with (each
constant, its neighbours, and the ends of the range). Conditions are evaluated three-valued on partial answers, so a
branch is cut as soon as its outcome is certain; a finding's example lists only the answers that decide it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from iop_cli.decide import policy
from iop_cli.decide.engine import applicable
from iop_cli.lang.tree import Node, field_names
from iop_cli.lang.walk import constants
from iop_cli.pack.model import Allowance, Computed, Pack, Question, Rule

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    code: str  # never-fires, shadowed, gap, skipped-question, unused-question, unused-level
    severity: str  # error, warning, info
    where: str  # file:line:col
    message: str
    example: dict[str, Any] | None = None
    subject: str = ""  # the rule, question or level it is about ("" for gaps)
    region: dict[str, list[Any]] | None = None  # for gaps: every answer value the gap covers

    @property
    def key(self) -> str:
        """How a pack names this finding in `lint: allow:` to say it is intended."""
        return f"{self.code}:{self.subject}" if self.subject else self.code


# ----------------------------------------------------------------------------------------------------------------
# Domains and the search


def _trees(pack: Pack) -> list[Node]:
    trees = [r.when.root for r in [*pack.rules, *pack.alerts]]
    trees += [q.ask_if.root for q in pack.questions.values() if q.ask_if]
    for q in pack.questions.values():
        if not isinstance(q, Computed):
            continue
        if q.compute.expression:
            trees.append(q.compute.expression.root)
        trees += [condition.root for condition, _ in q.compute.cases]
    return trees


def domain(pack: Pack, question: Question, trees: list[Node] | None = None) -> list[Any]:
    """Representative answers: every choice, yes and no, or whole numbers at and around each constant compared with
    the field, plus the ends of its range. Two numbers between the same cut points always decide alike."""
    if question.type == "yesno":
        return [True, False]
    if question.type == "choice":
        return list(question.choice_values)
    if question.type in ("integer", "number"):
        found: set = set()
        for tree in trees if trees is not None else _trees(pack):
            found |= constants(tree, question.id)
        low = question.min if question.min is not None else min(found, default=0) - 1
        high = question.max if question.max is not None else max(found, default=0) + 1
        points = {low, high} | {c + d for c in found for d in (-1, 0, 1)}
        values = sorted(p for p in points if low <= p <= high)
        return [int(v) if float(v).is_integer() else v for v in values]
    return ["text"]


def _reads(pack: Pack, rules: Sequence[Rule]) -> list[Question]:
    """The asked questions these rules depend on (through computed fields and the ask_if of what they read), in pack
    order, which is also an order where each question's ask_if reads only questions before it."""
    return _depends(pack, [n for r in rules for n in r.when.names])


def _depends(pack: Pack, read: Sequence[str]) -> list[Question]:
    """The asked questions that the fields `read` depend on, themselves included, in pack order."""
    names: set[str] = set()
    pending = [n for n in read if n in pack.questions]
    while pending:
        name = pending.pop()
        if name in names:
            continue
        names.add(name)
        question = pack.questions[name]
        if isinstance(question, Computed):
            pending += list(question.compute.names)
        if question.ask_if is not None:
            pending += list(question.ask_if.names)
    return [q for q in pack.asked if q.id in names]


class _Node(NamedTuple):
    """Where the search stands: the answers chosen so far, the values and applicability they give, and each rule's
    verdict under them."""

    answers: dict[str, Any]
    values: dict[str, Any]
    applies: dict[str, bool | None]
    results: list[bool | None]


class _Search:
    """Depth-first search over the answers to `fields`, pruned with three-valued evaluation of the conditions."""

    def __init__(self, pack: Pack, fields: list[Question], ignore_ask_if: bool = False):
        self.pack = pack
        self.fields = fields
        trees = _trees(pack)
        self.domains = {q.id: domain(pack, q, trees) for q in fields}
        self.ignore_ask_if = ignore_ask_if

    def values(self, answers: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bool | None]]:
        if not self.ignore_ask_if:
            values, applies, _ = applicable(self.pack, answers)
            return values, applies
        # As if every question were asked: shows whether a rule fails only because a question it reads is skipped.
        as_if: dict[str, Any] = {}
        for question in self.pack.questions.values():
            if isinstance(question, Computed):
                as_if[question.id] = question.compute.evaluate(as_if)
            elif answers.get(question.id) is not None:
                as_if[question.id] = answers[question.id]
        return as_if, {}

    def each_by_rules(self, rules: Sequence[Rule], verdict: Callable[[_Node], bool | None]) -> Iterator[dict[str, Any]]:
        """Each partial answer set under which `verdict(node)` is True for every completion (the node holds
        `results`, one verdict per rule; the verdict returns False to cut a branch and None when the answers so far
        do not decide), yielded as it is found; the search goes on from there when asked for the next. Below an answer,
        only the rules that read it are evaluated again, since no other rule's verdict can change there. The
        verdict is evaluated as the search reaches each node, so one that grows stricter between two answers (the
        gap search, which excludes each region it has reported) prunes the rest of the search, which then finds
        exactly what a search started again from the beginning would find next."""
        readers = {q.id: [i for i, r in enumerate(rules) if q.id in _read_ids(self.pack, r)] for q in self.fields}
        everything = list(range(len(rules)))

        def walk(index: int, answers: dict[str, Any], above: list, changed: list[int]) -> Iterator[dict[str, Any]]:
            values, applies = self.values(answers)
            results = list(above)
            for i in changed:
                results[i] = _holds(rules[i], values, applies, self.pack)
            result = verdict(_Node(answers, values, applies, results))
            if result is False:
                return
            if result is True:
                yield dict(answers)
                return
            if index == len(self.fields):
                return
            question = self.fields[index]
            if applies.get(question.id) is False:
                yield from walk(index + 1, answers, results, [])
                return
            for value in self.domains[question.id]:
                answers[question.id] = value
                yield from walk(index + 1, answers, results, readers[question.id])
                del answers[question.id]

        return walk(0, {}, [None] * len(rules), everything)

    def first(
        self, verdict: Callable[[dict[str, Any], dict], bool | None], rules: Sequence[Rule]
    ) -> dict[str, Any] | None:
        """The first partial answer set, in search order, under which `verdict(values, applies)` is True for every
        completion, for a verdict made only of these rules' verdicts; None if there is none. Where every rule that
        reads the next question is already decided, the question's answer changes no verdict below, so only its
        first value is tried: each other value would lead through the same verdicts to nothing new."""
        readers = {q.id: [r for r in rules if q.id in _read_ids(self.pack, r)] for q in self.fields}

        def walk(index: int, answers: dict[str, Any]) -> dict[str, Any] | None:
            values, applies = self.values(answers)
            result = verdict(values, applies)
            if result is False:
                return None
            if result is True:
                return dict(answers)
            if index == len(self.fields):
                return None
            question = self.fields[index]
            if applies.get(question.id) is False:
                return walk(index + 1, answers)
            options = self.domains[question.id]
            if all(_holds(r, values, applies, self.pack) is not None for r in readers[question.id]):
                options = options[:1]
            for value in options:
                answers[question.id] = value
                found = walk(index + 1, answers)
                del answers[question.id]
                if found is not None:
                    return found
            return None

        return walk(0, {})


def _read_ids(pack: Pack, rule: Rule) -> set[str]:
    """The asked questions a rule's verdict depends on (`_reads`), as ids."""
    return {q.id for q in _reads(pack, [rule])}


def _holds(rule: Rule, values: dict[str, Any], applies: dict[str, bool | None], pack: Pack) -> bool | None:
    """A rule's verdict. Undecided only because it reads a question that does not apply (its ask_if is false) is
    not holding, as in the engine; undecided because of an answer not yet chosen stays undecided."""
    result = rule.when.evaluate(values)
    if result is not None:
        return result
    return None if policy.open_sources(pack, rule, values, applies) else False


# ----------------------------------------------------------------------------------------------------------------
# Lint


def lint(pack: Pack, gap_examples: int = 5) -> list[Finding]:
    findings: list[Finding] = []
    findings += _rule_findings(pack)
    findings += _gap_findings(pack, gap_examples)
    findings += _unused_findings(pack)
    findings = [
        replace(f, severity="info", message=f"{f.message} (allowed in the pack)") if allowance(pack, f) else f
        for f in findings
    ]
    findings = [_outside_example(pack, f) if f.code == "gap" and f.severity != "info" else f for f in findings]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.where))


def _outside_example(pack: Pack, finding: Finding) -> Finding:
    """For a gap only partly inside the pack's allowed gaps, show an example from the part that is not."""
    conditions = [a.when for a in pack.lint_allow if a.finding == "gap" and a.when is not None]
    if not conditions or finding.region is None:
        return finding
    names = list(finding.region)
    for combo in itertools.product(*(finding.region[n] for n in names)):
        answers = dict(zip(names, combo, strict=True))
        values, _, _ = applicable(pack, answers)
        if all(c.evaluate(values) is not True for c in conditions):
            return replace(finding, example=answers)
    return finding


def allowance(pack: Pack, finding: Finding) -> Allowance | None:
    """The pack's allowance that covers this finding: same key and, for a gap with `when`, a condition that holds
    for every answer in the gap."""
    for allowed in pack.lint_allow:
        if allowed.finding != finding.key:
            continue
        if allowed.when is None or (finding.region is not None and _holds_throughout(pack, allowed, finding.region)):
            return allowed
    return None


def _holds_throughout(pack: Pack, allowed: Allowance, region: dict[str, list[Any]]) -> bool:
    """Whether the allowance's `when` holds for every answer set in the region. Only the region's questions that
    `when` depends on are varied: the others change nothing it reads."""
    if allowed.when is None:
        return False
    reads = {q.id for q in _depends(pack, allowed.when.names)}
    names = [n for n in region if n in reads]
    for combo in itertools.product(*(region[n] for n in names)):
        values, _, _ = applicable(pack, dict(zip(names, combo, strict=True)))
        if allowed.when.evaluate(values) is not True:
            return False
    return True


def _rule_findings(pack: Pack) -> list[Finding]:
    findings = []
    known: dict[frozenset, bool] = {}  # what `_decidable` found, for the parts that recur from rule to rule
    for index, rule in enumerate(pack.rules):
        earlier = pack.rules[:index]
        if _decidable(pack, [(rule, True), *((e, False) for e in earlier)], known):
            continue  # some answers reach this rule with every earlier one false: it decides there

        def holds(values, applies, rule=rule) -> bool | None:
            return _holds(rule, values, applies, pack)

        example = _Search(pack, _reads(pack, [rule])).first(holds, [rule])
        if example is None:
            findings.append(_never(pack, rule))
            continue
        shadows = _smallest_cover(pack, rule, earlier, known)
        findings.append(
            Finding(
                "shadowed",
                "error",
                str(rule.mark),
                f"rule `{rule.id}` can never decide: whenever it holds, an earlier rule already did "
                f"({', '.join(shadows)})",
                example,
                rule.id,
            )
        )
    return findings


def _decidable(pack: Pack, wanted: Sequence[tuple[Rule, bool]], known: dict[frozenset, bool]) -> bool:
    """Whether some answers decide each of these rules as wanted (true, or false). Rules that share no question
    (through ask_if and computed fields either) are independent, so the search is made for each group of rules
    that do, and each group's answer is kept in `known`: the parts add up instead of multiplying."""
    reads = [_read_ids(pack, rule) for rule, _ in wanted]
    groups: list[tuple[set[str], list[int]]] = []
    for index, fields in enumerate(reads):
        touching = [g for g in groups if g[0] & fields]
        merged = (set(fields), [index])
        for group in touching:
            merged[0].update(group[0])
            merged[1].extend(group[1])
            groups.remove(group)
        groups.append(merged)
    for _, members in groups:
        part = [wanted[i] for i in sorted(members)]
        key = frozenset((rule.id, want) for rule, want in part)
        if key not in known:

            def verdict(values, applies, part=part) -> bool | None:
                results = [(_holds(rule, values, applies, pack), want) for rule, want in part]
                if any(result is not None and result is not want for result, want in results):
                    return False
                return True if all(result is want for result, want in results) else None

            rules = [rule for rule, _ in part]
            known[key] = _Search(pack, _reads(pack, rules)).first(verdict, rules) is not None
        if not known[key]:
            return False
    return True


def _smallest_cover(
    pack: Pack, rule: Rule, earlier: Sequence[Rule], known: dict[frozenset, bool] | None = None
) -> list[str]:
    """A smallest set of earlier rules that together hold whenever `rule` does: the ones that shadow it. Starts from
    every earlier rule and drops each one (first to last) that the others do not need."""
    known = {} if known is None else known

    def covered(rules: list[Rule]) -> bool:
        return not _decidable(pack, [(rule, True), *((e, False) for e in rules)], known)

    cover = list(earlier)
    for candidate in list(earlier):
        trial = [e for e in cover if e is not candidate]
        if covered(trial):
            cover = trial
    return [e.id for e in cover]


def _never(pack: Pack, rule: Rule) -> Finding:
    """A rule whose condition is never true; say so, and whether a question it reads is never asked when it could."""
    loose = _Search(pack, _reads(pack, [rule]), ignore_ask_if=True).first(lambda v, a: _holds(rule, v, a, pack), [rule])
    if loose is not None:
        skipped = [
            n for n in rule.when.names if n in pack.questions and pack.questions[n].ask_if is not None and n in loose
        ]
        if skipped:
            name = skipped[0]
            condition = getattr(pack.questions[name].ask_if, "source", "")
            return Finding(
                "skipped-question",
                "error",
                str(rule.mark),
                f"rule `{rule.id}` reads `{name}`, but `{name}` is never asked when the rest of the rule holds "
                f"(it is asked only when {condition})",
                loose,
                rule.id,
            )
    return Finding(
        "never-fires",
        "error",
        str(rule.mark),
        f"rule `{rule.id}` can never fire: its condition is never true",
        None,
        rule.id,
    )


def _gap_findings(pack: Pack, limit: int) -> list[Finding]:
    """Distinct regions of answers that no rule places, each widened to every value that still leaves it unplaced
    and shown by the answers that decide it."""
    fields = _reads(pack, pack.rules)
    search = _Search(pack, fields)
    regions: list[dict[str, list[Any]]] = []

    rules = pack.rules
    readers = {q.id: [r for r in rules if q.id in _read_ids(pack, r)] for q in fields}
    context = {name: sorted(set().union(*(_read_ids(pack, r) for r in found))) for name, found in readers.items()}
    placed_cache: dict[tuple, bool] = {}

    def placed(answers: dict[str, Any], name: str, value: Any) -> bool:
        """Whether answering `name` with `value` on top of these answers makes some rule hold. Only the rules that
        read `name` can change, and their verdict depends only on the answers they read: the key of the cache."""
        key = (name, value, tuple(answers.get(n) for n in context[name]))
        if key not in placed_cache:
            values, applies = search.values({**answers, name: value})
            placed_cache[key] = any(_holds(r, values, applies, pack) is True for r in readers[name])
        return placed_cache[key]

    def inside(region: dict[str, list[Any]], node: _Node) -> bool:
        """Whether every completion of the node is inside the region or placed by a rule. An unanswered question of
        the region that is sure to be asked either takes a value inside the region, or one outside it that makes
        a rule hold (checked here on top of the node's answers: a rule that holds on partial answers holds on
        every completion). Such nodes hold no new region, so cutting them changes nothing the search finds."""
        outside = []
        for name, allowed in region.items():
            value = node.values.get(name)
            if value is not None:
                if value not in allowed:
                    return False
                continue
            if name in node.answers or node.applies.get(name) is not True:
                return False  # skipped, or perhaps skipped: not inside
            outside += [(name, v) for v in search.domains[name] if v not in allowed]
        return all(placed(node.answers, name, value) for name, value in outside)

    def new_region(node: _Node) -> bool | None:
        if any(r is True for r in node.results):
            return False
        if any(inside(region, node) for region in regions):
            return False  # inside a region already reported
        return True if all(r is False for r in node.results) else None

    # One search, resumed after each region: the regions found so far prune it (a region's own example is inside
    # it), so it goes on exactly where a search started again would arrive.
    # No rule holds where each rule is false; each rule reads only its own questions (through ask_if and computed
    # fields), so a region is widened rule by rule.
    parts = [({q.id for q in _reads(pack, [rule])}, _is_false(rule, pack)) for rule in pack.rules]
    for found in search.each_by_rules(pack.rules, new_region):
        regions.append(_widen(search, found, parts))
        if len(regions) >= limit:
            break
    where = str(pack.otherwise.mark or pack.path)
    return [
        Finding(
            "gap",
            "warning",
            where,
            f"no rule places these answers, so they reach `otherwise` ({pack.otherwise.level}): "
            f"{_show(region, search.domains)}",
            {name: allowed[0] for name, allowed in region.items()},
            region=region,
        )
        for region in regions
    ]


def _is_false(rule: Rule, pack: Pack) -> Callable[[dict[str, Any], dict], bool]:
    def verdict(values: dict[str, Any], applies: dict) -> bool:
        return _holds(rule, values, applies, pack) is False

    return verdict


def _widen(search: _Search, answers: dict[str, Any], parts: list[tuple[set[str], Callable]]) -> dict[str, list[Any]]:
    """From one example, the widest box of answers around it that the verdict still holds for throughout: each
    answer in turn takes every value of its domain that keeps the verdict for all combinations so far; an answer
    whose every value does is dropped.

    The verdict is given in `parts`: (the fields a part reads, its verdict), and it holds where every part's does.
    Each part is tried over the combinations of its own fields only, which is exact because a part's verdict
    depends on no other answer, and keeps the product small: the box's size is the sum of the parts', not their
    product."""
    box: dict[str, list[Any]] = {name: [value] for name, value in answers.items()}

    def holds(candidate: dict[str, list[Any]]) -> bool:
        for reads, verdict in parts:
            names = [n for n in candidate if n in reads]
            for combo in itertools.product(*(candidate[n] for n in names)):
                values, applies = search.values(dict(zip(names, combo, strict=True)))
                if verdict(values, applies) is not True:
                    return False
        return True

    for name in reversed(list(answers)):
        dropped = {k: v for k, v in box.items() if k != name}
        if holds(dropped):
            box = dropped
            continue
        keep = [value for value in search.domains[name] if holds({**box, name: [value]})]
        box[name] = keep
    return {name: box[name] for name in answers if name in box}


def _show(region: dict[str, list[Any]], domains: dict[str, list[Any]]) -> str:
    def text(value: Any) -> str:
        return ("yes" if value else "no") if isinstance(value, bool) else str(value)

    parts = []
    for name, allowed in region.items():
        values = domains.get(name, [])
        if len(allowed) == 1:
            parts.append(f"{name}={text(allowed[0])}")
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            # Numbers: the representatives stand for ranges between the cut points.
            chosen = [v for v in values if v in allowed]
            spans, start = [], None
            for index, value in enumerate(values):
                if value in allowed:
                    start = value if start is None else start
                    last = value
                if start is not None and (value not in allowed or index == len(values) - 1):
                    spans.append(f"{start}-{last}" if start != last else f"{start}")
                    start = None
            parts.append(f"{name} in {', '.join(spans)}" if chosen else name)
        else:
            parts.append(f"{name} in {{{', '.join(text(v) for v in allowed)}}}")
    return "; ".join(parts) or "any answers"


def _unused_findings(pack: Pack) -> list[Finding]:
    used: set[str] = set()
    for tree in _trees(pack):
        used |= field_names(tree)
    findings = []
    for question in pack.asked:
        if question.id not in used:
            findings.append(
                Finding(
                    "unused-question",
                    "warning",
                    str(question.mark),
                    f"question `{question.id}` is read by no rule, alert, computed field or ask_if",
                    None,
                    question.id,
                )
            )
    placed = {r.level for r in pack.rules} | {pack.otherwise.level}
    for level in pack.levels.values():
        if level.id not in placed:
            findings.append(
                Finding(
                    "unused-level", "warning", str(level.mark), f"no rule recommends level `{level.id}`", None, level.id
                )
            )
    return findings


# ----------------------------------------------------------------------------------------------------------------
# Test coverage


@dataclass
class Coverage:
    rules: dict[str, list[str]] = field(default_factory=dict)  # rule or alert id -> the tests that exercise it

    @property
    def untested(self) -> list[str]:
        return [rule for rule, tests in self.rules.items() if not tests]


def coverage(pack: Pack, results) -> Coverage:
    """Which rules decided, and which alerts were shown, in the pack's test cases."""
    cover = Coverage({r.id: [] for r in [*pack.rules, *pack.alerts]})
    for result in results:
        decision = result.decision
        if decision.rule:
            cover.rules[decision.rule].append(result.case.name)
        for alert in decision.alerts:
            cover.rules[alert.id].append(result.case.name)
    return cover
