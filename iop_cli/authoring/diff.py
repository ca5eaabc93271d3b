"""`iop rules diff`: what changed between two packs, and how placements move on real intakes before it ships."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from iop_cli.pack.model import Alert, Computed, Pack, Placement, Question, Rule


def _question_facts(question: Question) -> dict[str, str]:
    return {
        "type": question.type,
        "label": question.label,
        "choices": ", ".join(question.choice_values),
        "range": f"{question.min}-{question.max}" if question.type in ("integer", "number") else "",
        "required": "yes" if question.required else "no",
        "ask_if": question.ask_if.source if question.ask_if else "",
        "compute": _compute_text(question),
    }


def _compute_text(question: Question) -> str:
    if not isinstance(question, Computed):
        return ""
    compute = question.compute
    if compute.expression is not None:
        return compute.expression.source
    return "; ".join(f"{c.source} -> {v}" for c, v in compute.cases) + f"; otherwise {compute.otherwise}"


def _rule_facts(rule: Rule, position: int) -> dict[str, str]:
    return {
        "when": " ".join(rule.when.source.split()),
        "level": rule.level if isinstance(rule, Placement) else "",
        "alert": rule.alert if isinstance(rule, Alert) else "",
        "severity": rule.severity if isinstance(rule, Alert) else "",
        "because": rule.because,
        "position": str(position),
    }


def _compare(kind: str, old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    lines = []
    for ident in old.keys() - new.keys():
        lines.append(f"{kind} removed: {ident}")
    for ident in new.keys() - old.keys():
        lines.append(f"{kind} added: {ident}")
    for ident in old.keys() & new.keys():
        for key, before in old[ident].items():
            after = new[ident][key]
            if before != after:
                lines.append(f"{kind} {ident}: {key} {before!r} -> {after!r}")
    return sorted(lines)


def changes(old: Pack, new: Pack) -> list[str]:
    """One line per change to questions, levels, placement rules, alerts and profile ratings."""
    lines = _compare(
        "question",
        {q.id: _question_facts(q) for q in old.questions.values()},
        {q.id: _question_facts(q) for q in new.questions.values()},
    )

    def levels(pack: Pack) -> dict[str, dict[str, str]]:
        return {lv.id: {"name": lv.name, "rank": str(lv.rank), "urgent": str(lv.urgent)} for lv in pack.levels.values()}

    lines += _compare("level", levels(old), levels(new))

    def rules(pack: Pack) -> dict[str, dict[str, str]]:
        placed = {r.id: _rule_facts(r, i + 1) for i, r in enumerate(pack.rules)}
        return {**placed, **{a.id: _rule_facts(a, 0) for a in pack.alerts}}

    lines += _compare("rule", rules(old), rules(new))

    def ratings(pack: Pack) -> dict[str, dict[str, str]]:
        """Each profile rating, as `DIMENSION:RATING`, with its dimension's name."""
        return {
            c.id: {"dimension": d.name, "when": " ".join(c.when.source.split()), "because": c.because}
            for d in pack.profile
            for c in d.ratings
        }

    lines += _compare("profile rating", ratings(old), ratings(new))
    if (old.otherwise.level, old.otherwise.because) != (new.otherwise.level, new.otherwise.because):
        lines.append(f"otherwise: {old.otherwise.level!r} -> {new.otherwise.level!r}")
    return lines


@dataclass(frozen=True)
class Placements:
    """The intakes scored with both packs: each (old level, new level) pair's rows, in the packs' order of levels."""

    input: str
    rows: int
    unchanged: int
    moved: list[tuple[tuple[str, str], int, list[int]]]  # changed pairs, most rows first, with example data rows
    pairs: list[tuple[tuple[str, str], int]]  # every pair, changed or not: the matrix
    levels: list[str]  # both packs' levels, most intensive first, then `error`: the matrix's order


