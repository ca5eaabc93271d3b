"""Hardening items 14, 15 and 17: conditions that used to pass validate and lint and then broke or disagreed at run
time, look-alike names, comments and warnings, and the column map's second parser. Each bad condition is now
refused at load, by every command, with one line naming file:line:col. Commands run in-process (Typer's runner); an
exception that is not a clean exit is what exited 70 before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iop_cli.cli import app
from iop_cli.exit_codes import Exit

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"
GOOD_CSV = ROOT / "tests" / "corpus" / "score" / "good.csv"


def iop(*args: str):
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200", "IOP_RULES": ""})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def with_alert(pack_dir: Path, when: str) -> tuple[Path, int, int]:
    """Add an alert whose condition is `when` (a YAML double-quoted string, so escapes such as \\ud800 work);
    return the rules file, and the line and column where the condition's text starts."""
    rules = pack_dir / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    head, tail = text.split("\notherwise:", 1)  # the alert goes last in `rules:`, before `otherwise:`
    prefix = "    when: "
    line = head.count("\n") + 3
    try:
        quoted = json.dumps(when, ensure_ascii=False).encode("utf-8").decode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: write it as a YAML escape
        quoted = json.dumps(when)
    added = f"\n  - id: added_alert\n{prefix}{quoted}\n    alert: Added.\n    severity: info\n"
    added += "    because: Added.\n"
    rules.write_text(head + added + "\notherwise:" + tail, encoding="utf-8")
    return rules, line, len(prefix) + 1 + 1  # 1-based column, after the opening quote


def one_error(result) -> str:
    assert result.exit_code == Exit.INPUT_ERROR, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    return lines[0]


# (condition, where the problem starts within it, what the message says, what the hint says)
REFUSED = [
    # item 14: NaN from infinity minus infinity (check never alerted, score alerted on every row)
    ("age < 1e999 - 1e999", 6, "reads as infinity", "use a number within"),
    # item 14: int64 wraps in batch scoring (check true, score false)
    ("age + 9223372036854775807 > 0", 0, "beyond the whole numbers batch scoring holds", "narrow the `min`/`max`"),
    ("age - 9223372036854775807 - 20 < 0", 0, "beyond the whole numbers", "`age`"),
    ("-(-9223372036854775807 - 1) > age", 0, "beyond the whole numbers", "smaller numbers"),
    ("age + 1e308 + 1e308 > 0", 0, "can overflow to infinity", "narrow"),
    # item 14: a 400-digit literal plus 0.5 (OverflowError, exit 70)
    ("age + " + "9" * 400 + " + 0.5 > 1", 6, "(400 digits) is too large", "smaller number"),
    # item 14: a lone surrogate in a quoted word (`rules doc` exit 70): the YAML reader now refuses the escape
    ("primary_substance == '\ud800'", 22, "invalid Unicode character escape", "quotes"),
    # item 15: look-alike letters that Python folds to `age` / `pregnant`
    ("\uff41\uff47\uff45 > 30", 0, "is not a plain name", "retype it as `age`"),
    ("\u1d43ge > 30", 0, "is not a plain name", "retype it as `age`"),
    (
        "\U0001d429\U0001d42b\U0001d41e\U0001d420\U0001d427\U0001d41a\U0001d427\U0001d42d",
        0,
        "not a plain name",
        "retype it as `pregnant`",
    ),
    ("age > 30 and pregn\u0430nt", 13, "not a plain name", "CYRILLIC SMALL LETTER A"),
    # item 15: a comment that silently dropped the rest of the condition
    ("pregnant # and suicidal_ideation == 'active_with_plan'", 9, "`#` is not allowed", "YAML comment goes outside"),
    # item 15: a SyntaxWarning on every command; now refused with a hint
    ("34and pregnant", 1, "invalid decimal literal", "put a space between a number and a word"),
    ("primary_substance == '\\d'", 21, "invalid escape sequence", "backslash"),
    # number spellings a person would not mean (as answers refuse them, item 13)
    ("age > 0x22", 6, "not a plain decimal number", "digits 0-9"),
    ("age > 1_000", 6, "not a plain decimal number", "digits 0-9"),
    ("age > 3j", 6, "not a plain decimal number", "digits 0-9"),
]


