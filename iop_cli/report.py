"""The recommendation report: a stable JSON form of a Decision, and Rich and Markdown views of it.

`decision_dict` is the JSON contract (documented in the README). The Rich and Markdown views are built from that
same dict so every format says the same thing. Rich is imported only when a terminal report is drawn.
"""

from __future__ import annotations

from typing import Any

from .engine import DISCLAIMER, SCHEMA_VERSION, Decision
from .pack import Pack

SEVERITY_TITLE = {"safety": "Safety", "caution": "Caution", "info": "Note"}


def decision_dict(decision: Decision, pack: Pack) -> dict[str, Any]:
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
            "summary": level.summary,
            "involves": list(level.involves),
            "next_steps": list(level.next_steps),
        },
        "basis": decision.basis,
        "rule": decision.rule,
        "reason": decision.reason,
        "would_be": decision.would_be,
        "alerts": [
            {"id": a.id, "severity": a.severity, "message": a.message, "because": a.because} for a in decision.alerts
        ],
        "missing": [{"field": f, "label": pack.questions[f].label} for f in decision.missing],
        "not_assessed": [{"rule": n.rule, "fields": list(n.fields)} for n in decision.not_assessed],
        "ignored": list(decision.ignored),
        "answers": {k: v for k, v in decision.values.items() if v is not None},
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


def _not_assessed_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for item in data["not_assessed"]:
        fields = ", ".join(item["fields"]) or "an unanswered field"
        lines.append(f"{item['rule']}: needs {fields}")
    return lines


def _level_line(level: dict[str, Any]) -> str:
    parts = [f"level {level['code']}" if level["code"] not in ("", "-") else "", level["intensity"]]
    return " · ".join(p for p in parts if p)


def _why(data: dict[str, Any]) -> str:
    if data["basis"] == "rule":
        return f"{data['reason']} (rule {data['rule']})"
    if data["basis"] == "missing_answers" and data["would_be"]:
        return f"{data['reason']} With the answers given, rule {data['would_be']} matched."
    return data["reason"]


def _pack_line(data: dict[str, Any]) -> str:
    pack = data["pack"]
    return f"Rule pack {pack['name']} {pack['version']} (sha256 {pack['hash'][:12]})"


def markdown(data: dict[str, Any]) -> str:
    level = data["level"]
    out: list[str] = ["# Placement recommendation", ""]
    safety = [a for a in data["alerts"] if a["severity"] == "safety"]
    if safety:
        out += ["## ⚠ Safety alerts", ""]
        out += [f"- **{a['message']}** {a['because']}" for a in safety]
        out.append("")
    out += [f"## Recommended: {level['name']}", "", f"*{_level_line(level)}*", "", f"**Why:** {_why(data)}", ""]
    if data["missing"] and data["basis"] != "missing_answers":
        out += [
            "**Missing required answers:** " + ", ".join(f"{m['field']} ({m['label']})" for m in data["missing"]),
            "",
        ]
    out += [level["summary"], ""]
    if level["involves"]:
        out += ["### What it involves", ""] + [f"- {line}" for line in level["involves"]] + [""]
    if level["next_steps"]:
        out += ["### Next steps", ""] + [f"- {line}" for line in level["next_steps"]] + [""]
    others = [a for a in data["alerts"] if a["severity"] != "safety"]
    if others:
        out += ["### Other alerts", ""]
        out += [f"- {SEVERITY_TITLE.get(a['severity'], a['severity'])}: {a['message']} {a['because']}" for a in others]
        out.append("")
    if data["not_assessed"]:
        out += ["### Not assessed", ""] + [f"- {line}" for line in _not_assessed_lines(data)] + [""]
    if data["ignored"]:
        out += ["Answers ignored because their questions do not apply: " + ", ".join(data["ignored"]), ""]
    out += ["---", "", _pack_line(data), "", f"*{data['disclaimer']}*", ""]
    return "\n".join(out)


def render(data: dict[str, Any], console) -> None:
    """Draw the report on a Rich console: safety alerts first, then the level, why, and what it involves."""
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    level = data["level"]
    safety = [a for a in data["alerts"] if a["severity"] == "safety"]
    if safety:
        lines = Text()
        for i, alert in enumerate(safety):
            if i:
                lines.append("\n")
            lines.append("⚠ " + alert["message"], style="bold")
            lines.append(f"  {alert['because']}")
        console.print(Panel(lines, title="SAFETY ALERTS", title_align="left", border_style="bold red", box=box.HEAVY))

    head = Text()
    head.append(level["name"], style="bold")
    head.append(f"\n{_level_line(level)}", style="dim")
    body: list[Any] = [head, Text()]
    why = Text()
    why.append("Why: ", style="bold")
    why.append(_why(data))
    body.append(why)
    if data["missing"] and data["basis"] != "missing_answers":
        missing = Text()
        missing.append("Missing required answers: ", style="bold yellow")
        missing.append(", ".join(m["field"] for m in data["missing"]))
        body.append(missing)
    body += [Text(), Text(level["summary"])]
    console.print(Panel(Group(*body), title="RECOMMENDATION", title_align="left", border_style="cyan"))

    def bullets(title: str, lines: list[str], style: str = "") -> None:
        if not lines:
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=3, justify="right")
        grid.add_column()
        for line in lines:
            grid.add_row("•", line)
        console.print(Text(title, style="bold " + style))
        console.print(grid)

    bullets("What it involves", level["involves"])
    bullets("Next steps", level["next_steps"])
    others = [a for a in data["alerts"] if a["severity"] != "safety"]
    bullets(
        "Other alerts",
        [f"{SEVERITY_TITLE.get(a['severity'])}: {a['message']} {a['because']}" for a in others],
        "yellow",
    )
    bullets("Not assessed", _not_assessed_lines(data))
    if data["ignored"]:
        console.print(Text("Ignored (question does not apply): " + ", ".join(data["ignored"]), style="dim"))
    console.print(Text(_pack_line(data), style="dim"))
    console.print(Text(data["disclaimer"], style="bold"))
