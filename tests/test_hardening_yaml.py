"""Hostile or odd YAML: alias bombs, self-reference, deep nesting, huge numbers and files, and number spellings a
person would not mean. Every reader (answers, rule pack, column map) goes through `source.load`; each case must end
with exit 1 and one clear line, quickly, never a traceback or exit 70."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

import pytest

from iop_cli.pack import source
from iop_cli.problems import ProblemsError

from .conftest import ROOT, iop_command, iop_in_process

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"
GOOD_CSV = ROOT / "tests" / "corpus" / "score" / "good.csv"


def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text


def run_bounded(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`iop` with a time limit; going over it fails the test (the old code hung on some of these inputs)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("IOP_RULES", None)
    try:
        return subprocess.run([*iop_command(), *args], capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"iop {args[0]} did not finish within {timeout} s")


def check(tmp_path, content: str, name: str = "a.yaml", timeout: float = 30):
    """Run `iop check` on an answers file; (result, seconds). A hang is a failure, not a stuck test run."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    start = time.perf_counter()
    result = run_bounded("check", "--answers", str(path), "--format", "json", timeout=timeout)
    return result, time.perf_counter() - start, path


def one_error_line(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines[:5]
    assert result.stdout == ""
    return lines[0]


# -- item 12: aliases, recursion, depth, size -----------------------------------------------------------------------


def test_billion_laughs_answers_file_is_refused_at_once(tmp_path):
    text = billion_laughs()
    assert len(text) < 500
    result, seconds, path = check(tmp_path, text)
    line = one_error_line(result)
    assert f"{path}:1:4:" in line and "anchors and aliases (&name / *name) are not allowed" in line
    assert seconds < 10


def test_self_referencing_alias_is_refused(tmp_path):
    result, _, path = check(tmp_path, "a: &a [*a]\n")
    line = one_error_line(result)
    assert f"{path}:1:4:" in line and "anchors and aliases" in line


@pytest.mark.parametrize(
    "text, where",
    [
        ("a: &x 1\nb: 2\n", "t:1:4"),  # an anchor alone is refused too: it is only there to be aliased
        ("a: 1\nb: *x\n", "t:2:4"),
        ("- &s {k: v}\n- *s\n", "t:1:3"),
    ],
)
def test_the_yaml_reader_refuses_anchors_and_aliases(text, where):
    with pytest.raises(ProblemsError) as info:
        source.load(text, "t")
    assert [str(p) for p in info.value.problems][0].startswith(f"{where}: YAML anchors and aliases")
    assert len(info.value.problems) == 1


def test_rule_pack_with_an_alias_is_refused(pack_copy):
    path = pack_copy / "pack.yaml"
    path.write_text(path.read_text() + "\nx-extra: &loop [*loop]\n")
    result = iop_in_process("rules", "validate", str(pack_copy))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"{path}:" in result.stderr and "anchors and aliases" in result.stderr


def test_column_map_with_an_alias_bomb_is_refused(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(billion_laughs())
    start = time.perf_counter()
    result = run_bounded("score", str(GOOD_CSV), "--map", str(mapping), "-q")
    line = one_error_line(result)
    assert f"{mapping}:1:4:" in line and "anchors and aliases" in line
    assert time.perf_counter() - start < 10


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    result, _, path = check(tmp_path, "age: " + "[" * 900 + "]" * 900 + "\n")
    line = one_error_line(result)
    assert f"{path}:1:" in line and "nested more than" in line


def test_deep_nesting_limit_in_the_yaml_reader():
    deep = "[" * (source.MAX_DEPTH + 1) + "]" * (source.MAX_DEPTH + 1)
    with pytest.raises(ProblemsError, match="nested more than"):
        source.load(deep, "t")
    fine = "[" * source.MAX_DEPTH + "1" + "]" * source.MAX_DEPTH
    assert source.load(fine, "t") is not None


def test_integer_of_4301_digits_is_refused_with_a_short_line(tmp_path):
    result, _, path = check(tmp_path, "age: " + "1" * 4301 + "\n")
    line = one_error_line(result)
    assert line.startswith(f"error: {path}:1:1: age: ") and "too long to be a whole number" in line
    assert len(line) < 300  # the value is cut, not echoed in full


def test_million_key_file_of_14_mb_is_refused_fast(tmp_path):
    text = "".join(f"key{i:07d}: 1\n" for i in range(1_000_000))
    assert len(text) == 14_000_000
    result, seconds, path = check(tmp_path, text)
    line = one_error_line(result)
    assert str(path) in line and "too large" in line
    assert seconds < 10


def test_too_many_values_under_the_size_limit_is_refused_fast():
    text = "[" + "1," * 1_000_000 + "1]"  # 2 MB, a million values
    start = time.perf_counter()
    with pytest.raises(ProblemsError) as info:
        source.load(text, "t")
    assert time.perf_counter() - start < 5
    (problem,) = info.value.problems
    assert problem.where.startswith("t:1:") and "too many keys and values" in problem.message


def test_pure_python_parser_gives_the_same_results(monkeypatch):
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader")
    with pytest.raises(ProblemsError, match="anchors and aliases"):
        source.load("a: &a [*a]\n", "t")
    doc = source.load("a: |\n  x\nb: 'q'\nc: 0x22\n", "t")
    assert doc.plain() == {"a": "x\n", "b": "q", "c": "0x22"}
    assert doc.value["a"].block and doc.value["b"].quoted


def test_tags_other_than_str_are_refused():
    with pytest.raises(ProblemsError, match="YAML tags like `!!python/object:os.system`"):
        source.load("a: !!python/object:os.system x\n", "t")
    assert source.load("a: !!str 5\n", "t").plain() == {"a": "5"}


def test_a_second_document_is_refused():
    with pytest.raises(ProblemsError, match="second document"):
        source.load("a: 1\n---\nb: 2\n", "t")


# -- item 13: number spellings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("35", 35),
        ("+5", 5),
        ("-2", -2),
        ("0", 0),
        ("5.0", 5.0),
        (".5", 0.5),
        ("1.5e3", 1500.0),
        ("yes", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("0x22", "0x22"),  # YAML 1.1 reads these as 34, 34, 3, 8, 35 and 90
        ("0o42", "0o42"),
        ("0b11", "0b11"),
        ("010", "010"),
        ("3_5", "3_5"),
        ("1:30", "1:30"),
        ("1_000.5", "1_000.5"),
        ("３５", "３５"),
        ("2024-01-01", "2024-01-01"),
        ("1" * 101, "1" * 101),
    ],
)
def test_plain_scalars_are_numbers_only_in_ascii_decimal(text, value):
    assert source.plain_scalar(text) == value
    assert type(source.plain_scalar(text)) is type(value)


def test_yaml_nan_and_infinity_stay_floats_for_the_reader_to_refuse():
    assert math.isnan(source.plain_scalar(".nan"))
    assert source.plain_scalar("-.inf") == -math.inf


@pytest.mark.parametrize(
    "value",
    ["3_5", "３５", "٣", "0x22", "0o42", "0b100010", "1:30", '"3_5"', "'0x22'", "１２", "3٥"],
)
def test_number_spellings_a_person_would_not_mean_are_refused(tmp_path, value):
    result, _, path = check(tmp_path, f"age: {value}\n")
    line = one_error_line(result)
    assert line.startswith(f"error: {path}:1:1: age: ")
    assert "is not a plain decimal number; write it with the digits 0-9" in line


@pytest.mark.parametrize("value", [".nan", ".NaN", "NaN", "nan", ".inf", "-.inf", "inf", "-Infinity", "'NaN'"])
def test_nan_and_infinity_are_refused_in_yaml(tmp_path, value):
    result, _, path = check(tmp_path, f"age: {value}\n")
    line = one_error_line(result)
    assert line.startswith(f"error: {path}:1:1: age: ") and "NaN and infinity are refused" in line


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"age": NaN}', "NaN and infinity are refused"),
        ('{"age": Infinity}', "NaN and infinity are refused"),
        ('{"age": -Infinity}', "NaN and infinity are refused"),
        ('{"age": 1e999}', "too large to be a whole number"),
        ('{"age": 0x22}', "not a plain decimal number"),
        ('{"age": "3_5"}', "not a plain decimal number"),
    ],
)
def test_json_answers_files_refuse_the_same(tmp_path, content, fragment):
    result, _, path = check(tmp_path, content, name="a.json")
    line = one_error_line(result)
    assert line.startswith(f"error: {path}:1:2: age: ") and fragment in line


@pytest.mark.parametrize("value", ["35", "35.0", "+35", "' 35 '", '"35"', "35.", "3.5e1"])
def test_plain_decimal_spellings_are_still_accepted(tmp_path, value):
    result, _, _ = check(tmp_path, f"age: {value}\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answers"]["age"] == 35


@pytest.mark.parametrize("word", ["yes", "no", "true", "False", "y", "N", "1", "0", "'yes'"])
def test_yes_no_answers_keep_working(tmp_path, word):
    text = EXAMPLE.read_text()
    assert "\nmedical_instability: no\n" in text
    result, _, _ = check(tmp_path, text.replace("\nmedical_instability: no\n", f"\nmedical_instability: {word}\n"))
    assert result.returncode == 0, result.stderr
    expected = word.strip("'").lower() in ("yes", "true", "y", "1")
    assert json.loads(result.stdout)["answers"]["medical_instability"] is expected


def test_an_endless_answers_file_is_refused_without_reading_it_all():
    from iop_cli.files import MAX_TEXT_BYTES, read_text

    with pytest.raises(ProblemsError) as info:
        read_text("/dev/zero")
    assert f"over {MAX_TEXT_BYTES // 1_000_000} MB" in str(info.value.problems[0])
