"""Checks for rule authors: lint (rules that never fire or are shadowed, gaps, unused questions and levels) and
test coverage. Pure: takes packs, returns findings; prints nothing.

Lint is exact: every answer set is covered by the search of `decide.space` over the fields the rules read
(choices, yes/no, numbers at the points where some test can change, totals in place of their items). Conditions are
evaluated three-valued on partial answers, so a branch is cut as soon as its outcome is certain; a finding's example
lists only the answers that decide it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from iop_cli.decide.profile import dimension_fields, dimension_questions
from iop_cli.decide.space import Point, Search, Space, answer_text, describe, profile_space, trees, widen
from iop_cli.lang.tree import field_names
from iop_cli.pack.model import Allowance, Pack, Placement, Rating, Rule
from iop_cli.problems import Mark

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    code: str  # one of pack.spec.LINT_CODES
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
# Lint


def lint(pack: Pack, gap_examples: int = 5) -> list[Finding]:
    space = Space(pack, alerts=False)  # lint's searches read the level rules only
    findings: list[Finding] = []
    findings += _rule_findings(space)
    findings += _gap_findings(space, gap_examples)
    findings += _unused_findings(pack)
    findings += _help_findings(pack)
    findings += _inexact_findings(space)
    findings += _profile_findings(pack)
    findings = [
        replace(f, severity="info", message=f"{f.message} (allowed in the pack)") if allowance(pack, f, space) else f
        for f in findings
    ]
    findings = [replace(f, example=space.as_answers(f.example)) for f in findings]  # items in place of totals
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.where))


def allowance(pack: Pack, finding: Finding, space: Space | None = None) -> Allowance | None:
    """The pack's allowance that covers this finding: same key and, for a gap with `when`, a condition that holds
    for every answer in the gap."""
    space = space or Space(pack)
    for allowed in pack.lint_allow:
        if allowed.finding != finding.key:
            continue
        if allowed.when is None or (finding.region is not None and _holds_throughout(space, allowed, finding.region)):
            return allowed
    return None


def _holds_throughout(space: Space, allowed: Allowance, region: dict[str, list[Any]]) -> bool:
    """Whether the allowance's `when` holds for every answer set in the region. Only the region's questions that
    `when` depends on are varied: the others change nothing it reads."""
    if allowed.when is None:
        return False
    reads = {q.id for q in space.depends(allowed.when.names)}
    names = [n for n in region if n in reads]
    for combo in itertools.product(*(region[n] for n in names)):
        values, _ = space.values(dict(zip(names, combo, strict=True)))
        if allowed.when.evaluate(values) is not True:
            return False
    return True


def _rule_findings(space: Space) -> list[Finding]:
    pack = space.pack
    findings = []
    known: dict[frozenset, bool] = {}  # what `_decidable` found, for the parts that recur from rule to rule
    for index, rule in enumerate(pack.rules):
        earlier = pack.rules[:index]
        if _decidable(space, [(rule, True), *((e, False) for e in earlier)], known):
            continue  # some answers reach this rule with every earlier one false: it decides there

        def holds(values, applies, rule=rule) -> bool | None:
            return space.holds(rule, values, applies)

        example = Search(space, space.reads([rule])).first(holds, [rule])
        if example is None:
            findings.append(_never(space, rule))
            continue
        shadows = _smallest_cover(space, rule, earlier, known)
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


def _decidable(space: Space, wanted: Sequence[tuple[Rule, bool]], known: dict[frozenset, bool]) -> bool:
    """Whether some answers decide each of these rules as wanted (true, or false). Rules that share no question
    (through ask_if and computed fields either) are independent, so the search is made for each group of rules
    that do, and each group's answer is kept in `known`: the parts add up instead of multiplying."""
    reads = [space.read_ids(rule) for rule, _ in wanted]
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
                results = [(space.holds(rule, values, applies), want) for rule, want in part]
                if any(result is not None and result is not want for result, want in results):
                    return False
                return True if all(result is want for result, want in results) else None

            rules = [rule for rule, _ in part]
            known[key] = Search(space, space.by_rules(rules)).first(verdict, rules) is not None
        if not known[key]:
            return False
    return True