@pytest.mark.parametrize(("when", "offset", "message", "hint"), REFUSED)
def test_validate_refuses_with_file_line_col(pack_copy, when, offset, message, hint):
    rules, line, col = with_alert(pack_copy, when)
    error = one_error(iop("rules", "validate", str(pack_copy)))
    assert f"{rules}:{line}:" in error, error
    got_col = int(error.split(f"{rules}:{line}:")[1].split(":")[0])
    if "\\" not in when and all(ord(ch) < 0xD800 for ch in when):  # escapes and surrogates shift YAML columns
        assert got_col == col + offset, (error, col + offset)
    assert message in error and hint in error, error


@pytest.mark.parametrize(
    "command",
    [
        ("check", "--answers", str(EXAMPLE)),
        ("rules", "doc"),
        ("rules", "test"),
        ("rules", "lint"),
        ("score", str(GOOD_CSV), "-o", "-"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
@pytest.mark.parametrize("when", ["age + 9223372036854775807 > 0", "primary_substance == '\ud800'"])
def test_every_command_refuses_at_load_instead_of_crashing(pack_copy, command, when):
    with_alert(pack_copy, when)
    name, *rest = command
    args = [name, *rest, str(pack_copy)] if name == "rules" else [name, *rest, "--rules", str(pack_copy)]
    if name == "rules" and rest == ["doc"]:
        args = ["rules", "doc", str(pack_copy), "-o", "-"]
    one_error(iop(*args))


def test_no_python_warning_reaches_stderr_of_a_real_process(pack_copy):
    """Warnings are printed by the interpreter, not the command, so this one runs a real process."""
    with_alert(pack_copy, "34and pregnant")
    code = "import sys; from iop_cli.cli import run; sys.argv = ['iop', 'rules', 'validate', sys.argv[1]]; run()"
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code, str(pack_copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Warning" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_accepted_edges_still_load(pack_copy):
    """The bounds follow the fields' ranges: arithmetic that stays inside int64 and finite floats is accepted."""
    with_alert(pack_copy, "age + 9223372036854775000 > 0 and -age < 0 and age - 12 >= 0 and age + 0.5 < 1e300")
    result = iop("rules", "validate", str(pack_copy))
    assert result.exit_code == 0, result.stderr


# -- item 17: the map's derive conditions use the pack's parser and limits -----------------------------------------


def _map(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(
        "derive:\n  psychiatric_symptoms:\n    cases:\n"
        f"      - when: {json.dumps(when)}\n        value: none\n    otherwise: null\n",
        encoding="utf-8",
    )
    return path


def _csv(tmp_path: Path, codes: list[str]) -> Path:
    header, first = GOOD_CSV.read_text(encoding="utf-8").splitlines()[:2]
    names = header.split(",")
    cells = first.split(",")
    keep = [i for i, n in enumerate(names) if n != "psychiatric_symptoms"]
    lines = [",".join([names[i] for i in keep] + ["PSYPROB"])]
    for n, code in enumerate(codes):
        row = [cells[i] for i in keep]
        row[0] = f"R-{n}"
        lines.append(",".join(row + [code]))
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_map_derive_accepts_single_equals(tmp_path):
    source = _csv(tmp_path, ["2", "1", "nan", "inf", "\uff12", "2.0", ""])
    result = iop("score", str(source), "--map", str(_map(tmp_path, "PSYPROB = 2")), "-o", "-", "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 7
    # Only the plain codes 2 and 2.0 derive `none`; NaN, inf and a fullwidth digit are unknown, not numbers.
    known = [row["client_id"] for row in rows if "psychiatric_symptoms" not in row["reason"]]
    assert known == ["R-0", "R-5"], rows


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("PSYPROB " + "or PSYPROB == 1 " * 7000, "longer than 2000 characters"),
        ("(" * 300 + "PSYPROB == 1" + ")" * 300, "too many nested parentheses"),
        ("PSYPROB # == 2", "`#` is not allowed"),
        ("\uff30SYPROB == 2", "retype it as `PSYPROB`"),
        ("PSYPROB == 0x2", "not a plain decimal number"),
        ("PSYPROB + 1e999 > 0", "infinity"),
    ],
)
def test_map_derive_is_held_to_the_pack_limits(tmp_path, when, message):
    result = iop("score", str(GOOD_CSV), "--map", str(_map(tmp_path, when)), "-o", str(tmp_path / "out.csv"))
    error = one_error(result)
    assert f"{tmp_path / 'm.yaml'}:4:" in error and message in error, error
    assert not (tmp_path / "out.csv").exists()


def test_the_teds_map_still_loads_and_reads_clinical_md_version_2(tmp_path):
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.pack.build import load_pack

    mapping = load_mapping(str(ROOT / "examples" / "teds-a.map.yaml"), load_pack())
    # LIVARAG 3 is stable or unstable; PSYPROB 1 a disorder of some severity, never "none"; DSMCRIT a range.
    assert mapping.values["housing"] == {"1": "homeless", "2": "unstable", "3": ("stable", "unstable")}
    assert mapping.values["psychiatric_symptoms"] == {"1": ("mild", "moderate", "severe"), "2": None}
    assert mapping.values["dsm5_criteria_count"]["5"] == tuple(range(4, 12))  # opioid dependence
    assert mapping.values["dsm5_criteria_count"]["9"] == (2, 3, 4, 5)  # alcohol abuse
    assert mapping.values["dsm5_criteria_count"]["19"] is None  # a mental health diagnosis: no count
    assert mapping.columns["other_substances"] == ("SUB2", "SUB3") and not mapping.derive
    # A derivation in a map is read by the pack's condition parser, with the input's columns as names.
    path = tmp_path / "m.yaml"
    path.write_text("derive:\n  psychiatric_symptoms:\n    cases:\n      - {when: PSY == 2, value: none}\n")
    derived = load_mapping(str(path), load_pack()).derive["psychiatric_symptoms"]
    assert derived.columns == ("PSY",)
    assert derived.cases[0][0].evaluate({"PSY": 2.0}) is True


def test_a_huge_value_in_a_map_is_cut_in_the_message(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("values:\n  readiness:\n    '1': " + "x" * 100_000 + "\n", encoding="utf-8")
    error = one_error(iop("score", str(GOOD_CSV), "--map", str(path), "-o", str(tmp_path / "out.csv")))
    assert f"{path}:3:" in error and len(error) < 400 + len(str(path)), error[:500]


def test_bidirectional_overrides_are_shown_not_obeyed():
    from iop_cli.safe_text import visible

    assert visible("a\u202eb\u2066c\td") == "a\\u202eb\\u2066c\td"


# -- computed fields keep to their declared type and range (found in review) ------------------------------------


def _small_pack(tmp_path: Path, questions: str, rule: str) -> Path:
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "pack.yaml").write_text("pack: {name: small, version: '1'}\n", encoding="utf-8")
    (folder / "levels.yaml").write_text(
        "levels:\n  - {id: hi, name: High, rank: 50}\n  - {id: review, name: Review, rank: 0}\n", encoding="utf-8"
    )
    (folder / "questions.yaml").write_text("questions:\n" + questions, encoding="utf-8")
    (folder / "rules.yaml").write_text(
        f"rules:\n  - id: r\n    when: {json.dumps(rule)}\n    level: hi\n    because: Because.\n"
        "otherwise: {level: review, because: No rule.}\n",
        encoding="utf-8",
    )
    return folder


BASE = "  - {id: a, type: yesno, label: A, required: false}\n  - {id: y, type: number, label: Y, required: false}\n"


@pytest.mark.parametrize(
    ("computed", "message"),
    [
        # A whole-number field computed from a decimal: score held it as Float64 and `t in [1, 2]` failed every row.
        ("  - {id: t, type: integer, label: T, compute: y + 1}\n", "its compute can give decimals"),
        ("  - {id: t, type: integer, label: T, compute: [{when: a, value: 1.5}, {otherwise: 0}]}\n", "whole number"),
        # A declared range the compute can leave: the overflow check trusted it, and Int64 wrapped in score.
        (
            "  - {id: x, type: integer, label: X, required: false, min: 0, max: 5000000000000000000}\n"
            "  - {id: t, type: integer, label: T, min: 0, max: 10, compute: x}\n",
            "outside its declared range",
        ),
        ("  - {id: t, type: integer, label: T, min: 0, max: 10, compute: [{when: a, value: 11}]}\n", "declared range"),
    ],
)
def test_a_computed_field_must_keep_to_its_declared_type_and_range(tmp_path, computed, message):
    folder = _small_pack(tmp_path, BASE + computed, "t in [1, 2]")
    error = one_error(iop("rules", "validate", str(folder)))
    assert "questions.yaml:" in error and message in error, error


def test_a_whole_case_value_written_as_a_decimal_scores_alike(tmp_path):
    folder = _small_pack(
        tmp_path,
        BASE + "  - {id: t, type: integer, label: T, compute: [{when: a, value: 1.0}, {otherwise: 0}]}\n",
        "t in [1, 2]",
    )
    source = tmp_path / "in.csv"
    source.write_text("a,y\nyes,\nno,\n", encoding="utf-8")
    result = iop("score", str(source), "--rules", str(folder), "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert [line.split(",")[2] for line in result.stdout.splitlines()[1:]] == ["hi", "review"]


def test_a_number_column_of_whole_and_decimal_cells_scores(tmp_path):
    """`1` and `2.5` in one decimal column: the answers were an int and a float, which Polars would not mix (70)."""
    folder = _small_pack(tmp_path, BASE, "y > 2")
    for order in ("2.5\n1\n", "1\n2.5\n"):
        source = tmp_path / "in.csv"
        source.write_text("y\n" + order, encoding="utf-8")
        result = iop("score", str(source), "--rules", str(folder), "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert sorted(line.split(",")[1] for line in result.stdout.splitlines()[1:]) == ["hi", "review"]


def test_a_whole_number_answer_beyond_64_bits_is_refused(tmp_path):
    """A whole-number field with no `max`: check read 20 digits exactly while score could not hold them."""
    folder = _small_pack(tmp_path, BASE + "  - {id: x, type: integer, label: X, required: false}\n", "x > 5")
    answers = tmp_path / "a.yaml"
    answers.write_text("x: 99999999999999999999\n", encoding="utf-8")
    error = one_error(iop("check", "--answers", str(answers), "--rules", str(folder)))
    assert "too large" in error and "x" in error, error


def test_the_lowest_whole_number_is_a_literal(pack_copy):
    with_alert(pack_copy, "age - 20 > -9223372036854775808")
    assert iop("rules", "validate", str(pack_copy)).exit_code == 0


def test_map_columns_may_have_letters_of_any_language(tmp_path):
    """An export's headers cannot be renamed, so a map may name `ÉTAT`; only look-alike folding is refused."""
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.pack.build import load_pack

    mapping = load_mapping(str(_map(tmp_path, "ÉTAT == 2 or Größe > 1")), load_pack())
    assert mapping.derive["psychiatric_symptoms"].columns == ("ÉTAT", "Größe")
    error = one_error(iop("score", str(GOOD_CSV), "--map", str(_map(tmp_path, "\uff21B == 2")), "-o", "-"))
    assert "retype it as `AB`" in error
