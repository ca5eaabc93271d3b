"""The recommendation report: Rich and Markdown views of a decision's JSON form (`output.contracts.decision_dict`),
built from that same dict so every format says the same thing. Rich is imported only when a terminal report is drawn.
"""

from __future__ import annotations

from typing import Any

SEVERITY_TITLE = {"safety": "Safety", "caution": "Caution", "info": "Note"}


def _ignored_lines(data: dict) -> list[str]:
    """Each answer given to a question that does not apply, with why (reports stored before schema 2 name only
    the field)."""
    if "ignored_answers" not in data:
        return [f"{field}: not used, the question does not apply" for field in data["ignored"]]
    return [f"{item['label']} ({item['field']}): {item['reason']}" for item in data["ignored_answers"]]


def _not_assessed_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    # A total partly answered: its items so far fix a range (reports saved before there was one have none).
    partly = {
        p["field"]: f"{p['field']} (partly answered: between {p['at_least']} and {p['at_most']})"
        for p in data.get("partly_answered", [])
    }
    for item in data["not_assessed"]:
        fields = ", ".join(partly.get(f, f) for f in item["fields"]) or "an unanswered field"
        lines.append(f"{item['rule']}: needs {fields}")
    return lines


PROFILE_TITLE = "Profile: need by dimension (0 none .. 4 most urgent)"
CHANGES_TITLE = "What would change the placement"
FACT = "[fact]"  # as output.contracts marks a changed answer that is a fact of the person


def change_lines(data: dict[str, Any]) -> list[str]:
    """ "LEVEL if: ANSWERS", the first of the nearest changes to each other level but review (the JSON has them
    all; reports saved before there were changes have none), and what [fact] means."""
    firsts: dict[str, str] = {}
    for change in data.get("changes", []):
        if change["rule"] is not None:  # review is not a placement to aim for
            firsts.setdefault(change["level_name"], change["text"])
    lines = [f"{name} if: {text}" for name, text in firsts.items()]
    if any(FACT in line for line in lines):
        lines.append(f"{FACT}: an answer about the person (history, symptoms), not something a plan changes")
    return lines


def _answer_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "+".join(map(str, value)) or "none"
    return str(value)


def _profile_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(dimension, need, what the rating means, the answers behind it) per dimension; the highest needs marked.
    A dimension not rated names the answers it waits on. Reports stored before the profile have none."""
    rows = []
    for item in data.get("profile", []):
        if item["rating"] is None:
            waits = ", ".join(item["open"]) or "answers that are missing"
            rows.append((item["name"], "not rated", "", f"waits on {waits}"))
            continue
        need = f"{item['rating']} highest" if item["highest"] else str(item["rating"])
        answers = ", ".join(f"{k}={_answer_text(v)}" for k, v in item["answers"].items())
        rows.append((item["name"], need, item["because"], answers))
    return rows


def _profile_note(data: dict[str, Any]) -> list[str]:
    """With a dimension not rated, the highest need marked is the highest of those rated: say so."""
    if not any(item["rating"] is None for item in data.get("profile", [])):
        return []
    return ["Highest among the dimensions rated; one not rated could still be higher once its answers are in."]


# A level that stands with required answers missing: every way of answering them leads to it (`decide.missing`).
MISSING_STANDS = " (the level is the same whatever they are)"


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


PROVISIONAL = "PROVISIONAL: the recommended level stands, but a safety assessment it rests on is incomplete"
URGENT = "URGENT"  # the title of a recommendation to an urgent level (crisis, inpatient): the loudest thing shown


def urgent(data: dict[str, Any]) -> bool:
    """Whether the level is one the pack marks urgent (reports stored before the mark: crisis by its id)."""
    level = data["level"]
    return bool(level.get("urgent", level["id"] == "crisis"))


def safety_headline(data: dict[str, Any]) -> str | None:
    """The one line that leads every surface when the result is a safety matter: an urgent level with its reason,
    else the count of safety alerts with the first; None when there is neither."""
    if urgent(data):
        return f"⚠ {URGENT}: {data['level']['name']}. {data['reason']}"
    safety = [a for a in data["alerts"] if a["severity"] == "safety"]
    if safety:
        more = f" (and {len(safety) - 1} more)" if len(safety) > 1 else ""
        return f"⚠ SAFETY ALERT: {safety[0]['message']}{more}"
    return None


def _provisional(data: dict[str, Any]) -> list[str]:
    """Why a decision is provisional (its provisional alerts), or [] when it is not (or predates the status)."""
    if data.get("status") != "provisional":
        return []
    return [a["message"] for a in data["alerts"] if a.get("provisional")]


def summary_lines(data: dict[str, Any], width: int) -> list[tuple[str, str]]:
    """The report in a few lines, each cut to `width`, for the screen where the placement is chosen (the full report
    may have scrolled away): the level (marked when urgent), its reason on up to two lines, and one line per safety
    alert or provisional reason. Each line comes with its kind: urgent, level, why, safety."""
    import textwrap

    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1].rstrip() + "…"

    level = data["level"]
    provisional = " (PROVISIONAL)" if _provisional(data) else ""
    lines = [("urgent", cut(f"⚠ {URGENT}: {level['name']}{provisional}"))] if urgent(data) else []
    lines += [] if urgent(data) else [("level", cut(f"Recommended: {level['name']}{provisional}"))]
    why = textwrap.wrap("Why: " + data["reason"], width, break_on_hyphens=False)
    lines += [("why", line) for line in why[:2]]
    if len(why) > 2:
        lines.append(("why", cut(" ".join(why[2:]))))
    shown = set()
    for alert in data["alerts"]:
        if alert["severity"] == "safety":
            lines.append(("safety", cut(f"⚠ {alert['message']}")))
            shown.add(alert["message"])
    # A provisional reason not already a safety line above (each is an alert's message).
    lines += [("safety", cut(f"⚠ {line}")) for line in _provisional(data) if line not in shown]
    return lines


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a `|` would end the cell."""
    return text.replace("|", "\\|")


