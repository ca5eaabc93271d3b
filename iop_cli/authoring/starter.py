"""`iop rules new DIR`: a small starter pack that validates, lints clean and passes its own tests."""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_LINE = "# yaml-language-server: $schema=pack.schema.json\n"

FILES = {
    "pack.yaml": """\
# A starter rule pack made by `iop rules new`. Edit it, then run:
#   iop rules validate DIR && iop rules lint DIR && iop rules test DIR
pack:
  name: my-pack
  version: "0.1.0"
  description: A starter pack. Replace its questions, levels and rules with your program's own.

lint:
  allow:
    - finding: unused-question:client_id
      because: The program's own id for the record. It never decides a placement.
""",
    "questions.yaml": """\
# Questions are asked in this order. Field ids are the answers-file keys and CSV columns.
questions:
  - id: client_id
    type: text
    label: Client id (optional; never a name or birth date)
    help: Your program's own id for this person. `?` in the interview shows this help; lint asks every question for one.
    required: false

  - id: danger
    type: yesno
    label: Is the person in immediate danger of harming themselves or someone else?
    help: Yes if there is a plan or intent to harm anyone, the person included, right now.
    confirm_enter: false   # a safety question: a stray Enter answers nothing

  - id: needs_detox
    type: yesno
    label: Does withdrawal need 24-hour medical care?
    help: Yes for severe withdrawal, or a history of seizures or delirium tremens when stopping.

  - id: daily_use
    type: yesno
    label: Daily use in the past month?
    help: Use on most days of the last 30.

  - id: home_supportive
    type: yesno
    label: Do family or friends at home support recovery?
    help: Yes if the people at home back the person's recovery.

  # An instrument bundled with iop-cli (rules/instruments/phq9.yaml): nine scored items and their total `phq9`,
  # which may also be entered as a total. Its own tests run with this pack's. `ask_if:` would ask it only sometimes.
  - include: iop:instruments/phq9.yaml
""",
    "levels.yaml": """\
# Levels of care. `urgent` levels stand even while other answers are missing; their rules must come first.
levels:
  - id: crisis
    name: Immediate crisis evaluation
    rank: 100
    urgent: true
    summary: A safety evaluation comes before any placement.

  - id: inpatient
    name: Medically managed inpatient care
    rank: 90
    urgent: true
    summary: Withdrawal needs round-the-clock medical care.

  - id: iop
    name: Intensive outpatient program
    rank: 40
    summary: Several sessions a week while the person keeps their daily routine.

  - id: outpatient
    name: Standard outpatient care
    rank: 20
    summary: Regular sessions, less than nine hours a week.

  - id: clinician_review
    name: Clinician review
    rank: 0
    summary: The answers do not allow a safe placement by rule; a clinician decides.
""",
    "rules.yaml": """\
# The first level rule that holds decides; every alert that holds is shown.
rules:
  - id: crisis_now
    when: danger
    level: crisis
    because: Immediate danger needs a safety evaluation first.

  - id: detox
    when: needs_detox
    level: inpatient
    because: Withdrawal needs 24-hour medical care.

  - id: iop_daily_use
    when: daily_use and home_supportive
    level: iop
    because: Daily use with a supportive home suits intensive outpatient care.

  - id: outpatient_less_use
    when: not daily_use and home_supportive
    level: outpatient
    because: Less than daily use with a supportive home suits standard outpatient care.

  - id: home_not_supportive
    when: not home_supportive
    level: clinician_review
    because: Without support at home a clinician should weigh a more structured setting.

  - id: plan_home_support
    when: home_supportive == no
    alert: Plan support outside the home (peer groups, sober living).
    severity: caution
    because: The home does not support recovery.

  - id: depression_screen
    when: phq9 >= 10
    alert: The depression screen is positive; arrange a mental health assessment.
    severity: caution
    because: A PHQ-9 total of 10 or more.

otherwise:
  level: clinician_review
  because: No rule fits these answers; a clinician decides.
""",
    "tests.yaml": """\
# Test cases: `base` starts from a fixture, `given` changes answers (null removes one), `expect` says the result.
fixtures:
  settled:
    danger: no
    needs_detox: no
    daily_use: yes
    home_supportive: yes

tests:
  - name: danger goes to crisis first
    base: settled
    given: {danger: yes, needs_detox: yes}
    expect: {level: crisis, rule: crisis_now}

  - name: withdrawal needs inpatient care
    base: settled
    given: {needs_detox: yes}
    expect: {level: inpatient, rule: detox}

  - name: daily use with a supportive home is IOP
    base: settled
    expect: {level: iop, rule: iop_daily_use, alerts: []}

  - name: less use with a supportive home is outpatient
    base: settled
    given: {daily_use: no}
    expect: {level: outpatient, rule: outpatient_less_use}

  - name: no support at home goes to a clinician, with an alert
    base: settled
    given: {home_supportive: no}
    expect: {level: clinician_review, rule: home_not_supportive, alerts: [plan_home_support]}

  - name: a PHQ-9 of 10 or more, item by item, shows the depression alert
    base: settled
    given: {phq9_1: 2, phq9_2: 2, phq9_3: 2, phq9_4: 2, phq9_5: 1, phq9_6: 1, phq9_7: 0, phq9_8: 0, phq9_9: 0}
    expect: {level: iop, alerts: [depression_screen], values: {phq9: 10}}

  - name: a missing answer never lets a lower level through
    base: settled
    given: {danger: null}
    expect: {level: clinician_review, missing: [danger]}
""",
}


def write_starter(folder: Path) -> list[Path]:
    """Write the starter files and the pack schema they point at; returns the paths written."""
    from iop_cli.pack.spec import pack_schema

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in FILES.items():
        path = folder / name
        path.write_text(SCHEMA_LINE + text, encoding="utf-8")
        written.append(path)
    schema = folder / "pack.schema.json"
    schema.write_text(json.dumps(pack_schema(), indent=2) + "\n", encoding="utf-8")
    written.append(schema)
    return written


def imported_pack(data: dict[str, list], name: str) -> dict[str, str]:
    """The files of a starter pack around questions imported from a REDCap data dictionary (`exchange.redcap`): the
    questions, the starter's levels, and no rules yet (every intake goes to clinician review until the author writes
    them)."""
    import re

    import yaml

    pack_name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "imported"
    head = (
        f"# Imported from the REDCap data dictionary {name} by `iop rules import-redcap`. The questions, their\n"
        "# choices and branching come from it; the levels are the starter's; the rules are yours to write. Then run:\n"
        "#   iop rules validate DIR && iop rules lint DIR && iop rules test DIR\n"
    )
    pack_yaml = yaml.safe_dump(
        {"pack": {"name": pack_name, "version": "0.1.0", "description": f"Questions imported from {name}."}},
        sort_keys=False,
        allow_unicode=True,
    )
    questions_yaml = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    rules_yaml = (
        "# No rules yet: write the placement rules and alerts here (see the README's Rule packs section).\n"
        "rules: []\n\n"
        "otherwise:\n  level: clinician_review\n  because: No rule places these answers yet; a clinician decides.\n"
    )
    return {
        "pack.yaml": SCHEMA_LINE + head + pack_yaml,
        "questions.yaml": SCHEMA_LINE + questions_yaml,
        "levels.yaml": SCHEMA_LINE + FILES["levels.yaml"],
        "rules.yaml": SCHEMA_LINE + rules_yaml,
    }
