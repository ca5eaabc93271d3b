"""Every JSON shape iop-cli prints or writes, in one place: what a script, a chart system or a warehouse may rely on.

Each function builds one shape from the core's objects; the commands only print what these return (through `dumps`).
`tests/test_contracts.py` pins every shape's keys and types, so a change to one is a deliberate change here and in
that test (and, when it breaks readers, a new `schema_version`). `iop score --format jsonl` rows are the input's
columns followed by `SCORE_COLUMNS`; the pack's own schema (`iop rules schema`) is a JSON Schema, kept in `pack.spec`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from iop_cli.decide.engine import DISCLAIMER, SCHEMA_VERSION, Decision, shown_value
from iop_cli.pack.model import Pack

if TYPE_CHECKING:
    from iop_cli.decide.changes import Change
from iop_cli.pack.spec import OUTCOME_COLUMNS


class Finding(Protocol):
    """What a lint finding shows (`authoring.lint.Finding` is one); a protocol, so the contracts import only the core
    and every adapter may use them."""

    @property
    def code(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def example(self) -> dict[str, Any] | None: ...


SCORE_COLUMNS = OUTCOME_COLUMNS  # after the input's columns, in order; then the profile's (`score_columns`)


def score_columns(pack: Pack, reason: bool = True) -> tuple[str, ...]:
    """The columns `iop score` writes after the input's: the outcome, then one rating per profile dimension;
    without `reason` for `--columns no-reason`."""
    return (*(c for c in SCORE_COLUMNS if reason or c != "reason"), *(d.id for d in pack.profile))


def dumps(data: Any) -> str:
    """JSON as the commands print it: indented, non-ASCII text kept readable, and every control character escaped.
    JSON escapes C0 controls itself; with ensure_ascii=False it leaves DEL, C1 (such as the one-byte CSI) and lone
    surrogates raw, so those are escaped here, and a value read from a file cannot drive the terminal."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return re.sub("[\x7f-\x9f\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


FACT = "[fact]"  # marks a changed answer that is a fact of the person, not something a plan changes


def changes_list(pack: Pack, found: Iterable[Change]) -> list[dict[str, Any]]:
    """What would change a placement (`decide.changes`), as the JSON and the reports hold it."""
    from iop_cli.decide.explain import say

    return [
        {
            "level": change.level,
            "level_name": pack.levels[change.level].name,
            "rule": change.rule,
            "answers": {field: shown_value(value) for field, value in change.answers.items()},
            "facts": list(change.facts),
            "text": "; ".join(
                say(pack.questions[field], value) + (f" {FACT}" if field in change.facts else "")
                for field, value in change.answers.items()
            ),
        }
        for change in found
    ]


def decision_dict(decision: Decision, pack: Pack, changes: Iterable[Change] = ()) -> dict[str, Any]:
    """`iop check --format json`, and the report a record keeps: one decision with its reasons, alerts, what was
    missing or not assessed, the answers used and the trace of every rule tried."""
    level = decision.level
    return {
        "schema_version": SCHEMA_VERSION,
        "pack": {"name": decision.pack_name, "version": decision.pack_version, "hash": decision.pack_hash},
        "level": {
            "id": level.id,
            "name": level.name,
            "code": level.code,
            "intensity": level.intensity,
            "rank": level.rank,
            "urgent": level.urgent,
            "summary": level.summary,
            "involves": list(level.involves),
            "next_steps": list(level.next_steps),
        },
        "status": decision.status,
        "basis": decision.basis,
        "rule": decision.rule,
        "reason": decision.reason,
        "would_be": decision.would_be,
        "grounds": [{"field": g.field, "value": shown_value(g.value), "text": g.text} for g in decision.grounds],
        "alerts": [
            {
                "id": a.id,
                "severity": a.severity,
                "message": a.message,
                "because": a.because,
                "provisional": a.provisional,
            }
            for a in decision.alerts
        ],
        "missing": [{"field": f, "label": pack.questions[f].label} for f in decision.missing],
        "possible": list(decision.possible),
        "deciding": list(decision.deciding),
        "not_assessed": [{"rule": n.rule, "fields": list(n.fields)} for n in decision.not_assessed],
        "partly_answered": [{"field": f, "at_least": lo, "at_most": hi} for f, lo, hi in decision.partial],
        "changes": changes_list(pack, changes),
        "ignored": list(decision.ignored),
        "ignored_answers": [
            {"field": f, "label": pack.questions[f].label, "reason": ignored_reason(pack, f)} for f in decision.ignored
        ],
        "contradictions": [
            {
                "field": follow_up,
                "gate": gate,
                "text": f"{pack.questions[follow_up].label} yes, though {pack.questions[gate].label} no: "
                "counted as yes to both",
            }
            for follow_up, gate in decision.contradictions
        ],
        "answers": {k: v for k, v in decision.values.items() if v is not None},
        "profile": [
            {
                "id": d.id,
                "name": d.name,
                "rating": d.rating,
                "rated": d.rating is not None,
                "highest": d.highest,
                "because": d.because,
                "answers": d.answers,
                "open": list(d.open),
            }
            for d in decision.profile
        ],
        "trace": [
            {
                "rule": t.rule,
                "kind": t.kind,
                "result": t.result,
                "outcome": t.outcome,
                "values": t.values,
                "clauses": [{"text": text, "result": result} for text, result in t.clauses],
            }
            for t in decision.trace
        ],
        "disclaimer": DISCLAIMER,
    }


def ignored_reason(pack, field: str) -> str:
    """Why an answer was not used: its question does not apply to this person (its ask_if is false)."""
    from iop_cli.lang.tree import Not, Ref
    from iop_cli.lang.words import plain

    ask_if = pack.questions[field].ask_if
    root = ask_if.root if ask_if is not None else None
    # A yes/no field the pack words (`says`): "opioids in use", not "uses_opioids is yes".
    match root:
        case Ref(name=name) if pack.questions[name].says.get("yes"):
            condition = pack.questions[name].says["yes"]
        case Not(operand=Ref(name=name)) if pack.questions[name].says.get("no"):
            condition = pack.questions[name].says["no"]
        case None:
            condition = "its condition holds"
        case _:
            condition = plain(root)
    return f"not used: the question applies only when {condition}, and that is not so here"


def record_dict(record, reasons: dict[str, str], history: Iterable[Any] = ()) -> dict[str, Any]:
    """`iop records show --format json` and `iop records export --format json`: a stored record, its placement and
    the report it showed, and the client's level history (every intake with the same client id, oldest first)."""
    placement = None
    if record.status == "complete":
        placement = {
            "recommended": record.recommended_level,
            "recommended_name": (record.report or {}).get("level", {}).get("name"),
            "actual": record.actual_level,
            "actual_name": record.actual_level_name,
            "overridden": record.overridden,
            # Levels apart in order of intensity (positive: more intensive); None before the store kept it.
            "steps": record.placement_steps,
            "reason": record.placement_reason,
            "reason_text": reasons.get(record.placement_reason or "", None),
            "note": record.placement_note,
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "record": {
            "id": record.id,
            "status": record.status,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "client_id": record.client_id,
            "pack": {"name": record.pack_name, "version": record.pack_version, "hash": record.pack_hash},
            "previous_id": record.previous_id,  # the record this one reassessed (`iop intake --from`)
        },
        "placement": placement,
        "history": [
            {
                "id": other.id,
                "status": other.status,
                "updated_at": other.updated_at,
                "recommended": other.recommended_level,
                "actual": other.actual_level,
                "steps": other.placement_steps,
                "previous_id": other.previous_id,
            }
            for other in history
        ],
        "answers": record.answers,
        "report": record.report,
    }


def record_row(record) -> dict[str, Any]:
    """`iop records list --json`: one line of the records table."""
    return {
        "id": record.id,
        "status": record.status,
        "updated_at": record.updated_at,
        "client_id": record.client_id,
        "recommended": record.recommended_level,
        "actual": record.actual_level,
        "steps": record.placement_steps,
        "pack_version": record.pack_version,
        "damaged": record.damage is not None,
    }


def lint_report(findings: Iterable[Finding]) -> dict[str, Any]:
    """`iop rules lint --format json`: every finding, and how many there are of each severity."""
    found = list(findings)
    return {
        "findings": [
            {
                "code": f.code,
                "key": f.key,
                "severity": f.severity,
                "where": f.where,
                "message": f.message,
                "example": f.example,
            }
            for f in found
        ],
        "counts": {level: sum(f.severity == level for f in found) for level in ("error", "warning", "info")},
    }


def score_summary(summary, pack: Pack, input_name: str, output_name: str) -> dict[str, Any]:
    """`iop score --summary-json`: what a run scored, how long it took, and the commonest errors and reviews."""
    return {
        "input": input_name,
        "output": output_name,
        "rows": summary.rows,
        "seconds": round(summary.seconds, 3),
        "pack": {"name": pack.name, "version": pack.version, "hash": pack.hash},
        "status": dict(_ranked(summary.status)),
        "levels": dict(_ranked(summary.levels)),
        "top_errors": [{"reason": r, "rows": n} for r, n in _ranked(summary.errors)[:10]],
        "error_rows": {
            "rows": summary.status.get("error", 0),
            "first": list(summary.error_rows),
            "counted_as": summary.counted_as,
        },
        "top_review_reasons": [{"reason": r, "rows": n} for r, n in _ranked(summary.review_reasons)[:10]],
        "missing_answers": [{"field": f, "rows": n} for f, n in _ranked(summary.missing)],
        "alerts": [{"alert": a, "rows": n} for a, n in _ranked(summary.alerts)],
        "review_ranges": [
            {"level_min": low, "level_max": high, "rows": n}
            for (low, high), n in sorted(summary.review_ranges.items(), key=lambda item: (-item[1], item[0]))
        ],
        "unanswered_fields": summary.not_in_file,
    }


def _ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Most rows first, and ties in name order: the counts come from parallel batches, whose order varies from run
    to run, and the same file must give the same summary."""
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


def config_report(path: str, exists: bool, settings: list[dict[str, Any]]) -> dict[str, Any]:
    """`iop config show --format json`: the config file's path, whether it is there, and each setting's value and
    source."""
    return {"config_file": path, "exists": exists, "settings": settings}


def _pack_facts(pack: Pack) -> dict[str, str]:
    return {"name": pack.name, "version": pack.version, "hash": pack.hash}


def validate_report(pack: Pack | None, problems: Iterable[Any] = ()) -> dict[str, Any]:
    """`iop rules validate --format json`: the pack and what it holds, or every problem that stops it loading."""
    if pack is None:
        return {
            "ok": False,
            "pack": None,
            "counts": None,
            "problems": [{"where": p.where, "message": p.message, "hint": p.hint} for p in problems],
        }
    counts = {
        "questions": len(pack.asked),
        "computed": len(pack.computed),
        "levels": len(pack.levels),
        "rules": len(pack.rules),
        "alerts": len(pack.alerts),
        "tests": len(pack.tests),
    }
    return {"ok": True, "pack": _pack_facts(pack), "counts": counts, "problems": []}


def test_report(pack: Pack, results: Iterable[Any], untested: list[str], got: Any) -> dict[str, Any]:
    """`iop rules test --format json`: each case (given, expected, what it got where it failed, each failure), and
    what no case exercises. `got` turns a decision into a test's vocabulary (`authoring.tests.got_for`)."""
    cases = []
    for result in results:
        case = result.case
        found = got(result.decision)
        cases.append(
            {
                "name": case.name,
                "where": str(case.mark),
                "passed": result.passed,
                "given": case.given,
                "expected": case.expect,
                "got": {k: found[k] for k in case.expect if k in found},
                "failures": list(result.failures),
            }
        )
    passed = sum(c["passed"] for c in cases)
    return {
        "pack": _pack_facts(pack),
        "passed": passed,
        "failed": len(cases) - passed,
        "cases": cases,
        "untested": untested,
    }


def diff_report(old: Pack, new: Pack, edits: list[str], found: Any, moves: Any) -> dict[str, Any]:
    """`iop rules diff --format json`: the edits, the regions of answers whose level changes (`authoring.diff.Impact`,
    or null with --regions 0), and with --on the placements old -> new over the intakes (or null)."""
    regions = None
    if found is not None:
        regions = {
            "compared": not found.unlike,
            "not_comparable": list(found.unlike),
            "not_compared": list(found.unshared),
            "complete": found.complete,
            "moved": [
                {
                    "old_level": m.old_level,
                    "new_level": m.new_level,
                    "old_rule": m.old_rule,
                    "new_rule": m.new_rule,
                    "answers": m.region,
                    "text": m.text,
                }
                for m in found.moved
            ],
        }
    placements = None
    if moves is not None:
        placements = {
            "input": moves.input,
            "rows": moves.rows,
            "unchanged": moves.unchanged,
            "moved": [
                {"old_level": o, "new_level": n, "rows": rows, "example_data_rows": examples}
                for (o, n), rows, examples in moves.moved
            ],
            "matrix": [{"old_level": o, "new_level": n, "rows": rows} for (o, n), rows in moves.pairs],
        }
    return {
        "old": _pack_facts(old),
        "new": _pack_facts(new),
        "edits": edits,
        "regions": regions,
        "placements": placements,
    }


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def sarif_report(findings: Iterable[Finding], pack: Pack, version: str, allowed: dict[str, str]) -> dict[str, Any]:
    """`iop rules lint --format sarif`: SARIF 2.1.0 for code-scanning tools (GitHub code scanning and the like). One
    rule per finding code; a finding the pack allows is a note with its reason as an in-source suppression; paths are
    relative to the working folder where they can be, as code scanning wants them."""
    import os

    found = list(findings)
    codes = sorted({f.code for f in found})
    results = []
    for f in found:
        path, line, column = _position(f.where)
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(path, os)}}
        if line:
            location["region"] = {"startLine": line, **({"startColumn": column} if column else {})}
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"iopFindingKey/v1": f.key},
        }
        if f.example:
            result["properties"] = {"example": f.example}
        if f.severity == "info":
            result["suppressions"] = [{"kind": "inSource", "justification": allowed.get(f.key, "allowed in the pack")}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "iop rules lint",
                        "version": version,
                        "rules": [{"id": code, "shortDescription": {"text": code.replace("-", " ")}} for code in codes],
                    }
                },
                "results": results,
                "properties": {"pack": _pack_facts(pack)},
            }
        ],
    }


def _position(where: str) -> tuple[str, int | None, int | None]:
    """`path:line:col` (or `path:line`, or a path) as its parts."""
    parts = where.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    parts = where.rsplit(":", 1)
    if len(parts) == 2 and parts[1].isdigit():
        return parts[0], int(parts[1]), None
    return where, None, None


def _uri(path: str, os: Any) -> str:
    """A file under the working folder as a relative URI, another as an absolute `file:` URI."""
    from pathlib import Path

    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path(os.getcwd()).resolve()).as_posix()
    except ValueError:
        return absolute.as_uri()