def placements(
    old: Pack,
    new: Pack,
    intakes: str,
    map_path: str | None,
    examples: int = 3,
    input_format: str | None = None,
    sheet: str | None = None,
) -> Placements:
    """Score the intakes with both packs in one pass and count each (old level -> new level), with example data rows
    for every changed pair; levels in the order of the packs (most intensive first), `error` last."""
    from iop_cli.batch.compare import ERROR, compare_file
    from iop_cli.batch.mapping import load_mapping

    packs = [(pack, load_mapping(map_path, pack) if map_path else None) for pack in (old, new)]
    from iop_cli.batch.tables import input_format as format_of

    moves = compare_file(intakes, packs[0], packs[1], examples, format_of(intakes, input_format), sheet)
    moved = sorted(
        ((pair, rows) for pair, rows in moves.pairs.items() if pair[0] != pair[1]), key=lambda item: -item[1]
    )
    levels = [*dict.fromkeys([*old.levels, *new.levels]), ERROR]
    order = {level: i for i, level in enumerate(levels)}
    pairs = sorted(moves.pairs.items(), key=lambda item: (order[item[0][0]], order[item[0][1]]))
    return Placements(
        "<stdin>" if intakes == "-" else intakes,
        moves.rows,
        moves.rows - sum(rows for _, rows in moved),
        [(pair, rows, list(moves.examples[pair])) for pair, rows in moved],
        pairs,
        levels,
    )