def md_text(text: str) -> str:
    """Text someone typed (a note, a client id, an answer) as Markdown that shows it as typed: markup characters
    and HTML are escaped, so `<b>room</b>` stays those characters."""
    import re

    return re.sub(r"([\\`*{}\[\]<>#|~&])", r"\\\1", text)  # `_` too would spoil every field id


def local_time(at: str | Any) -> str:
    """An ISO time (or datetime) as the reader's local time with its zone: "2026-12-07 09:30 CET"."""
    from datetime import datetime

    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def answer_sections(pack, answers: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The answers given, as the interview asked them: by section, in pack order, each by its question's label
    (its words for a choice). Answers to questions the pack no longer has come last, by id."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    seen = set()
    for question in pack.asked:
        if question.id not in answers:
            continue
        seen.add(question.id)
        title = pack.sections[question.section].title if question.section in pack.sections else "Other answers"
        if not sections or sections[-1][0] != title:
            sections.append((title, []))
        sections[-1][1].append((question.label, shown_answer(question, answers[question.id])))
    rest = [(name, _answer_text(value)) for name, value in answers.items() if name not in seen]
    if rest:
        sections.append(("Not in the pack", rest))
    return sections


def shown_answer(question, value: Any) -> str:
    """An answer in words: Yes/No, a choice's label, a selection's labels, a number as it is."""
    if value is None:
        return "(skipped)"
    if question.type == "yesno" and isinstance(value, bool):
        return "Yes" if value else "No"
    if question.type == "choice" and value in question.choice_values:
        return question.choice_label(value)
    if question.type == "multi" and isinstance(value, list | tuple):
        return ", ".join(question.choice_label(v) if v in question.choice_values else str(v) for v in value) or "None"
    return str(value)


def markdown_note(data: dict[str, Any], pack, answers: dict[str, Any], at) -> str:
    """`iop check --format markdown`: the report as a note for a chart: client id and date first, the answers by
    question at the end."""
    client = answers.get("client_id")
    head = [f"- **Client id:** {md_text(str(client)) if client else '(none)'}", f"- **Date:** {local_time(at)}", ""]
    body = markdown(data, pack).removeprefix("# Placement recommendation\n\n")
    out = ["# Placement recommendation", "", *head, body.rstrip("\n"), "", "## Answers", ""]
    for title, rows in answer_sections(pack, answers):
        out += [f"### {md_text(title)}", ""] + [f"- {md_text(label)}: {md_text(value)}" for label, value in rows] + [""]
    return "\n".join(out)


def markdown(data: dict[str, Any], pack=None) -> str:
    """The report as Markdown; with the decision's `pack`, what was not assessed is said in words."""
    level = data["level"]
    out: list[str] = ["# Placement recommendation", ""]
    recommended = [f"*{_level_line(level)}*", "", f"**Why:** {_why(data)}", ""]
    if urgent(data):  # the urgent level itself leads, above everything else
        out += [f"## ⚠ {URGENT}: {level['name']}", ""] + recommended
    safety = [a for a in data["alerts"] if a["severity"] == "safety"]
    if safety:
        out += ["## ⚠ Safety alerts", ""]
        out += [f"- **{a['message']}** {a['because']}" for a in safety]
        out.append("")
    if _provisional(data):
        out += [f"## {PROVISIONAL}", ""] + [f"- {line}" for line in _provisional(data)] + [""]
    if not urgent(data):
        out += [f"## Recommended: {level['name']}", ""] + recommended
    if data["missing"] and data["basis"] != "missing_answers":
        out += [
            "**Missing required answers:** "
            + ", ".join(f"{m['field']} ({m['label']})" for m in data["missing"])
            + MISSING_STANDS,
            "",
        ]
    out += [level["summary"], ""]
    if level["involves"]:
        out += ["### What it involves", ""] + [f"- {line}" for line in level["involves"]] + [""]
    if level["next_steps"]:
        out += ["### Next steps", ""] + [f"- {line}" for line in level["next_steps"]] + [""]
    if _profile_rows(data):
        out += [f"### {PROFILE_TITLE}", "", "| dimension | need | why | answers |", "|---|---|---|---|"]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in _profile_rows(data)] + [""]
        out += [f"*{line}*" for line in _profile_note(data)] + ([""] if _profile_note(data) else [])
    others = [a for a in data["alerts"] if a["severity"] != "safety"]
    if others:
        out += ["### Other alerts", ""]
        out += [f"- {SEVERITY_TITLE.get(a['severity'], a['severity'])}: {a['message']} {a['because']}" for a in others]
        out.append("")
    if data["not_assessed"]:
        out += ["### Not assessed", ""] + [f"- {line}" for line in not_assessed_words(data, pack)] + [""]
    if change_lines(data):
        out += [f"### {CHANGES_TITLE}", ""] + [f"- {line}" for line in change_lines(data)] + [""]
    if data.get("contradictions"):
        out += ["### Contradicting answers", ""] + [f"- {c['text']}" for c in data["contradictions"]] + [""]
    if data["ignored"]:
        out += ["### Ignored answers", ""] + [f"- {line}" for line in _ignored_lines(data)] + [""]
    out += ["---", "", _pack_line(data), "", f"*{data['disclaimer']}*", ""]
    return "\n".join(out)


