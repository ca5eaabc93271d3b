"""Running a pack's own test cases against the engine. Pure: returns results, prints nothing."""

from __future__ import annotations

from dataclasses import dataclass

from iop_cli.decide.engine import Decision, decide
from iop_cli.pack.answers import clean_answers
from iop_cli.pack.model import Pack, TestCase


@dataclass(frozen=True)
class CaseResult:
    case: TestCase
    decision: Decision
    failures: tuple[str, ...]  # one line per expectation that did not hold

    @property
    def passed(self) -> bool:
        return not self.failures


def got_for(decision: Decision) -> dict:
    """The parts of a decision a test can expect, in the test's own vocabulary."""
    return {
        "level": decision.level.id,
        "rule": decision.rule,
        "alerts": sorted(a.id for a in decision.alerts),
        "missing": sorted(decision.missing),
    }


def compare(expect: dict, got: dict) -> tuple[str, ...]:
    failures = []
    for key in ("level", "rule"):
        if key in expect and expect[key] != got[key]:
            failures.append(f"{key}: expected {expect[key]}, got {got[key]}")
    for key in ("alerts", "missing"):
        if key in expect and sorted(expect[key] or []) != got[key]:
            failures.append(f"{key}: expected {sorted(expect[key] or [])}, got {got[key]}")
    return tuple(failures)


def run_case(pack: Pack, case: TestCase) -> CaseResult:
    decision = decide(pack, clean_answers(pack, case.given))
    return CaseResult(case, decision, compare(case.expect, got_for(decision)))


def run_all(pack: Pack) -> list[CaseResult]:
    return [run_case(pack, case) for case in pack.tests]