def placement_matrix(found: Placements) -> str:
    """The placements as text: the changes, then the matrix (rows: old level, columns: new level)."""
    lines = [f"Placements on {found.input} ({found.rows} rows): {found.unchanged} unchanged"]
    if not found.moved:
        lines.append("  no placement changes")
    for (old_level, new_level), rows, examples in found.moved:
        shown = ", ".join(str(r) for r in examples)
        lines.append(f"  {old_level} -> {new_level}: {rows} {'row' if rows == 1 else 'rows'} (data rows {shown})")
    seen_old = [level for level in found.levels if any(pair[0] == level for pair, _ in found.pairs)]
    seen_new = [level for level in found.levels if any(pair[1] == level for pair, _ in found.pairs)]
    counts = dict(found.pairs)
    lines.append("Matrix (rows: old level, columns: new level):")
    lines.append("  " + " | ".join(["old \\ new", *seen_new]))
    for level in seen_old:
        lines.append("  " + " | ".join([level, *(str(counts.get((level, after), 0)) for after in seen_new)]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Impact by region: which answers change level between two packs, over the whole answer space, without intakes


@dataclass(frozen=True)
class Moved:
    """A box of answers that one rule (or `otherwise`) of each pack places, at different levels."""

    old_level: str
    new_level: str
    old_rule: str | None  # None: `otherwise`
    new_rule: str | None
    region: dict[str, list[Any]]
    text: str  # the region in words


@dataclass(frozen=True)
class Impact:
    moved: list[Moved]
    complete: bool  # every region was found (the search ran out before the limit)
    unlike: list[str]  # questions the packs type differently: the regions cannot compare them
    domains: dict[str, list[Any]]  # each field's representatives in both packs: what a region's values stand for
    unshared: list[str]  # answers only one pack accepts, in words: the regions leave them out


def impact(old: Pack, new: Pack, limit: int = 10) -> Impact:
    """Every answer set that both packs accept and place at different levels, as boxes of answers, each placed by
    one rule (or `otherwise`) of each pack, found in search order and widened as the lint widens a gap. The search
    runs over both packs' representative answers joined (`_joint_domain`); answers only one pack accepts are not
    compared, and are listed in `unshared`. Exact where the lint is (see `Space.inexact`)."""
    from iop_cli.decide.space import Space, describe, widen

    unlike = sorted(
        q.id for q in new.questions.values() if q.id in old.questions and _kind(old.questions[q.id]) != _kind(q)
    )
    if unlike:
        return Impact([], False, unlike, {}, [])
    # A total is searched as one field only where both packs add up the same items, over the same ranges.
    first, second = Space(old), Space(new)

    def items(space, total: str) -> list | None:
        found = space.totals.get(total)
        questions = space.pack.questions
        return None if found is None else [(i, sign, questions[i].min, questions[i].max) for i, sign in found]

    differ = {t for t in first.totals.keys() | second.totals.keys() if items(first, t) != items(second, t)}
    spaces = (Space(old, keep_items=differ), Space(new, keep_items=differ)) if differ else (first, second)
    fields = _joint_fields(spaces)
    joint = {name: _joint_domain(spaces, name) for name in fields}
    domains = {name: values for name, (values, _) in joint.items()}
    points = {name: exact for name, (_, exact) in joint.items() if exact is not None}
    unshared = [line for name in fields for line in _unshared(spaces, name)]
    accepts = _accepts(spaces, domains)
    regions: list[dict[str, list[Any]]] = []
    checks: list[list[tuple[str, frozenset]]] = []
    moved: list[Moved] = []

    # Below an answer, only the rules that read it are evaluated again (as in the lint's search).
    readers = [{f: [i for i, r in enumerate(sp.pack.rules) if f in sp.read_ids(r)] for f in fields} for sp in spaces]

    def evaluate(answers: dict[str, Any], above: list[list], changed: list[list[int]]):
        results, standing, applies = [], [], []
        for space, previous, redo in zip(spaces, above, changed, strict=True):
            values, applied = space.values(answers)
            verdicts = list(previous)
            for i in redo:
                verdicts[i] = space.holds(space.pack.rules[i], values, applied)
            results.append(verdicts)
            standing.append(space.standing(verdicts))
            applies.append(applied)
        return results, standing, applies

    same = _same_fields(old, new)

    def rest(space, results) -> tuple | None:
        """The rules that may still place, as written (condition and level), up to the first that holds; None when
        one reads a field the packs define differently."""
        left = []
        for rule, result in zip(space.pack.rules, results, strict=True):
            if result is False:
                continue
            if not set(rule.when.names) <= same:
                return None
            left.append((" ".join(rule.when.source.split()), rule.level))
            if result is True:
                return tuple(left)
        return (*left, space.pack.otherwise.level)

    def walk(index: int, answers: dict[str, Any], above: list[list], changed: list[list[int]]) -> Iterator[dict]:
        if any(all(k in answers and answers[k] in allowed for k, allowed in region) for region in checks):
            return  # inside a region already reported
        if any(verdict(answers) is False for _, verdict in accepts):
            return  # a question one pack requires is left blank: not an answer set both accept
        results, (before, after), applies = evaluate(answers, above, changed)
        if before.decided and after.decided:
            if before.possible == after.possible:
                return
            # Moved, if the answers are ones both packs accept: where that waits on answers not chosen yet (the
            # C-SSRS items beside the `suicide_risk` they must agree with), they are chosen first.
            if index == len(fields) or all(verdict(answers) is True for _, verdict in accepts):
                yield dict(answers)
                return
        else:
            if len(set(before.possible) | set(after.possible)) == 1:
                return  # the same level in both, whatever the rest
            mine = rest(spaces[0], results[0])
            if mine is not None and mine == rest(spaces[1], results[1]):
                return  # the rules still open are the same in both, over fields defined alike: they place alike
            if index == len(fields):
                return
        name = fields[index]
        if all(applied.get(name, True) is False for applied in applies):
            answers[name] = None  # skipped in both: settled, as a blank answer is
            yield from walk(index + 1, answers, results, [[], []])
            del answers[name]
            return
        below = [found.get(name, []) for found in readers]
        for value in domains[name]:
            answers[name] = value
            yield from walk(index + 1, answers, results, below)
            del answers[name]

    everything = [list(range(len(space.pack.rules))) for space in spaces]
    for found in walk(0, {}, [[None] * len(rules) for rules in everything], everything):
        _, (before, after), _ = evaluate(found, [[None] * len(rules) for rules in everything], everything)
        parts = [*_deciding(spaces[0], before.rule), *_deciding(spaces[1], after.rule), *accepts]
        region = widen(domains, found, parts)
        regions.append(region)
        # Checked at every node: the field the search answers last first, as it is the likeliest still open.
        order = sorted(region, key=fields.index, reverse=True)
        checks.append([(k, frozenset(region[k])) for k in order])
        moved.append(
            Moved(
                before.possible[0],
                after.possible[0],
                before.rule,
                after.rule,
                region,
                describe(region, domains, points),
            )
        )
        if len(moved) >= limit:
            return Impact(moved, False, [], domains, unshared)
    return Impact(moved, True, [], domains, unshared)


def _same_fields(old: Pack, new: Pack) -> set[str]:
    """The fields both packs define alike (type, choices, range, ask_if, computation), with everything they read."""
    alike = {
        q.id
        for q in new.questions.values()
        if q.id in old.questions and _question_facts(q) == _question_facts(old.questions[q.id])
    }
    changed = True
    while changed:  # a field that reads one defined differently is not alike either
        changed = False
        for name in list(alike):
            question = new.questions[name]
            reads = set(question.ask_if.names if question.ask_if else ())
            if isinstance(question, Computed):
                reads |= set(question.compute.names)
            if not reads <= alike:
                alike.discard(name)
                changed = True
    return alike


def _kind(question: Question) -> str:
    return "number" if question.type in ("integer", "number") else question.type


def _joint_fields(spaces) -> list[str]:
    """The fields either pack's rules read: the new pack's in its order, then the old pack's others."""
    old, new = spaces
    names = [q.id for q in new.reads(new.pack.rules)]
    return names + [q.id for q in old.reads(old.pack.rules) if q.id not in names]


def _joint_domain(spaces, name: str) -> tuple[list[Any], set | None]:
    """A field's representatives in both packs at once, within the answers both accept: each pack's cut points
    joined (for decimals, the exact points joined, with a value between each two), whole numbers only where a pack
    takes only those, and blank where either pack lets the question be blank (a pack that requires it then refuses
    it, `_accepts`). Also the exact points, for decimals."""
    domains = [space.domains[name] for space in spaces if name in space.domains]
    if len(domains) == 1:
        exact = next((space.points.get(name) for space in spaces if name in space.domains), None)
        return domains[0], exact
    old, new = ([v for v in d if v is not None] for d in domains)
    blank = [None] if any(None in d for d in domains) else []
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*old, *new]):
        return [v for v in new if v in old] + blank, None  # choices (and yes/no) both offer, in the new order
    # Numbers: every cut of either pack, within the range both accept (each domain's ends are its range).
    low, high = max(old[0], new[0]), min(old[-1], new[-1])
    kinds = {space.pack.questions[name].type for space in spaces if name in space.pack.questions}
    if "integer" in kinds or name in spaces[0].totals:
        # Whole numbers only: a decimal cut stands for the whole numbers on either side of it.
        whole = {f(v) for v in [*old, *new] for f in (math.floor, math.ceil)} | {math.ceil(low), math.floor(high)}
        return sorted(v for v in whole if low <= v <= high) + blank, None
    exact = {v for space in spaces for v in space.points.get(name, ()) if low <= v <= high} | {low, high}
    ordered = sorted(exact)
    values = sorted({*ordered, *((x + y) / 2 for x, y in itertools.pairwise(ordered))})
    return [int(v) if float(v).is_integer() else v for v in values] + blank, exact


