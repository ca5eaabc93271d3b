"""The lint's faster searches against the exhaustive reference, on random small packs and on growing ones.

The reference is the search as it was first written. It makes one search over all the rules in question (no
independent groups) and branches on every value of every question. Its gap search starts again from the first answer
after each region, and widens a region by trying every combination of all its answers at once. The lint now searches
independent groups of rules apart and remembers them, tries one value where no undecided rule can tell the values
apart, resumes one gap search, cuts a gap-search branch as soon as each of its completions is inside a reported
region or placed by a rule, and widens rule by rule (`iop_cli/authoring/lint.py`). Both must give the same
findings, examples and allowances, in the same order."""

from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path

import pytest
import yaml

from iop_cli.authoring import lint as lint_module
from iop_cli.decide import space as search_module
from iop_cli.pack.build import load_pack

from .conftest import ROOT


def reference_find(search, verdict):
    """The first partial answer set under which `verdict` holds throughout, branching on every value of every
    question that applies, in order: the exhaustive search."""

    def walk(index, answers):
        values, applies = search.values(answers)
        result = verdict(values, applies)
        if result is False:
            return None
        if result is True:
            return dict(answers)
        if index == len(search.fields):
            return None
        question = search.fields[index]
        if search.space.not_chosen(question, values, applies):  # skipped, or derived from earlier answers
            return walk(index + 1, answers)
        for value in search.domains[question.id]:
            answers[question.id] = value
            found = walk(index + 1, answers)
            del answers[question.id]
            if found is not None:
                return found
        return None

    return walk(0, {})


def reference_gap_findings(space, limit):
    """The gap search as first written (restarted after each region, widened over whole boxes). Allowed gaps
    place as rules do, and the fields come in the lint's order (the first rule that reads each first): what the
    lint reports, and in what order, not how fast it finds it."""
    pack = space.pack
    allowed = lint_module._allowed_gaps(pack) or []
    placing = [*pack.rules, *allowed]
    search = search_module.Search(space, space.by_rules(placing))
    regions: list[dict] = []
    examples: list[dict] = []

    def no_rule(values, applies):
        results = [space.holds(r, values, applies) for r in placing]
        if any(r is True for r in results):
            return False
        if all(r is False for r in results):
            return True
        return None

    def settled(name, values, applies):
        return values.get(name) is not None or applies.get(name, True) is False  # answered, skipped or blank

    def new_region(values, applies):
        if any(
            all(settled(k, values, applies) and values.get(k) in allowed for k, allowed in region.items())
            for region in regions
        ):
            return False
        return no_rule(values, applies)

    def holds(candidate):
        names = list(candidate)
        for combo in itertools.product(*(candidate[n] for n in names)):
            values, applies = search.values(dict(zip(names, combo, strict=True)))
            if no_rule(values, applies) is not True:
                return False
        return True

    def widen(answers):
        box = {name: [value] for name, value in answers.items()}
        for name in reversed(list(answers)):
            dropped = {k: v for k, v in box.items() if k != name}
            if holds(dropped):
                box = dropped
                continue
            box[name] = [value for value in search.domains[name] if holds({**box, name: [value]})]
        return {name: box[name] for name in answers if name in box}

    while len(regions) < limit:
        found = reference_find(search, new_region)
        if found is None:
            break
        regions.append(widen(found))
        examples.append(found)
    found = [lint_module.gap_finding(space, region, example) for region, example in zip(regions, examples, strict=True)]
    return found + [f for a in allowed if (f := lint_module._allowed_gap_finding(space, a)) is not None]


def reference_first(self, verdict, rules):
    return reference_find(self, verdict)


def reference_decidable(space, wanted, known):
    """One search over every rule at once, branching on every value: no groups, nothing remembered."""
    rules = [rule for rule, _ in wanted]

    def verdict(values, applies):
        results = [(space.holds(rule, values, applies), want) for rule, want in wanted]
        if any(result is not None and result is not want for result, want in results):
            return False
        return True if all(result is want for result, want in results) else None

    return reference_find(search_module.Search(space, space.reads(rules)), verdict) is not None