def _smallest_cover(
    space: Space, rule: Rule, earlier: Sequence[Rule], known: dict[frozenset, bool] | None = None
) -> list[str]:
    """A smallest set of earlier rules that together hold whenever `rule` does: the ones that shadow it. Starts from
    every earlier rule and drops each one (first to last) that the others do not need."""
    known = {} if known is None else known

    def covered(rules: list[Rule]) -> bool:
        return not _decidable(space, [(rule, True), *((e, False) for e in rules)], known)

    cover = list(earlier)
    for candidate in list(earlier):
        trial = [e for e in cover if e is not candidate]
        if covered(trial):
            cover = trial
    return [e.id for e in cover]


def _never(space: Space, rule: Rule) -> Finding:
    """A rule whose condition is never true; say so, and whether a question it reads is never asked when it could."""
    pack = space.pack
    loose = Search(space, space.reads([rule]), ignore_ask_if=True).first(lambda v, a: space.holds(rule, v, a), [rule])
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


def _gap_findings(space: Space, limit: int) -> list[Finding]:
    """Distinct regions of answers that no rule places and no gap the pack allows covers, each widened to every
    value that still leaves it so and shown by the answers that decide it; then one example of each allowed gap
    that some answers reach.

    An allowed gap takes part in the search as if it were a rule that places: searching the allowed answers
    region by region would spend the whole limit (and the time) on gaps the authors intend, where a gap they do
    not intend may lie beyond it."""
    pack = space.pack
    allowed = _allowed_gaps(pack)
    if allowed is None:  # every gap is allowed: list them all as found
        allowed = []
    placing = [*pack.rules, *allowed]
    fields = space.by_rules(placing)
    search = Search(space, fields)
    regions: list[dict[str, list[Any]]] = []
    examples: list[dict[str, Any]] = []

    readers = {q.id: [r for r in placing if q.id in space.read_ids(r)] for q in fields}
    context = {name: sorted(set().union(*(space.read_ids(r) for r in found))) for name, found in readers.items()}
    placed_cache: dict[tuple, bool] = {}

    def placed(answers: dict[str, Any], name: str, value: Any) -> bool:
        """Whether answering `name` with `value` on top of these answers makes some rule hold. Only the rules that
        read `name` can change, and their verdict depends only on the answers they read: the key of the cache."""
        key = (name, value, tuple(answers.get(n) for n in context[name]))
        if key not in placed_cache:
            values, applies = search.values({**answers, name: value})
            placed_cache[key] = any(space.holds(r, values, applies) is True for r in readers[name])
        return placed_cache[key]

    def inside(region: dict[str, list[Any]], node: Point) -> bool:
        """Whether every completion of the node is inside the region or placed by a rule. An unanswered question of
        the region that is sure to be asked either takes a value inside the region, or one outside it that makes
        a rule hold (checked here on top of the node's answers: a rule that holds on partial answers holds on
        every completion). Such nodes hold no new region, so cutting them changes nothing the search finds."""
        outside = []
        for name, allowed in region.items():
            value = node.values.get(name)
            settled = value is not None or node.applies.get(name, True) is False  # answered, skipped or blank
            if settled:
                if value not in allowed:
                    return False
                continue
            if node.applies.get(name, True) is not True:
                return False  # perhaps skipped: not inside (a total, never skipped, has no entry)
            outside += [(name, v) for v in search.domains[name] if v not in allowed]
        return all(placed(node.answers, name, value) for name, value in outside)

    def new_region(node: Point) -> bool | None:
        if any(r is True for r in node.results):
            return False
        if any(inside(region, node) for region in regions):
            return False  # inside a region already reported
        return True if all(r is False for r in node.results) else None

    # One search, resumed after each region: the regions found so far prune it (a region's own example is inside
    # it), so it goes on exactly where a search started again would arrive.
    # No rule holds where each rule is false; each rule reads only its own questions (through ask_if and computed
    # fields), so a region is widened rule by rule.
    parts = [(space.read_ids(rule), _is_false(rule, space)) for rule in placing]
    for found in search.each_by_rules(placing, new_region, shortcuts=True):
        regions.append(widen(search.domains, found, parts))
        examples.append(found)
        if len(regions) >= limit:
            break
    findings = [gap_finding(space, region, example) for region, example in zip(regions, examples, strict=True)]
    return findings + [f for a in allowed if (f := _allowed_gap_finding(space, a)) is not None]