def _unshared(spaces, name: str) -> list[str]:
    """The answers to a question that one pack accepts and the other does not, in words."""
    questions = [space.pack.questions.get(name) for space in spaces]
    if any(q is None or isinstance(q, Computed) for q in questions):
        return []
    old, new = questions
    lines = []
    for this, that, which in ((old, new, "OLD"), (new, old, "NEW")):
        assert this is not None and that is not None
        if this.type == "choice":
            only = [c for c in this.choice_values if c not in that.choice_values]
            if only:
                lines.append(f"{name} = {', '.join(only)} (only {which} offers it)")
        elif this.type in ("integer", "number"):
            below = that.min is not None and (this.min is None or this.min < that.min)
            above = that.max is not None and (this.max is None or this.max > that.max)
            wider = [text for text, outside in (("below", below), ("above", above)) if outside]
            if wider:
                lines.append(f"{name} {' and '.join(wider)} the range of the other pack (only {which} accepts it)")
            if this.type == "number" and that.type == "integer":
                lines.append(f"{name} as a decimal (only {which} accepts it)")
        if not this.required and that.required:
            lines.append(f"{name} left blank (only {which} lets it be)")
    return lines


def _accepts(spaces, domains: dict[str, list[Any]]) -> list[tuple[frozenset[str], Any]]:
    """For each question that may be left blank in the search but that a pack requires: the verdict that the
    answers do not leave it blank where that pack asks it, over the fields it depends on (as widening needs). The
    search cuts where one is False; a region keeps only answers for which each is True."""
    parts = []
    for space in spaces:
        for name, values in domains.items():
            question = space.pack.questions.get(name)
            if None not in values or question is None or isinstance(question, Computed) or not question.required:
                continue
            reads = frozenset(q.id for q in space.depends([name]))

            def verdict(answers, space=space, question=question) -> bool | None:
                """True when the pack accepts the answers, False when it refuses them, None while unknown."""
                if question.id not in answers:
                    return None  # may yet be left blank
                if answers[question.id] is not None:
                    return True
                if question.ask_if is None:
                    return False
                asked = question.ask_if.evaluate(space.values(answers)[0])
                return None if asked is None else not asked

            parts.append((reads, verdict))
    return parts + _agreeing(spaces, domains)