def render(data: dict[str, Any], console, pack=None) -> None:
    """Draw the report on a Rich console: safety alerts first, then the level, why, and what it involves."""
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    level = data["level"]
    loud = urgent(data)
    head = Text()
    head.append(level["name"].upper() if loud else level["name"], style="bold")
    head.append(f"\n{_level_line(level)}", style="dim")
    body: list[Any] = [head, Text()]
    why = Text()
    why.append("Why: ", style="bold")
    why.append(_why(data))
    body.append(why)
    if data["missing"] and data["basis"] != "missing_answers":
        missing = Text()
        missing.append("Missing required answers: ", style="bold yellow")
        missing.append(", ".join(m["field"] for m in data["missing"]) + MISSING_STANDS)
        body.append(missing)
    body += [Text(), Text(level["summary"])]
    # An urgent level is the loudest thing on the screen: first, heavy and red, and with NO_COLOR still set apart by
    # its heavy border and its title.
    recommendation = Panel(
        Group(*body),
        title=f"⚠ {URGENT}: RECOMMENDATION" if loud else "RECOMMENDATION",
        title_align="left",
        border_style="bold red" if loud else "cyan",
        box=box.HEAVY if loud else box.ROUNDED,
    )
    if loud:
        console.print(recommendation)
    safety = [a for a in data["alerts"] if a["severity"] == "safety"]
    if safety:
        lines = Text()
        for i, alert in enumerate(safety):
            if i:
                lines.append("\n")
            lines.append("⚠ " + alert["message"], style="bold")
            lines.append(f"  {alert['because']}")
        console.print(Panel(lines, title="SAFETY ALERTS", title_align="left", border_style="bold red", box=box.HEAVY))
    if _provisional(data):
        reasons = Text("\n".join("• " + line for line in _provisional(data)))
        title, _, rest = PROVISIONAL.partition(": ")
        console.print(
            Panel(
                Group(Text(rest[0].upper() + rest[1:] + ":", style="bold"), reasons),
                title=title,
                title_align="left",
                border_style="bold yellow",
                box=box.HEAVY,
            )
        )

    if not loud:
        console.print(recommendation)

    def bullets(title: str, lines: list[str], style: str = "") -> None:
        if not lines:
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=3, justify="right")
        grid.add_column()
        for line in lines:
            grid.add_row("•", Text(line))  # plain text: a bracket in it is not Rich markup
        console.print(Text(title, style="bold " + style))
        console.print(grid)

    rows = _profile_rows(data)
    if rows:
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="dim", expand=True)
        table.add_column("Dimension", ratio=3)
        table.add_column("Need", no_wrap=True)
        table.add_column("Behind it", ratio=5)
        for name, need, _, answers in rows:
            style = "bold" if need.endswith("highest") else ("dim" if need == "not rated" else "")
            table.add_row(name, need, answers, style=style)
        console.print(Text(PROFILE_TITLE, style="bold"))
        console.print(table)
        for line in _profile_note(data):
            console.print(Text(line, style="dim"))
    bullets("What it involves", level["involves"])
    bullets("Next steps", level["next_steps"])
    others = [a for a in data["alerts"] if a["severity"] != "safety"]
    bullets(
        "Other alerts",
        [f"{SEVERITY_TITLE.get(a['severity'])}: {a['message']} {a['because']}" for a in others],
        "yellow",
    )
    bullets("Not assessed", not_assessed_words(data, pack))
    bullets(CHANGES_TITLE, change_lines(data))
    bullets("Contradicting answers", [c["text"] for c in data.get("contradictions", [])], "yellow")
    bullets("Ignored answers", _ignored_lines(data), "yellow")
    console.print(Text(_pack_line(data), style="dim"))
    console.print(Text(data["disclaimer"], style="bold"))


