"""The decision policy is written once (`iop_cli/decide/policy.py`) and used by check, score and lint: its settling rule
gives the same answer over Python booleans and over Polars columns, and its limits apply to every command."""

from __future__ import annotations

import itertools

import polars as pl
from typer.testing import CliRunner

from iop_cli.cli import app
from iop_cli.decide import policy
from iop_cli.decide.frame import COLUMNS
from iop_cli.exit_codes import Exit
from iop_cli.pack.model import MAX_ALERTS

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"
GOOD_CSV = ROOT / "tests" / "corpus" / "score" / "good.csv"


def test_settled_is_the_same_for_one_person_and_for_a_batch():
    combos = list(itertools.product([False, True], repeat=3))
    frame = pl.DataFrame([dict(zip("mnb", c, strict=True)) for c in combos])
    batch = frame.select(policy.settled(COLUMNS, *(pl.col(c) for c in "mnb")).alias("r"))["r"].to_list()
    one = [policy.settled(policy.PYTHON, *c) for c in combos]
    assert batch == one
    # The safety reading: with nothing missing the first rule that holds decides; with answers missing, a rule
    # that holds settles the level only when no earlier rule left open by them leads elsewhere; when no rule
    # holds, the missing answers are always searched (`decide.missing`).
    assert all(r for c, r in zip(combos, one, strict=True) if not c[0])
    assert policy.settled(policy.PYTHON, True, False, False) is True
    assert policy.settled(policy.PYTHON, True, False, True) is False
    assert policy.settled(policy.PYTHON, True, True, False) is False


def test_alert_order_is_severity_then_pack_order():
    alerts = [("a", "info"), ("b", "safety"), ("c", "caution"), ("d", "safety"), ("e", "odd")]
    assert [a for a, _ in policy.in_alert_order(alerts, lambda a: a[1])] == ["b", "d", "c", "a", "e"]


def _with_alerts(pack_dir, count: int) -> None:
    rules = pack_dir / "rules.yaml"
    head, tail = rules.read_text(encoding="utf-8").split("\notherwise:", 1)
    extra = "".join(
        f"\n  - id: extra_{i}\n    when: pregnant\n    alert: Extra.\n    severity: info\n    because: Extra.\n"
        for i in range(count)
    )
    rules.write_text(head + extra + "\notherwise:" + tail, encoding="utf-8")


def test_the_alert_limit_applies_to_every_command(pack_copy, tmp_path):
    from iop_cli.pack.build import load_pack

    existing = len(load_pack(pack_copy).alerts)
    _with_alerts(pack_copy, MAX_ALERTS + 1 - existing)
    runner = CliRunner()
    for args in (
        ["check", "--answers", str(EXAMPLE), "--rules", str(pack_copy)],
        ["score", str(GOOD_CSV), "-o", str(tmp_path / "out.csv"), "--rules", str(pack_copy)],
        ["rules", "lint", str(pack_copy)],
    ):
        result = runner.invoke(app, args, env={"NO_COLOR": "1", "IOP_RULES": ""})
        assert result.exit_code == Exit.INPUT_ERROR, (args, result.stdout, result.stderr)
        assert f"at most {MAX_ALERTS} are allowed" in result.stderr


def test_a_pack_at_the_limit_loads(pack_copy):
    from iop_cli.pack.build import load_pack

    _with_alerts(pack_copy, MAX_ALERTS - len(load_pack(pack_copy).alerts))
    assert len(load_pack(pack_copy).alerts) == MAX_ALERTS


def test_an_urgent_level_is_certain_only_when_no_earlier_rule_still_waits_on_an_optional_answer():
    from types import SimpleNamespace

    from iop_cli.decide.engine import NotAssessed
    from iop_cli.decide.policy import urgent_certain
    from iop_cli.pack.build import load_pack

    pack = load_pack()

    def decision(level, basis, rule=None, waiting=()):
        return SimpleNamespace(level=pack.levels[level], basis=basis, rule=rule, not_assessed=waiting)

    assert urgent_certain(pack, decision("crisis", "rule", "crisis_risk"))
    assert urgent_certain(pack, decision("inpatient", "every_filling"))  # several rules, one urgent level
    assert not urgent_certain(pack, decision("iop", "rule", "iop_mild_moderate"))  # not urgent
    assert not urgent_certain(pack, decision("clinician_review", "missing_answers"))
    # Inpatient, but a crisis rule before it waits on an optional answer not given: crisis not ruled out.
    waiting = (NotAssessed("crisis_high_suicide_risk", ("suicide_risk",)),)
    assert not urgent_certain(pack, decision("inpatient", "rule", "inpatient_medical", waiting))
    # A later rule waiting changes nothing.
    later = (NotAssessed("php_moderate_symptoms", ("cows",)),)
    assert urgent_certain(pack, decision("inpatient", "rule", "inpatient_medical", later))