def reference_holds_throughout(space, allowed, region):
    """Every combination of every answer in the region."""
    names = list(region)
    for combo in itertools.product(*(region[n] for n in names)):
        values, _ = space.values(dict(zip(names, combo, strict=True)))
        if allowed.when is None or allowed.when.evaluate(values) is not True:
            return False
    return True


def both(pack, monkeypatch):
    fast = lint_module.lint(pack)
    with monkeypatch.context() as patched:
        patched.setattr(lint_module, "_gap_findings", reference_gap_findings)
        patched.setattr(search_module.Search, "first", reference_first)
        patched.setattr(lint_module, "_decidable", reference_decidable)
        patched.setattr(lint_module, "_holds_throughout", reference_holds_throughout)
        reference = lint_module.lint(pack)
    return fast, reference


def write_random_pack(rng: random.Random, folder: Path, questions: list, atoms: list[str]) -> Path:
    """A pack of two to six rules, each one to three of the atoms joined by `and` or `or`, over these questions."""
    rules = []
    for i in range(rng.randint(2, 6)):
        parts = rng.sample(atoms, rng.randint(1, 3))
        joined = f" {rng.choice(['and', 'or'])} ".join(f"({p})" for p in parts)
        rules.append({"id": f"r{i}", "when": joined, "level": rng.choice(["low", "mid", "high"]), "because": "x"})
    pack = {
        "pack": {"name": "random", "version": "1"},
        "questions": questions,
        "levels": [{"id": lv, "name": lv, "rank": r} for lv, r in (("high", 30), ("mid", 20), ("low", 10))]
        + [{"id": "review", "name": "Review", "rank": 0}],
        "rules": rules,
        "otherwise": {"level": "review", "because": "No rule fits."},
    }
    folder.mkdir()
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    return folder


def random_pack(rng: random.Random, folder: Path) -> Path:
    questions = [
        {"id": "kind", "type": "choice", "label": "Kind", "choices": ["a", "b", "c"]},
        {"id": "flag", "type": "yesno", "label": "Flag"},
        {"id": "score", "type": "integer", "label": "Score", "min": 0, "max": 10},
        {"id": "extra", "type": "yesno", "label": "Extra", "ask_if": "kind != 'c'"},
    ]
    if rng.random() < 0.5:
        questions.append(
            {
                "id": "total",
                "type": "integer",
                "label": "Total",
                "min": 0,
                "max": 11,
                "compute": [{"when": "flag", "value": 1}, {"otherwise": 0}],
            }
        )
    atoms = [
        "kind == 'a'",
        "kind in ['b', 'c']",
        "flag",
        "not flag",
        "extra",
        f"score >= {rng.randint(1, 9)}",
        f"score < {rng.randint(1, 9)}",
        "extra is missing",
    ]
    if any(q["id"] == "total" for q in questions):
        atoms.append(f"total + score > {rng.randint(2, 10)}")
    return write_random_pack(rng, folder, questions, atoms)


def as_rows(findings):
    return [(f.code, f.severity, f.where, f.message, f.example) for f in findings]


def test_the_fast_search_finds_what_the_reference_finds_on_random_packs(tmp_path, monkeypatch):
    rng = random.Random(20261203)
    gaps = 0
    kinds: set[str] = set()
    for number in range(60):
        pack = load_pack(random_pack(rng, tmp_path / f"p{number}"))
        fast, reference = both(pack, monkeypatch)
        assert as_rows(fast) == as_rows(reference), pack.rules
        kinds.update(f.code for f in fast)
        gaps += sum(f.code == "gap" for f in fast)
    assert gaps >= 20  # the random packs do leave gaps
    assert {"gap", "shadowed", "never-fires", "unused-level"} <= kinds, kinds  # and every kind of rule finding


# The others, and version 2 of the default pack: benchmarks/lint_reference.py (minutes each).
@pytest.mark.parametrize("name", ["default", "sum-9"])
def test_the_fast_search_finds_what_the_reference_finds_on_growing_packs(tmp_path, monkeypatch, name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from lint_packs import PACKS

    pack = load_pack(PACKS[name][1](tmp_path / name))
    fast, reference = both(pack, monkeypatch)
    assert as_rows(fast) == as_rows(reference)