# ----------------------------------------------------------------------------------------------------------------
# Stored intake records: the report as it was shown, plus the placement the counselor recorded.


def placement_lines(data: dict[str, Any]) -> list[str]:
    placement = data["placement"]
    if placement is None:
        return ["Not recorded yet: this intake is a draft."]
    lines = [f"Recommended: {placement['recommended_name']}"]
    if placement["overridden"]:
        steps = placement.get("steps")
        size = ""
        if steps:
            size = f" ({abs(steps)} step{'s' if abs(steps) > 1 else ''} {'up' if steps > 0 else 'down'})"
        lines.append(f"Actual: {placement['actual_name']}{size}")
        lines.append(f"Reason: {placement['reason_text'] or placement['reason']}")
    else:
        lines.append("Actual: as recommended")
    if placement["note"]:
        lines.append(f"Note: {placement['note']}")
    return lines


def _record_head(data: dict[str, Any]) -> list[tuple[str, str]]:
    record = data["record"]
    head = [
        ("Record", str(record["id"])),
        ("Status", record["status"]),
        ("Client id", record["client_id"] or "(none)"),
        ("Started", record["created_at"]),
        ("Last saved", record["updated_at"]),
    ]
    if record.get("previous_id"):
        head.append(("Reassessment of", f"record {record['previous_id']}"))
    return head


HISTORY_TITLE = "Level history of this client id"


def history_lines(data: dict[str, Any]) -> list[str]:
    """The client's intakes over time, oldest first: date, recommended and actual level, this record marked. Empty
    when the record is the client's only one (or has no client id)."""
    rows = data.get("history", [])
    if len(rows) < 2:
        return []
    lines = []
    for row in rows:
        if row["status"] != "complete":
            placed = "draft, not finished"
        else:
            steps = row.get("steps")
            moved = f" ({abs(steps)} {'up' if steps > 0 else 'down'})" if steps else ""
            actual = "as recommended" if row["actual"] == row["recommended"] else f"actual {row['actual']}{moved}"
            placed = f"recommended {row['recommended']}, {actual}"
        this = " (this record)" if row["id"] == data["record"]["id"] else ""
        lines.append(f"record {row['id']}, {row['updated_at'][:10]}: {placed}{this}")
    return lines


