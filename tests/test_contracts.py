"""The JSON contract: every shape iop-cli prints or writes, pinned key by key. Each shape has one home
(`iop_cli/output/contracts.py`); this test runs the real commands and checks what they print against the shapes
declared here, so a change to a shape is deliberate: it changes this file (and, when it breaks readers,
`schema_version`). It also checks that no command builds JSON of its own."""

from __future__ import annotations

import json
import re

from iop_cli.output import contracts

from .conftest import ROOT, iop_in_process
from .test_interview import CANDIDATE

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"

# A shape: a dict of key -> shape (the keys exactly), [shape] (a list of those), a type, or a tuple of choices.
# `dict` alone is a mapping whose keys are the pack's fields (answers, the values a rule saw).
Opt = type(None)
PACK = {"name": str, "version": str, "hash": str}
LEVEL = {
    "id": str,
    "name": str,
    "code": str,
    "intensity": str,
    "rank": int,
    "urgent": bool,
    "summary": str,
    "involves": [str],
    "next_steps": [str],
}
DECISION = {
    "schema_version": int,
    "pack": PACK,
    "level": LEVEL,
    "status": str,
    "basis": str,
    "rule": (str, Opt),
    "reason": str,
    "would_be": (str, Opt),
    "alerts": [{"id": str, "severity": str, "message": str, "because": str, "provisional": bool}],
    "missing": [{"field": str, "label": str}],
    "possible": [str],
    "deciding": [str],
    "not_assessed": [{"rule": str, "fields": [str]}],
    "partly_answered": [{"field": str, "at_least": int, "at_most": int}],
    "changes": [{"level": str, "level_name": str, "rule": (str, Opt), "answers": dict, "facts": [str], "text": str}],
    "grounds": [{"field": str, "value": object, "text": str}],
    "ignored": [str],
    "ignored_answers": [{"field": str, "label": str, "reason": str}],
    "contradictions": [{"field": str, "gate": str, "text": str}],
    "answers": dict,
    "profile": [
        {
            "id": str,
            "name": str,
            "rating": (int, Opt),
            "rated": bool,
            "highest": bool,
            "because": str,
            "answers": dict,
            "open": [str],
        }
    ],
    "trace": [
        {
            "rule": str,
            "kind": str,
            "result": (bool, Opt),
            "outcome": str,
            "values": dict,
            "clauses": [{"text": str, "result": (bool, Opt)}],
        }
    ],
    "disclaimer": str,
}
RECORD = {
    "schema_version": int,
    "record": {
        "id": int,
        "status": str,
        "created_at": str,
        "updated_at": str,
        "client_id": (str, Opt),
        "pack": PACK,
        "previous_id": (int, Opt),
    },
    "placement": (
        {
            "recommended": str,
            "recommended_name": (str, Opt),
            "actual": str,
            "actual_name": (str, Opt),
            "overridden": bool,
            "steps": (int, Opt),
            "reason": (str, Opt),
            "reason_text": (str, Opt),
            "note": (str, Opt),
        },
        Opt,
    ),
    "history": [
        {
            "id": int,
            "status": str,
            "updated_at": str,
            "recommended": (str, Opt),
            "actual": (str, Opt),
            "steps": (int, Opt),
            "previous_id": (int, Opt),
        }
    ],
    "answers": dict,
    "report": (DECISION, Opt),
}
RECORD_ROW = {
    "id": int,
    "status": str,
    "updated_at": str,
    "client_id": (str, Opt),
    "recommended": (str, Opt),
    "actual": (str, Opt),
    "steps": (int, Opt),
    "pack_version": str,
    "damaged": bool,
}
LINT = {
    "findings": [
        {"code": str, "key": str, "severity": str, "where": str, "message": str, "example": (dict, Opt)},
    ],
    "counts": {"error": int, "warning": int, "info": int},
}
SUMMARY = {
    "input": str,
    "output": str,
    "rows": int,
    "seconds": (float, int),
    "pack": PACK,
    "status": dict,
    "levels": dict,
    "top_errors": [{"reason": str, "rows": int}],
    "error_rows": {"rows": int, "first": [int], "counted_as": str},
    "top_review_reasons": [{"reason": str, "rows": int}],
    "missing_answers": [{"field": str, "rows": int}],
    "alerts": [{"alert": str, "rows": int}],
    "review_ranges": [{"level_min": str, "level_max": str, "rows": int}],
    "unanswered_fields": [str],
}