def _allowed_gaps(pack: Pack) -> list[Placement] | None:
    """The pack's allowed gaps as rules of the gap search (None when one allowance covers every gap)."""
    found = []
    for index, allowed in enumerate(a for a in pack.lint_allow if a.finding == "gap"):
        if allowed.when is None:
            return None
        found.append(
            Placement(
                f"allowed gap {index + 1}",
                allowed.when,
                allowed.because,
                pack.otherwise.mark or Mark(str(pack.path), 1, 1),
                level=pack.otherwise.level,
            )
        )
    return found


def _allowed_gap_finding(space: Space, allowed: Placement) -> Finding | None:
    """One region of an allowed gap, with its example: answers that no rule places, inside the allowance."""
    rules = [*space.pack.rules, allowed]

    def verdict(values, applies) -> bool | None:
        results = [space.holds(r, values, applies) for r in rules]
        if any(r is True for r in results[:-1]) or results[-1] is False:
            return False
        return True if all(r is False for r in results[:-1]) and results[-1] is True else None

    search = Search(space, space.by_rules(rules))
    example = search.first(verdict, rules)
    if example is None:
        return None

    def inside(answers: dict[str, Any]) -> bool:
        return space.holds(allowed, *space.values(answers)) is True

    parts = [(space.read_ids(rule), _is_false(rule, space)) for rule in space.pack.rules]
    region = widen(search.domains, example, [*parts, (space.read_ids(allowed), inside)])
    return gap_finding(space, region, example)  # inside the allowance throughout: `lint` lists it as allowed


def gap_finding(space: Space, region: dict[str, list[Any]], example: dict[str, Any]) -> Finding:
    """A gap: a region of answers that reach `otherwise`, shown with the answers the search found there (outside
    every earlier region)."""
    pack = space.pack
    return Finding(
        "gap",
        "warning",
        str(pack.otherwise.mark or pack.path),
        f"no rule places these answers, so they reach `otherwise` ({pack.otherwise.level}): "
        f"{describe(region, space.domains, space.points)}",
        {name: example[name] for name in region},
        region=region,
    )


def _is_false(rule: Rule, space: Space) -> Callable[[dict[str, Any]], bool]:
    def verdict(answers: dict[str, Any]) -> bool:
        return space.holds(rule, *space.values(answers)) is False

    return verdict


def _inexact_findings(space: Space) -> list[Finding]:
    return [
        Finding(
            "inexact",
            "warning",
            str(space.pack.questions[name].mark),
            f"lint is not exact for tests that read `{name}` together with another field: {why}, so lint tries it "
            f"only at the numbers its own tests name, and a finding about those tests may be wrong (give `{name}` "
            "a whole-number range with min and max to make lint exact)",
            None,
            name,
        )
        for name, why in space.inexact.items()
    ]


def _profile_findings(pack: Pack) -> list[Finding]:
    """For each profile dimension: answers (every one a real answer, none left blank) to which none of its ratings
    applies, and ratings that no answers give (a higher rating always holds with it, or it never holds). Exact, by
    the profile's own search (`decide.profile`)."""
    found: list[Finding] = []
    space = profile_space(pack)
    for dimension in pack.profile:
        fields, questions = dimension_fields(pack, dimension), dimension_questions(pack, dimension)
        cells = dimension.ratings

        def rated(wanted: Rating | None, higher: Sequence[Rating]) -> Callable[[dict, dict], bool | None]:
            """A verdict: `wanted` holds (None: no rating holds) and none of `higher` does."""

            def verdict(values: dict, applies: dict) -> bool | None:
                above = [space.holds(c, values, applies) for c in higher]
                own = True if wanted is None else space.holds(wanted, values, applies)
                if own is False or any(r is True for r in above):
                    return False
                return True if own is True and all(r is False for r in above) else None

            return verdict

        search = Search(space, fields, blanks=False, questions=questions)
        gap = search.first(rated(None, cells), cells)
        if gap is not None:
            shown = "; ".join(f"{k}={answer_text(v)}" for k, v in gap.items() if k in {q.id for q in fields})
            message = f"no rating of dimension `{dimension.id}` ({dimension.name}) applies to these answers: {shown}"
            found.append(Finding("profile-gap", "warning", str(dimension.mark), message, gap, dimension.id))
        for cell in cells:
            higher = [c for c in cells if c.rating > cell.rating]
            if search.first(rated(cell, higher), [cell, *higher]) is None:
                message = f"rating {cell.rating} of dimension `{dimension.id}` is never given: "
                message += "a higher rating always holds with it" if higher else "its condition never holds"
                found.append(Finding("profile-never", "warning", str(cell.mark), message, None, dimension.id))
    return found


