"""`iop check`: decide from an answers file, without the interview, and show the report in any format."""

from __future__ import annotations

from typing import Optional

import typer

from iop_cli.commands._common import ReportFormat, fail, load_pack_or_fail, rich_console, rules_option
from iop_cli.env import current


def check(
    answers: str = typer.Option(
        ...,
        "--answers",
        "-a",
        metavar="FILE",
        help="Answers file (YAML or JSON, or a FHIR QuestionnaireResponse); - reads stdin.",
    ),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Report format."),
    rules: Optional[str] = rules_option(),
    why_not: Optional[str] = typer.Option(
        None,
        "--why-not",
        metavar="LEVEL",
        help="Show only the nearest changes of answers that would lead to LEVEL (a level id), and exit.",
    ),
) -> None:
    """Recommend a level of care from an answers file, without the interview.

    Example: iop check --answers intake.yaml --format json
    Example: iop check --answers intake.yaml --why-not iop
    """
    from iop_cli.decide.changes import nearest
    from iop_cli.decide.engine import checked, decide
    from iop_cli.output.contracts import decision_dict
    from iop_cli.problems import Problem, ProblemsError

    pack = load_pack_or_fail(rules)
    positions: dict[str, str] = {}
    try:
        raw, positions = read_any_answers(pack, answers)
        clean = checked(pack, raw)
    except ProblemsError as exc:
        # Point each problem at its line in the answers file when we know it.
        fail(
            [
                Problem(f"{positions[p.where]}: {p.where}", p.message, p.hint) if p.where in positions else p
                for p in exc.problems
            ]
        )
    if why_not is not None and why_not not in pack.levels:
        hint = "use one of: " + ", ".join(pack.levels)
        fail([Problem("--why-not", f"unknown level `{why_not}`", hint)])
    decision = decide(pack, clean)
    found = nearest(pack, clean, decision.missing, why_not)
    if why_not is not None:
        show_why_not(pack, decision, why_not, found, format, clean)
        return
    data = decision_dict(decision, pack, found)
    if format is ReportFormat.json:
        from iop_cli.output.contracts import dumps

        current().echo(dumps(data))
    elif format is ReportFormat.markdown:
        from iop_cli.output.report import markdown_note

        current().echo(markdown_note(data, pack, clean, current().now()), nl=False)
    else:
        from iop_cli.output.report import render

        render(data, rich_console(), pack)


def show_why_not(pack, decision, level: str, found: list, format: ReportFormat, answers: dict) -> None:
    """`--why-not LEVEL`: the nearest changes of answers that lead to LEVEL, or why there are none."""
    from iop_cli.decide.changes import LARGEST, held_back
    from iop_cli.output.contracts import changes_list, dumps

    listed = changes_list(pack, found)
    if format is ReportFormat.json:
        current().echo(dumps({"level": decision.level.id, "why_not": level, "changes": listed}))
        return
    name = pack.levels[level].name
    if decision.level.id == level:
        current().echo(f"The recommendation is already {name}.")
    elif decision.missing:
        current().echo(f"Required answers are missing ({', '.join(decision.missing)}): give them first.")
    elif not listed and (held := held_back(pack, answers)):
        # Not "no change leads there": a change of a held item together with the answer it derives may.
        current().echo(
            f"No change of up to {LARGEST} answers found that leads to {name}; not tried: changing "
            f"{', '.join(held)}, given beside the answer they derive, together with it."
        )
    elif not listed:
        current().echo(f"No change of up to {LARGEST} answers leads to {name}.")
    else:
        current().echo(f"Recommended: {decision.level.name}. Would be {name} if:")
        for item in listed:
            current().echo(f"  - {item['text']}")


def read_any_answers(pack, path: str) -> tuple[dict, dict[str, str]]:
    """An answers file's raw answers and their positions: YAML or JSON answers, or a FHIR QuestionnaireResponse
    (or a Bundle holding one), read by its linkIds."""
    import json

    from iop_cli.files import read_text
    from iop_cli.pack.source import parse_answers

    text, name = read_text(path)
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None  # the YAML reader says where the JSON is broken
        if isinstance(document, dict) and "resourceType" in document:
            from iop_cli.exchange.fhir import answers_from

            current().note(f"reading {name} as a FHIR {document.get('resourceType')}")
            found = answers_from(pack, document, name)
            return found, dict.fromkeys(found, name)  # a value the pack refuses is named with the file
    raw, positions, _ = parse_answers(text, name)
    return raw, positions
