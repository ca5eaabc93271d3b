"""`iop rules doc`: a rule pack as a document a clinical reviewer can read, with conditions in plain words."""

from __future__ import annotations

from html import escape

from iop_cli.lang.words import plain
from iop_cli.pack.model import Computed, Pack, Question

PROFILE = "Profile: each dimension rated 0 (no need) to 4 (most urgent), the highest rating that holds"


def _values(question: Question) -> str:
    if question.type in ("choice", "multi"):
        listed = ", ".join(
            c.value if c.label.lower() == c.value.replace("_", " ").lower() else f"{c.value} ({c.label})"
            for c in question.choices
        )
        return listed if question.type == "choice" else f"any of: {listed}"
    if question.type == "yesno":
        return "yes or no"
    if question.type == "integer" and question.choices:  # a scored item: each anchor with its score
        return "scored: " + ", ".join(f"{c.score} {c.label}" for c in question.choices)
    if question.type in ("integer", "number"):
        low = "" if question.min is None else f"{question.min:g}"
        high = "" if question.max is None else f"{question.max:g}"
        bands = "; ".join(f"{name} from {start:g}" for start, name in question.bands)
        return f"{question.type} {low}-{high}" + (f" ({bands})" if bands else "")
    return "text"


def _asked(question: Question) -> str:
    if isinstance(question, Computed):
        return "computed: " + _computation(question.compute)
    asked = "always" if question.ask_if is None else f"only when {plain(question.ask_if.root)}"
    asked += "" if question.required else " (optional)"
    if question.derive is not None:
        asked += "; when not given, derived: " + _computation(question.derive)
    if question.can_change:
        asked += "; a plan can change it"
    return asked


def _computation(compute) -> str:
    if compute.expression is not None:
        return plain(compute.expression.root)
    cases = "; ".join(f"{value} when {plain(condition.root)}" for condition, value in compute.cases)
    return f"{cases}; otherwise {compute.otherwise}"


def _alert(alert) -> str:
    return f"{alert.alert} (makes the decision provisional)" if alert.provisional else alert.alert


def markdown(pack: Pack) -> str:
    out = [f"# Rule pack {pack.name} {pack.version}", "", pack.description, "", f"Content hash: `{pack.hash}`", ""]
    out += ["## Levels of care", "", "| id | name | code | intensity |", "|---|---|---|---|"]
    for level in sorted(pack.levels.values(), key=lambda lv: -lv.rank):
        out.append(f"| {level.id} | {level.name} | {level.code} | {level.intensity} |")
    out += ["", "## Questions", ""]
    for question in pack.questions.values():
        out.append(f"- **{question.id}**: {question.label} ({_values(question)}); {_asked(question)}")
    out += ["", "## Placement rules, in order (the first that holds decides)", ""]
    for number, rule in enumerate(pack.rules, start=1):
        level = pack.levels[rule.level]
        out.append(f"{number}. **{level.name}** (`{rule.id}`) when {plain(rule.when.root)}.  ")
        out.append(f"   {rule.because}")
    out += [
        f"{len(pack.rules) + 1}. Otherwise: **{pack.levels[pack.otherwise.level].name}**.  ",
        f"   {pack.otherwise.because}",
        "",
        "## Alerts (every one that holds is shown)",
        "",
    ]
    for alert in pack.alerts:
        out.append(f"- **{alert.severity}** (`{alert.id}`) when {plain(alert.when.root)}: {_alert(alert)}")
    if pack.profile:
        out += ["", f"## {PROFILE}", ""]
        for dimension in pack.profile:
            out.append(f"- **{dimension.name}** (`{dimension.id}`)")
            out += [f"  - {c.rating} when {plain(c.when.root)}: {c.because}" for c in dimension.ratings]
    if pack.lint_allow:
        out += ["", "## Lint findings the authors intend", ""]
        for allowed in pack.lint_allow:
            where = f" when {plain(allowed.when.root)}" if allowed.when else ""
            out.append(f"- `{allowed.finding}`{where}: {allowed.because}")
    return "\n".join(out) + "\n"


def html(pack: Pack) -> str:
    """The same document as one self-contained page."""
    body = [f"<h1>Rule pack {escape(pack.name)} {escape(pack.version)}</h1>", f"<p>{escape(pack.description)}</p>"]
    body.append(f"<p class='muted'>Content hash: <code>{escape(pack.hash)}</code></p>")
    body.append("<h2>Levels of care</h2><table><tr><th>id</th><th>name</th><th>code</th><th>intensity</th></tr>")
    for level in sorted(pack.levels.values(), key=lambda lv: -lv.rank):
        cells = (level.id, level.name, level.code, level.intensity)
        body.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    body.append("</table><h2>Questions</h2><ul>")
    for question in pack.questions.values():
        body.append(
            f"<li><b>{escape(question.id)}</b>: {escape(question.label)} ({escape(_values(question))}); "
            f"{escape(_asked(question))}</li>"
        )
    body.append("</ul><h2>Placement rules, in order (the first that holds decides)</h2><ol>")
    for rule in pack.rules:
        level = pack.levels[rule.level]
        body.append(
            f"<li><b>{escape(level.name)}</b> (<code>{escape(rule.id)}</code>) when "
            f"{escape(plain(rule.when.root))}.<br>{escape(rule.because)}</li>"
        )
    otherwise = pack.levels[pack.otherwise.level].name
    body.append(f"<li>Otherwise: <b>{escape(otherwise)}</b>.<br>{escape(pack.otherwise.because)}</li></ol>")
    body.append("<h2>Alerts (every one that holds is shown)</h2><ul>")
    for alert in pack.alerts:
        body.append(
            f"<li><b>{escape(alert.severity)}</b> (<code>{escape(alert.id)}</code>) when "
            f"{escape(plain(alert.when.root))}: {escape(_alert(alert))}</li>"
        )
    body.append("</ul>")
    if pack.profile:
        body.append(f"<h2>{escape(PROFILE)}</h2><ul>")
        for dimension in pack.profile:
            ratings = "".join(
                f"<li>{c.rating} when {escape(plain(c.when.root))}: {escape(c.because)}</li>" for c in dimension.ratings
            )
            body.append(
                f"<li><b>{escape(dimension.name)}</b> (<code>{escape(dimension.id)}</code>)<ul>{ratings}</ul></li>"
            )
        body.append("</ul>")
    style = (
        "body{font:15px/1.45 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}"
        ".muted{color:#555}@media print{body{margin:0;max-width:none}}"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Rule pack {escape(pack.name)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
