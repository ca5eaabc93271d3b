"""`iop check`: decide from an answers file, without the interview, and show the report in any format."""

from __future__ import annotations

from typing import Optional

import typer

from iop_cli.commands._common import ReportFormat, fail, load_pack_or_fail, rich_console, rules_option
from iop_cli.env import current


def check(
    answers: str = typer.Option(
        ..., "--answers", "-a", metavar="FILE", help="Answers file (YAML or JSON); - reads stdin."
    ),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Report format."),
    rules: Optional[str] = rules_option(),
) -> None:
    """Recommend a level of care from an answers file, without the interview.

    Example: iop check --answers intake.yaml --format json
    """
    from iop_cli.decide.engine import checked, decide
    from iop_cli.output.contracts import decision_dict
    from iop_cli.pack.source import read_answers
    from iop_cli.problems import Problem, ProblemsError

    pack = load_pack_or_fail(rules)
    positions: dict[str, str] = {}
    try:
        raw, positions, name = read_answers(answers)
        clean = checked(pack, raw)
    except ProblemsError as exc:
        # Point each problem at its line in the answers file when we know it.
        fail(
            [
                Problem(f"{positions[p.where]}: {p.where}", p.message, p.hint) if p.where in positions else p
                for p in exc.problems
            ]
        )
    data = decision_dict(decide(pack, clean), pack)
    if format is ReportFormat.json:
        from iop_cli.output.contracts import dumps

        current().echo(dumps(data))
    elif format is ReportFormat.markdown:
        from iop_cli.output.report import markdown

        current().echo(markdown(data), nl=False)
    else:
        from iop_cli.output.report import render

        render(data, rich_console())