VALIDATE = {
    "ok": bool,
    "pack": (PACK, Opt),
    "counts": (
        {"questions": int, "computed": int, "levels": int, "rules": int, "alerts": int, "tests": int},
        Opt,
    ),
    "problems": [{"where": str, "message": str, "hint": str}],
}
TEST_REPORT = {
    "pack": PACK,
    "passed": int,
    "failed": int,
    "cases": [
        {"name": str, "where": str, "passed": bool, "given": dict, "expected": dict, "got": dict, "failures": [str]}
    ],
    "untested": [str],
}
MOVED_REGION = {
    "old_level": str,
    "new_level": str,
    "old_rule": (str, Opt),
    "new_rule": (str, Opt),
    "answers": dict,
    "text": str,
}
DIFF = {
    "old": PACK,
    "new": PACK,
    "edits": [str],
    "regions": (
        {"compared": bool, "not_comparable": [str], "not_compared": [str], "complete": bool, "moved": [MOVED_REGION]},
        Opt,
    ),
    "placements": (
        {
            "input": str,
            "rows": int,
            "unchanged": int,
            "moved": [{"old_level": str, "new_level": str, "rows": int, "example_data_rows": [int]}],
            "matrix": [{"old_level": str, "new_level": str, "rows": int}],
        },
        Opt,
    ),
}
CONFIG = {
    "config_file": str,
    "exists": bool,
    "settings": [{"setting": str, "value": (str, Opt), "source": str, "about": str}],
}
SARIF_RESULT = {
    "ruleId": str,
    "ruleIndex": int,
    "level": str,
    "message": {"text": str},
    "locations": [
        {"physicalLocation": {"artifactLocation": {"uri": str}, "region": {"startLine": int, "startColumn": int}}}
    ],
    "partialFingerprints": {"iopFindingKey/v1": str},
}


def problems(value, shape, where: str = "$") -> list[str]:
    """Every place `value` departs from `shape`."""
    if isinstance(shape, tuple):
        found = [problems(value, option, where) for option in shape]
        return [] if any(not f for f in found) else min(found, key=len)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        out = [f"{where}: keys {sorted(set(value) ^ set(shape))} differ"] if set(value) != set(shape) else []
        for key in shape.keys() & value.keys():
            out += problems(value[key], shape[key], f"{where}.{key}")
        return out
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [p for i, item in enumerate(value) for p in problems(item, shape[0], f"{where}[{i}]")]
    if shape is int and isinstance(value, bool):
        return [f"{where}: a bool, not an int"]
    if shape is Opt:
        return [] if value is None else [f"{where}: {value!r} is not null"]
    return [] if isinstance(value, shape) else [f"{where}: {type(value).__name__}, not {shape.__name__}"]


def test_the_shape_checker_can_fail():
    assert problems({"a": 1}, {"a": str}) == ["$.a: int, not str"]
    assert problems({"a": 1, "b": 2}, {"a": int}) == ["$: keys ['b'] differ"]
    assert problems([{"x": None}], [{"x": (str, Opt)}]) == []
    assert problems(True, int) == ["$: a bool, not an int"]


def _json(*args, env=None, input=None):
    result = iop_in_process(*args, env=env, input=input)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_json_is_the_decision_shape():
    data = _json("check", "-a", str(EXAMPLE), "--format", "json")
    assert problems(data, DECISION) == []
    assert data["alerts"] == [] or data["alerts"][0]["severity"] in ("safety", "caution", "info")


def test_a_decision_with_missing_answers_keeps_the_shape():
    data = _json("check", "-a", "-", "--format", "json", input="age: 30\nsuicidal_ideation: none\n")
    assert data["missing"] and data["not_assessed"]
    assert data["basis"] == "missing_answers" and len(data["possible"]) > 1 and data["deciding"]
    assert problems(data, DECISION) == []


def test_records_json_shapes(db):
    env = {"IOP_DB": str(db)}
    rows = _json("records", "list", "--json", env=env)
    assert len(rows) == 2 and problems(rows, [RECORD_ROW]) == []
    for record_id in ("1", "2"):  # a completed intake and a draft
        shown = _json("records", "show", record_id, "--format", "json", env=env)
        assert problems(shown, RECORD) == []
    assert _json("records", "show", "1", "--format", "json", env=env)["placement"]["actual"] == "outpatient"


def test_lint_json_shape():
    data = _json("rules", "lint", "--format", "json")
    assert data["findings"] and problems(data, LINT) == []


