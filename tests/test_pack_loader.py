"""Loading rule packs: every problem at once, each with file:line:col and a suggestion."""

from __future__ import annotations

import textwrap

import pytest

from iop_cli.pack.build import load_pack
from iop_cli.problems import PackError


def problems_of(folder) -> list[str]:
    with pytest.raises(PackError) as info:
        load_pack(folder)
    return [str(p) for p in info.value.problems]


def replace(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def line_of(path, fragment) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_default_pack_loads_with_its_contract(pack):
    assert pack.name == "iop-default"
    assert len(pack.hash) == 64
    assert [lvl for lvl in pack.levels] == [
        "crisis", "inpatient", "residential", "php", "iop", "outpatient", "early_intervention", "clinician_review",
    ]  # fmt: skip
    contract = {
        "client_id", "age", "primary_substance", "use_frequency", "dsm5_criteria_count", "prior_treatment_episodes",
        "ciwa_ar", "cows", "withdrawal_complications_history", "medical_instability", "pregnant", "suicidal_ideation",
        "suicide_attempt_past_3_months", "homicidal_ideation", "psychiatric_symptoms", "readiness", "housing",
        "household_substance_use", "home_supportive", "completed_residential_past_30_days", "obligations",
        "can_attend_iop_schedule",
    }  # fmt: skip
    # Version 2 adds questions (instruments, other substances), all optional; the version-1 record stays.
    assert contract <= {q.id for q in pack.asked}
    assert not [q.id for q in pack.asked if q.id not in contract and q.required]
    assert {"severity", "sud"} <= {q.id for q in pack.computed}
    assert pack.questions["suicidal_ideation"].choice_values == (
        "none",
        "passive",
        "active_no_plan",
        "active_with_plan",
    )
    assert pack.questions["cows"].max == 48 and not pack.questions["cows"].required
    assert pack.rules[0].id == "crisis_risk"
    assert pack.otherwise.level == "clinician_review"


def test_misspelled_field_points_at_file_line_col_with_suggestion(pack_copy):
    rules = pack_copy / "rules.yaml"
    replace(rules, "when: medical_instability\n", "when: medical_instabilty\n")
    line = line_of(rules, "medical_instabilty")
    (message,) = problems_of(pack_copy)
    assert message.startswith(f"{rules}:{line}:11: unknown field `medical_instabilty`")
    assert "did you mean `medical_instability`?" in message


def test_error_inside_a_folded_block_points_at_its_line(pack_copy):
    rules = pack_copy / "rules.yaml"
    replace(rules, "sud and (psychiatric_symptoms == 'moderate'", "sud and (psychiatric_symptoms == 'moderat'")
    line = line_of(rules, "'moderat'")
    col = rules.read_text().splitlines()[line - 1].index("'moderat'") + 1
    (message,) = problems_of(pack_copy)
    assert message.startswith(f"{rules}:{line}:{col}: 'moderat' is not a choice of `psychiatric_symptoms`")
    assert "did you mean `moderate`?" in message


def test_threshold_outside_range_and_unknown_keys_are_all_reported(pack_copy):
    rules = pack_copy / "rules.yaml"
    questions = pack_copy / "questions.yaml"
    replace(rules, "cows >= 25)", "cows >= 60)")
    replace(rules, "    because: A physical condition", "    becuase: x\n    because: A physical condition")
    replace(questions, "    label: Age in years", "    lable: Age\n    label: Age in years")
    found = problems_of(pack_copy)
    assert any("60 is outside the range of `cows` (0-48)" in p for p in found)
    assert any("unknown key `becuase` in a rule (did you mean `because`?)" in p for p in found)
    assert any(p.startswith(f"{questions}:{line_of(questions, 'lable')}:5: unknown key `lable`") for p in found)
    assert len(found) == 3


def test_unknown_level_duplicate_id_and_missing_otherwise(pack_copy):
    rules = pack_copy / "rules.yaml"
    replace(rules, "    level: residential\n", "    level: residental\n")
    replace(rules, "  - id: inpatient_psychiatric", "  - id: inpatient_medical")
    text = rules.read_text()
    rules.write_text(text[: text.index("otherwise:")])
    found = problems_of(pack_copy)
    assert any("unknown level `residental`" in p and "did you mean `residential`?" in p for p in found)
    assert any("duplicate id `inpatient_medical`" in p for p in found)
    assert any("the pack has no `otherwise`" in p for p in found)


def test_an_urgent_rule_after_a_calmer_one_is_refused(pack_copy):
    rules = pack_copy / "rules.yaml"
    replace(
        rules,
        "  # 1. Crisis\n",
        "  - id: early_iop\n    when: sud\n    level: iop\n    because: too early\n\n  # 1. Crisis\n",
    )
    found = problems_of(pack_copy)
    assert any("rule `crisis_risk` leads to the urgent level `crisis` but comes after `early_iop`" in p for p in found)


def test_ask_if_may_only_read_earlier_questions(pack_copy):
    questions = pack_copy / "questions.yaml"
    replace(questions, "ask_if: housing != 'homeless'", "ask_if: obligations")
    (message,) = problems_of(pack_copy)
    assert (
        "`ask_if` of question `household_substance_use` reads `obligations`, which is not placed before it" in message
    )


def test_bad_yaml_and_duplicate_keys(pack_copy):
    (pack_copy / "levels.yaml").write_text("levels:\n  - id: x\n    name: [unclosed\n")
    (pack_copy / "pack.yaml").write_text("pack:\n  name: a\n  name: b\n  version: '1'\n")
    found = problems_of(pack_copy)
    assert any("levels.yaml:" in p and "YAML syntax error" in p for p in found)
    assert any(p.startswith(f"{pack_copy / 'pack.yaml'}:3:3: duplicate key `name`") for p in found)


def test_wrong_types_in_the_pack(tmp_path):
    (tmp_path / "pack.yaml").write_text(
        textwrap.dedent(
            """\
            pack: {name: t, version: '1'}
            questions:
              - {id: a, type: integr, label: A}
              - {id: b, type: integer, label: B, min: 5, max: 1}
              - {id: c, type: yesno, label: C, choices: [x]}
              - {id: d, type: choice, label: D, choices: [x, x]}
              - {id: not, type: yesno, label: reserved}
            levels:
              - {id: l1, name: L1}
            rules:
              - {id: r1, when: b + 1, level: l1, because: x}
              - {id: r2, when: c, level: l1, alert: y, because: x}
            otherwise: {level: l1, because: x}
            """
        )
    )
    found = problems_of(tmp_path)
    expected = [
        "unknown question type `integr` for question `a` (did you mean `integer`?)",
        "`min` is above `max`",
        "has choices but is of type yesno",
        "duplicate choice `x`",
        "`not` is a reserved word",
        "`b + 1` is not a yes/no condition",
        "needs exactly one of `level` or `alert`",
    ]
    for fragment in expected:
        assert any(fragment in p for p in found), (fragment, found)


def test_missing_folder_and_empty_folder(tmp_path):
    assert "no such rule-pack folder" in problems_of(tmp_path / "nope")[0]
    assert "holds no .yaml files" in problems_of(tmp_path)[0]


def test_pack_tests_are_checked_at_load(pack_copy):
    tests = pack_copy / "tests.yaml"
    replace(
        tests,
        "expect: {level: inpatient, rule: inpatient_severe_withdrawal, alerts: [consider_maud]}",
        "expect: {level: inpatient, rule: crisis_rsk, alerts: [consider_maud]}",
    )
    replace(tests, "given: {suicide_attempt_past_3_months: yes}", "given: {suicide_attempt_past_3_month: yes}")
    found = problems_of(pack_copy)
    assert any("unknown rule `crisis_rsk`" in p and "crisis_risk" in p for p in found)
    line = line_of(tests, "suicide_attempt_past_3_month:")
    col = tests.read_text().splitlines()[line - 1].index("suicide_attempt_past_3_month:") + 1
    assert any(
        p.startswith(f"{tests}:{line}:{col}: test `") and "suicide_attempt_past_3_month: unknown field" in p
        for p in found
    )


def test_hash_changes_with_content(pack, pack_copy):
    replace(pack_copy / "levels.yaml", "name: Clinician review", "name: Clinician review needed")
    assert load_pack(pack_copy).hash != pack.hash