def _help_findings(pack: Pack) -> list[Finding]:
    """Asked questions without help. An instrument's scored item needs none: its anchors are its choices, and the
    interview's `?` explains how an item adds to its total."""
    return [
        Finding(
            "no-help",
            "warning",
            str(question.mark),
            f"question `{question.id}` has no help: `?` in the interview would have nothing to say about it",
            None,
            question.id,
        )
        for question in pack.asked
        if not question.help and not question.scores and not question.computed
    ]


def _unused_findings(pack: Pack) -> list[Finding]:
    used: set[str] = set()
    for tree in trees(pack, allowances=False):
        used |= field_names(tree)
    for question in pack.asked:  # an instrument's items are read by its total's derivation
        used |= set(question.derive.names if question.derive else ())
    findings = []
    for question in pack.asked:
        if question.id not in used:
            findings.append(
                Finding(
                    "unused-question",
                    "warning",
                    str(question.mark),
                    f"question `{question.id}` is read by no rule, alert, profile rating, computed or derived field, or ask_if",
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


def test_answers(pack: Pack, rule_id: str, space: Space | None = None) -> dict[str, Any] | None:
    """Complete answers that exercise a rule or alert, for a new test case: a level rule decides there (it holds,
    every earlier rule fails), an alert is shown, a profile rating is given. None when no answers do (lint says
    why)."""
    space = space or Space(pack)
    rules = pack.rules
    index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
    alert = next((a for a in pack.alerts if a.id == rule_id), None)
    dimension = next((d for d in pack.profile if any(c.id == rule_id for c in d.ratings)), None)
    wanted: list[tuple[Rule, bool]]
    if dimension is not None:  # a profile rating: it holds, and no higher rating of its dimension does
        cell = next(c for c in dimension.ratings if c.id == rule_id)
        wanted = [(cell, True), *((c, False) for c in dimension.ratings if c.rating > cell.rating)]
    elif index is not None:
        wanted = [(rules[index], True), *((e, False) for e in rules[:index])]
    elif alert is not None and "level" not in alert.when.names:
        wanted = [(alert, True)]
    elif alert is not None:
        return _alert_on_level(space, alert)
    else:
        return None

    def verdict(values, applies) -> bool | None:
        results = [(space.holds(rule, values, applies), want) for rule, want in wanted]
        if any(result is not None and result is not want for result, want in results):
            return False
        return True if all(result is want for result, want in results) else None

    chosen = [rule for rule, _ in wanted]
    return _test_case(space, Search(space, space.reads(chosen)).first(verdict, chosen))


def _alert_on_level(space: Space, alert: Rule) -> dict[str, Any] | None:
    """Answers under which an alert that reads `level` (the level placed) is shown."""
    rules = space.pack.rules

    def verdict(values, applies) -> bool | None:
        standing = space.standing([space.holds(r, values, applies) for r in rules])
        level = {"level": standing.possible[0]} if standing.decided else {}
        result = alert.when.evaluate({**values, **level})
        return None if result is None else result

    chosen = [alert, *rules]
    return _test_case(space, Search(space, space.reads(chosen)).first(verdict, chosen))


def _test_case(space: Space, found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The answers of a test case from what the search found: the required answers, with none left blank."""
    if found is None:
        return None
    return {k: v for k, v in space.complete(found, required_only=True).items() if v is not None}


def coverage(pack: Pack, results) -> Coverage:
    """Which rules decided, which alerts were shown, and which profile ratings were given, in the pack's test
    cases."""
    cells = [c for d in pack.profile for c in d.ratings]
    cover = Coverage({r.id: [] for r in [*pack.rules, *pack.alerts, *cells]})
    for result in results:
        decision = result.decision
        if decision.rule:
            cover.rules[decision.rule].append(result.case.name)
        for alert in decision.alerts:
            cover.rules[alert.id].append(result.case.name)
        for rated in decision.profile:  # a profile cell is exercised where it gives its dimension's rating
            if rated.rating is not None:
                cover.rules[f"{rated.id}:{rated.rating}"].append(result.case.name)
    return cover
