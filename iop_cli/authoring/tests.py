"""Running a pack's own test cases against the engine. Pure: returns results, prints nothing."""

from __future__ import annotations

from dataclasses import dataclass

from iop_cli.decide.engine import Decision, checked, decide
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
        "status": decision.status,
        "alerts": sorted(a.id for a in decision.alerts),
        "missing": sorted(decision.missing),
        "possible": sorted(decision.possible),
        "values": decision.values,
        "profile": {d.id: d.rating for d in decision.profile},
    }


def compare(expect: dict, got: dict) -> tuple[str, ...]:
    failures = []
    for key in ("level", "rule", "status"):
        if key in expect and expect[key] != got[key]:
            failures.append(f"{key}: expected {expect[key]}, got {got[key]}")
    for key in ("alerts", "missing", "possible"):
        if key in expect and sorted(expect[key] or []) != got[key]:
            failures.append(f"{key}: expected {sorted(expect[key] or [])}, got {got[key]}")
    for name, value in (expect.get("values") or {}).items():
        found = got["values"].get(name)
        if found != value or isinstance(found, bool) != isinstance(value, bool):
            failures.append(f"{name}: expected {_shown(value)}, got {_shown(found)}")
    for ident, rating in (expect.get("profile") or {}).items():
        found = got["profile"].get(ident)
        if found != rating:
            failures.append(f"{ident}: expected {_rating(rating)}, got {_rating(found)}")
    return tuple(failures)


def _rating(rating: int | None) -> str:
    return "not rated" if rating is None else f"rating {rating}"


def _shown(value) -> str:
    return "no value" if value is None else {True: "yes", False: "no"}.get(value, str(value))


def run_case(pack: Pack, case: TestCase) -> CaseResult:
    decision = decide(pack, checked(pack, case.given))
    return CaseResult(case, decision, compare(case.expect, got_for(decision)))


def run_all(pack: Pack) -> list[CaseResult]:
    return [run_case(pack, case) for case in pack.tests]