def answer_lines(data: dict[str, Any]) -> list[str]:
    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return "(skipped)" if value is None else str(value)

    return [f"{name}: {shown(value)}" for name, value in data["answers"].items()]


def answer_blocks(data: dict[str, Any], pack=None) -> list[tuple[str | None, list[str]]]:
    """The record's answers for every export alike: by question under the interview's section headings when the
    record's pack is at hand (`records` finds it unchanged), else by field id under no heading."""
    if pack is None:
        return [(None, answer_lines(data))]
    return [
        (title, [f"{label}: {value}" for label, value in rows])
        for title, rows in answer_sections(pack, data["answers"])
    ]


def record_markdown(data: dict[str, Any], pack=None) -> str:
    out = [f"# Intake record {data['record']['id']}", ""]
    headline = safety_headline(data["report"]) if data["report"] else None
    if headline:
        out += [f"> **{headline}**", ""]
    out += [f"- **{name}:** {md_text(value)}" for name, value in _record_head(data)] + [""]
    out += ["## Placement", ""] + [f"- {md_text(line)}" for line in placement_lines(data)] + [""]
    if data["report"]:
        out.append(markdown(data["report"]).removeprefix("# Placement recommendation\n\n"))
    if history_lines(data):
        out += [f"## {HISTORY_TITLE}", ""] + [f"- {md_text(line)}" for line in history_lines(data)] + [""]
    out += ["## Answers", ""]
    for title, lines in answer_blocks(data, pack):
        out += ([f"### {md_text(title)}", ""] if title else []) + [f"- {md_text(line)}" for line in lines] + [""]
    return "\n".join(out)


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; color: #111; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; } h2 { font-size: 1.2rem; margin-top: 1.6rem; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; } dt { font-weight: 600; }
.safety { border: 3px solid #b00020; padding: .6rem 1rem; margin: 1rem 0; }
.safety h2 { color: #b00020; margin-top: 0; }
.level { border: 1px solid #555; padding: .6rem 1rem; } .muted { color: #555; font-size: .9rem; }
.level.urgent { border: 6px solid #b00020; background: #fdecee; } .level.urgent h2 { color: #b00020; margin-top: 0; }
.disclaimer { font-weight: 700; margin-top: 1.5rem; }
.sign { margin-top: 2.5rem; break-inside: avoid; } .sign p { margin: 1.4rem 0; }
.line { display: inline-block; width: 16rem; border-bottom: 1px solid #111; margin: 0 1rem 0 .5rem; }
.line.short { width: 8rem; }
@media print { body { margin: 0; max-width: none; font-size: 11pt; } a { color: inherit; }
               .safety, .level { break-inside: avoid; }
               .level.urgent { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def not_assessed_words(data: dict[str, Any], pack) -> list[str]:
    """What was not assessed, in words: the questions by their labels and what could not be decided without them
    (the level a rule leads to, or an alert's message). Without the record's pack, as `_not_assessed_lines`."""
    if pack is None:
        return _not_assessed_lines(data)
    rules = {rule.id: rule for rule in [*pack.rules, *pack.alerts]}
    lines = []
    for item in data["not_assessed"]:
        labels = [pack.questions[f].label if f in pack.questions else f for f in item["fields"]]
        rule = rules.get(item["rule"])
        if rule is not None and getattr(rule, "level", None) in pack.levels:
            what = f"whether {pack.levels[rule.level].name} is needed could not be decided"
        elif rule is not None and getattr(rule, "alert", None):
            what = f"this alert could not be checked: {rule.alert}"
        else:
            what = f"rule {item['rule']} could not be decided"
        lines.append(f"{'; '.join(labels) or 'an answer'}: not answered, so {what}")
    return lines


def _css_string(text: str) -> str:
    """A quoted CSS string that shows `text` as it is: anything but letters, digits, spaces and plain punctuation is
    a hex escape, so no text can end the string or the style element."""
    safe = set(" .,:;-_()'")
    return '"' + "".join(c if c.isalnum() or c in safe else f"\\{ord(c):x} " for c in text) + '"'


def record_html(data: dict[str, Any], chart: dict[str, Any] | None = None) -> str:
    """One self-contained printable page: no scripts, no outside links, styles inline. `chart` (from
    `records export`): the facility and counselor, the record's pack (answers by question, in interview order),
    and the time of printing, for a page ready for a chart: every printed page carries the client id and its
    number, and the last a signature and date line."""
    from html import escape

    def items(lines: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"

    chart = chart or {}
    record = data["record"]
    client = record["client_id"] or "(no client id)"
    day = local_time(record["updated_at"])
    facility = chart.get("facility") or ""
    margin = _css_string(f"Client id {client}")
    page = (
        f"@page {{ margin: 18mm 16mm; @top-left {{ content: {margin}; font-size: 9pt; }}"
        ' @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 9pt; } }'
    )
    head = [("Facility", facility or "(not given)"), ("Counselor", chart.get("counselor") or "(not given)")]
    head += [("Client id", client), ("Intake date", day)]
    head += [(k, v) for k, v in _record_head(data) if k not in ("Client id", "Started", "Last saved")]
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Intake {escape(client)} · {escape(day)}</title>",
        f"<style>{_CSS}{page}</style></head><body>",
        f"<h1>Placement record: {escape(client)}</h1>",
        f'<p class="muted">{escape(facility + " · " if facility else "")}intake of {escape(day)}</p>',
        "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in head) + "</dl>",
    ]
    report = data["report"]
    if report:
        level = report["level"]
        loud = urgent(report)
        recommended = [
            '<section class="level urgent">' if loud else '<section class="level">',
            f"<h2>⚠ {URGENT}: {escape(level['name'])}</h2>"
            if loud
            else f"<h2>Recommended: {escape(level['name'])}</h2>",
            f'<p class="muted">{escape(_level_line(level))}</p>',
            f"<p><strong>Why:</strong> {escape(_why(report))}</p>",
            f"<p>{escape(level['summary'])}</p>",
            "</section>",
        ]
        if loud:  # an urgent level leads the page
            out += recommended
        safety = [a for a in report["alerts"] if a["severity"] == "safety"]
        if safety:
            out.append('<section class="safety"><h2>⚠ Safety alerts</h2>')
            out.append(items([f"{a['message']} {a['because']}" for a in safety]) + "</section>")
        if _provisional(report):
            out.append(f'<section class="safety"><h2>{escape(PROVISIONAL)}</h2>')
            out.append(items(_provisional(report)) + "</section>")
        if not loud:
            out += recommended
    out += ["<h2>Placement</h2>", items(placement_lines(data))]
    if report:
        for title, lines in (
            ("What it involves", report["level"]["involves"]),
            ("Next steps", report["level"]["next_steps"]),
            (
                "Other alerts",
                [
                    f"{SEVERITY_TITLE.get(a['severity'], a['severity'])}: {a['message']} {a['because']}"
                    for a in report["alerts"]
                    if a["severity"] != "safety"
                ],
            ),
            ("Not assessed", not_assessed_words(report, chart.get("pack"))),
            (CHANGES_TITLE, change_lines(report)),
            (
                PROFILE_TITLE,
                [
                    f"{name}: {need}" + (f". {why}" if why else "") + (f" ({answers})" if answers else "")
                    for name, need, why, answers in _profile_rows(report)
                ]
                + _profile_note(report),
            ),
            ("Contradicting answers", [c["text"] for c in report.get("contradictions", [])]),
            ("Ignored answers", _ignored_lines(report) if report["ignored"] else []),
        ):
            if lines:
                out += [f"<h3>{escape(title)}</h3>", items(lines)]
    if history_lines(data):
        out += [f"<h2>{escape(HISTORY_TITLE)}</h2>", items(history_lines(data))]
    out.append("<h2>Answers</h2>")
    for heading, answered in answer_blocks(data, chart.get("pack")):
        out += ([f"<h3>{escape(heading)}</h3>"] if heading else []) + [items(answered)]
    if report:
        out += [f'<p class="muted">{escape(_pack_line(report))}</p>']
        out += [f'<p class="disclaimer">{escape(report["disclaimer"])}</p>']
    if chart:
        printed = local_time(chart["printed_at"]) if chart.get("printed_at") else ""
        out += [
            '<section class="sign">',
            f'<p>Counselor: {escape(chart.get("counselor") or "")}<span class="line"></span></p>',
            '<p>Signature<span class="line"></span> Date<span class="line short"></span></p>',
            f'<p class="muted">Printed {escape(printed)} by iop-cli.</p>' if printed else "",
            "</section>",
        ]
    out.append("</body></html>")
    return "\n".join(out) + "\n"