def test_score_summary_and_jsonl_rows(tmp_path, pack):
    header = [q.id for q in pack.asked]
    cells = ["" if CANDIDATE.get(f) is None else str(CANDIDATE[f]) for f in header]
    rows = tmp_path / "in.csv"
    rows.write_text(",".join(header) + "\n" + ",".join(cells) + "\n" + "," * (len(header) - 1) + "\n")
    summary = tmp_path / "summary.json"
    result = iop_in_process("score", str(rows), "--format", "jsonl", "--quiet", "--summary-json", str(summary))
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert problems(data, SUMMARY) == [] and data["rows"] == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(line) for line in lines] == [[*header, *contracts.score_columns(pack)]] * 2


def test_dumps_escapes_what_could_drive_a_terminal():
    assert contracts.dumps({"a": "x\x9b2Jy\x7f"}) == '{\n  "a": "x\\u009b2Jy\\u007f"\n}'


def test_no_command_builds_json_of_its_own():
    """JSON is written only by the contracts (and by the records store, whose columns hold it, and the pack's
    schema, which is a JSON Schema kept beside the pack's declarations)."""
    package = ROOT / "iop_cli"
    allowed = {"output/contracts.py", "store/records.py", "pack/spec.py", "authoring/starter.py", "commands/rules.py"}
    found = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"json\.dumps\(|write_ndjson|write_json", path.read_text(encoding="utf-8"))
    }
    # The JSON lines rows of `iop score`: the input's columns and `score_columns`, encoded cell by cell.
    assert found - allowed == {"batch/render.py"}


def test_the_rules_command_prints_only_the_schema_itself():
    source = (ROOT / "iop_cli" / "commands" / "rules.py").read_text(encoding="utf-8")
    assert re.findall(r"json\.dumps\(([^)]*\))", source) == ["pack_schema()"]


def test_the_summary_orders_ties_by_name_so_a_file_always_gives_the_same_summary(pack):
    from collections import Counter

    from iop_cli.batch.summary import Summary

    summary = Summary(rows=4, status=Counter({"review": 1, "ok": 3}), errors=Counter({"b": 2, "a": 2, "c": 5}))
    data = contracts.score_summary(summary, pack, "in.csv", "out.csv")
    assert [e["reason"] for e in data["top_errors"]] == ["c", "a", "b"]
    assert list(data["status"]) == ["ok", "review"]


def test_validate_json_shape_both_ways(tmp_path):
    good = _json("rules", "validate", "--format", "json")
    assert problems(good, VALIDATE) == [] and good["ok"] and good["counts"]["rules"] == 14
    broken = tmp_path / "pack"
    broken.mkdir()
    (broken / "pack.yaml").write_text("name: x\n")
    result = iop_in_process("rules", "validate", str(broken), "--format", "json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and problems(data, VALIDATE) == []
    assert not data["ok"] and data["problems"] and data["pack"] is None


def test_rules_test_json_shape():
    data = _json("rules", "test", "--format", "json")
    assert problems(data, TEST_REPORT) == [] and data["failed"] == 0 and data["passed"] == len(data["cases"]) > 100


def test_rules_diff_json_shape(tmp_path):
    v1 = str(ROOT / "tests" / "packs" / "v1")
    intakes = ROOT / "tests" / "corpus" / "score" / "good.csv"
    default = str(ROOT / "rules" / "default")
    data = _json("rules", "diff", v1, default, "--on", str(intakes), "--format", "json")
    assert problems(data, DIFF) == [], problems(data, DIFF)
    assert data["edits"] and data["placements"]["rows"] == 1
    bare = _json("rules", "diff", default, default, "--regions", "0", "--format", "json")
    assert problems(bare, DIFF) == [] and bare["regions"] is None and bare["placements"] is None


def test_config_json_shape():
    assert problems(_json("config", "show", "--format", "json"), CONFIG) == []


def test_lint_sarif_is_sarif_2_1_0():
    data = _json("rules", "lint", "--format", "sarif")
    assert data["version"] == "2.1.0" and data["$schema"].endswith("sarif-2.1.0.json")
    [run] = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "iop rules lint" and driver["version"]
    ids = [rule["id"] for rule in driver["rules"]]
    assert run["results"]
    for result in run["results"]:
        extra = {k: result.pop(k) for k in ("properties", "suppressions") if k in result}
        assert problems(result, SARIF_RESULT) == []
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert not result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("/")
        # The default pack's findings are all allowed: notes, each suppressed with the pack's reason.
        assert result["level"] == "note" and extra["suppressions"][0]["kind"] == "inSource"