def _agreeing(spaces, domains: dict[str, list[Any]]) -> list[tuple[frozenset[str], Any]]:
    """For each derived answer searched beside what it is derived from (the alerts read the C-SSRS items, the rules
    `suicide_risk`): the verdict that the two agree, as every command requires (a given answer that its items
    derive otherwise is an error), over the fields the derivation reads."""
    from iop_cli.decide.space import questions_read
    from iop_cli.decide.values import applicable

    parts = []
    for space in spaces:
        for question in space.pack.asked:
            derive = question.derive
            if derive is None or question.id not in domains or not any(n in domains for n in derive.names):
                continue
            # Over the fields searched: an item no condition reads is never answered in an answer set here.
            reads = frozenset({question.id, *(q.id for q in space.depends(list(derive.names)))}) & domains.keys()
            needed = questions_read(space.pack, [question.id])

            def verdict(answers, space=space, question=question, reads=reads, needed=needed) -> bool | None:
                found: list[str] = []
                given = {k: v for k, v in answers.items() if v is not None}
                applicable(
                    space.pack, given, given=space.totals, disagree=found, unanswered_is_empty=False, questions=needed
                )
                if question.id in found:
                    return False
                return True if reads <= answers.keys() else None

            parts.append((reads, verdict))
    return parts


def _deciding(space, rule_id: str | None) -> list[tuple[frozenset[str], Any]]:
    """The verdicts that make this rule (None: `otherwise`) the one that places: it holds and every rule before it
    fails, each over the fields it reads."""
    parts = []
    for rule in space.pack.rules:
        wanted = rule.id == rule_id

        def verdict(answers, rule=rule, wanted=wanted) -> bool:
            return space.holds(rule, *space.values(answers)) is wanted

        parts.append((space.read_ids(rule), verdict))
        if wanted:
            break
    return parts


def impact_lines(found: Impact) -> list[str]:
    if found.unlike:
        return [
            "Impact by region: not computed; these questions have another type in each pack: " + ", ".join(found.unlike)
        ]
    lines = ["Impact by region (every answer set both packs accept; no intakes needed):"]
    if found.unshared:
        lines.append("  not compared, since only one pack accepts them: " + "; ".join(found.unshared))
    for m in found.moved:
        old_rule = m.old_rule or "otherwise"
        new_rule = m.new_rule or "otherwise"
        lines.append(f"  {m.old_level} -> {m.new_level} ({old_rule} -> {new_rule}): {m.text}")
    if not found.moved:
        lines.append("  no answer set changes level")
    elif not found.complete:
        lines.append(f"  (the first {len(found.moved)} regions; there may be more: --regions N shows more)")
    return lines
