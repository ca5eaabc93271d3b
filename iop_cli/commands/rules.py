"""`iop rules ...`: the rule author's toolkit. Thin: loading, analysis, docs and schema live in their own modules."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Optional

import typer

from iop_cli.commands.score import InputFormat
from iop_cli.env import current
from iop_cli.exit_codes import Exit

app = typer.Typer(
    name="rules",
    help="Check, test, document and compare rule packs. DIR defaults to the bundled pack.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DIR_HELP = "Rule-pack folder (default: the bundled default pack)."


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


class LintFormat(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class DocFormat(str, enum.Enum):
    markdown = "markdown"
    html = "html"


def _pack_dir() -> Optional[str]:
    return typer.Argument(None, metavar="[DIR]", help=DIR_HELP, show_default=False)


def _load(folder: Optional[str]):
    from iop_cli.commands._common import load_pack_or_fail

    return load_pack_or_fail(folder)


@app.command()
def validate(
    folder: Optional[str] = _pack_dir(),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Load a pack and report every problem at once (file:line:col, with a suggestion).

    Example: iop rules validate my-pack/
    """
    if format is OutputFormat.json:
        from iop_cli.output.contracts import dumps, validate_report
        from iop_cli.pack.build import load_pack
        from iop_cli.problems import PackError

        try:
            loaded = load_pack(folder)
        except PackError as exc:
            current().echo(dumps(validate_report(None, exc.problems)))
            raise typer.Exit(int(Exit.INPUT_ERROR)) from None
        current().echo(dumps(validate_report(loaded)))
        return
    pack = _load(folder)
    current().echo(
        f"ok: {pack.name} {pack.version}: {len(pack.asked)} questions, {len(pack.computed)} computed, "
        f"{len(pack.levels)} levels, {len(pack.rules)} rules, {len(pack.alerts)} alerts, {len(pack.tests)} tests"
    )


@app.command()
def lint(
    folder: Optional[str] = _pack_dir(),
    format: LintFormat = typer.Option(
        LintFormat.text, "--format", "-f", help="Output format: text, json, or sarif (SARIF 2.1.0, for code scanning)."
    ),
    examples: int = typer.Option(5, "--examples", min=1, max=50, help="At most this many gap examples."),
) -> None:
    """Find rules that never fire or are shadowed, gaps (with example answers), unused questions and levels.

    Exact: searches every answer set at representative values (see the README). Exits 1 when an error or warning
    is not allowed in the pack's `lint: allow:` list.

    Example: iop rules lint my-pack/
    """
    import time

    from iop_cli.authoring.lint import lint as run_lint
    from iop_cli.safe_text import visible

    pack = _load(folder)
    started = time.perf_counter()
    findings = run_lint(pack, examples)
    seconds = time.perf_counter() - started
    counts = {level: sum(f.severity == level for f in findings) for level in ("error", "warning", "info")}
    if format is LintFormat.json:
        from iop_cli.output.contracts import dumps, lint_report

        current().echo(dumps(lint_report(findings)))
    elif format is LintFormat.sarif:
        from iop_cli import __version__
        from iop_cli.output.contracts import dumps, sarif_report

        allowed = {a.finding: a.because for a in pack.lint_allow}
        current().echo(dumps(sarif_report(findings, pack, __version__, allowed)))
    else:
        for finding in findings:
            line = f"{visible(finding.where)}: {finding.severity}: {visible(finding.message)} [{finding.key}]"
            if finding.example and finding.severity != "info":
                line += f"\n    example: {_answers(finding.example, blank='blank')}"
            current().echo(line)
        shown = {f.key for f in findings if f.severity == "info"}
        for allowed in pack.lint_allow:
            if allowed.finding in shown:
                current().echo(
                    f"allowed {allowed.finding}: {visible(allowed.because)}"
                )  # pack text: shown, never obeyed
        current().echo(
            f"lint: {_count(counts['error'], 'error')}, {_count(counts['warning'], 'warning')}, {counts['info']} allowed "
            f"({pack.name} {pack.version}, {seconds:.2f} s)",
            err=True,
        )
    if counts["error"] or counts["warning"]:
        raise typer.Exit(int(Exit.INPUT_ERROR))


def _answers(answers: dict, blank: str = "None") -> str:
    """Answers as `name=value`, yes/no for booleans; `blank` for None (a finding says "blank", a test "None")."""
    from iop_cli.decide.space import answer_text

    return ", ".join(f"{k}={blank if v is None else answer_text(v)}" for k, v in answers.items())


@app.command("test")
def run_tests(
    folder: Optional[str] = _pack_dir(),
    strict_coverage: bool = typer.Option(
        False, "--strict-coverage", help="Also fail when a rule, alert or profile rating is exercised by no test."
    ),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Run the pack's test cases; show given, expected, got and the trace of each failure; then rule coverage.

    Example: iop rules test my-pack/
    """
    from iop_cli.authoring.lint import coverage
    from iop_cli.authoring.tests import got_for, run_all

    pack = _load(folder)
    results = run_all(pack)
    failed = [r for r in results if r.failures]
    if format is OutputFormat.json:
        from iop_cli.output.contracts import dumps, test_report

        untested = coverage(pack, results).untested
        current().echo(dumps(test_report(pack, results, untested, got_for)))
        if failed or (strict_coverage and untested):
            raise typer.Exit(int(Exit.INPUT_ERROR))
        return
    for result in failed:
        case = result.case
        current().echo(f"FAIL {case.name} ({case.mark})")
        current().echo(f"  given:    {_answers(case.given)}")
        current().echo(f"  expected: {_answers(case.expect)}")
        got = got_for(result.decision)
        current().echo(f"  got:      {_answers({k: got[k] for k in case.expect if k in got})}")
        for line in result.failures:
            current().echo(f"  - {line}")
        current().echo("  trace:")
        for step in result.decision.trace:
            # Every level rule tried (those that did not hold too: the rule a test expected is among them); the
            # alerts that were shown.
            if step.outcome == "not_shown":
                continue
            current().echo(f"    {step.rule}: {step.outcome} ({_answers(step.values)})")
    current().echo(f"{len(results) - len(failed)} passed, {len(failed)} failed ({pack.name} {pack.version})")
    cover = coverage(pack, results)
    untested = cover.untested
    if untested:
        current().echo("Exercised by no test: " + ", ".join(untested))
        _suggest_tests(pack, untested)
    else:
        current().echo(
            f"Coverage: every rule, alert and profile rating is exercised ({len(cover.rules)} of {len(cover.rules)})"
        )
    if failed or (strict_coverage and untested):
        raise typer.Exit(int(Exit.INPUT_ERROR))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _suggest_tests(pack, untested: list[str]) -> None:
    """For each rule or alert no test exercises, a test case that would, found by the lint's search and checked
    with the engine: ready to paste into tests.yaml."""
    import yaml

    from iop_cli.authoring.lint import test_answers
    from iop_cli.authoring.tests import got_for
    from iop_cli.decide.engine import checked, decide
    from iop_cli.decide.space import Space

    space = Space(pack)
    current().echo("Test cases that would exercise them (for tests.yaml):")
    for rule_id in untested:
        answers = test_answers(pack, rule_id, space)
        if answers is None:
            current().echo(f"  # {rule_id}: no answers reach it (iop rules lint says why)")
            continue
        got = got_for(decide(pack, checked(pack, answers)))
        expect: dict[str, Any] = {"level": got["level"], "rule": got["rule"], "alerts": got["alerts"]}
        dimension = rule_id.partition(":")[0]
        if ":" in rule_id and dimension in got["profile"]:
            expect["profile"] = {dimension: got["profile"][dimension]}
        case = {"name": f"exercises {rule_id}", "given": answers, "expect": expect}
        # YAML quotes what needs quoting (a choice such as `a: b`); flow style keeps each mapping on one line.
        text = yaml.safe_dump([case], sort_keys=False, default_flow_style=None, width=10_000, allow_unicode=True)
        for line in text.splitlines():
            current().echo(f"  {line}")


@app.command()
def doc(
    folder: Optional[str] = _pack_dir(),
    format: DocFormat = typer.Option(DocFormat.markdown, "--format", "-f", help="Document format."),
    output: str = typer.Option("-", "--output", "-o", metavar="FILE", help="Write here; - is stdout."),
) -> None:
    """The pack as a document for clinical review: levels, questions with their branching, rules in plain words.

    Example: iop rules doc --format html -o pack.html
    """
    from iop_cli.authoring.doc import html, markdown
    from iop_cli.files import write_private

    pack = _load(folder)
    text = markdown(pack) if format is DocFormat.markdown else html(pack)
    if output == "-" and current().stdout_isatty:
        from iop_cli.commands._common import page

        page(text)  # a long document goes through the terminal's pager ($PAGER)
        return
    write_private(output, text)


@app.command()
def diff(
    old: str = typer.Argument(..., metavar="OLD", help="The pack as it is."),
    new: str = typer.Argument(..., metavar="NEW", help="The pack as it would be."),
    on: Optional[str] = typer.Option(
        None,
        "--on",
        metavar="INTAKES",
        help="Score these intakes with both (CSV, Excel or Parquet, as iop score reads).",
    ),
    input_format: Optional[InputFormat] = typer.Option(
        None, "--input-format", help="The format of --on (default: by its extension)."
    ),
    sheet: Optional[str] = typer.Option(None, "--sheet", metavar="NAME|N", help="--on an Excel file: the sheet."),
    map: Optional[str] = typer.Option(None, "--map", metavar="MAP.yaml", help="Column mapping for --on."),
    regions: int = typer.Option(
        10, "--regions", min=0, metavar="N", help="Show at most N regions of answers that change level (0: none)."
    ),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """What changed between two packs: the edits, the regions of answers whose level changes (exact, over every
    answer set both packs accept, no intakes needed), and with --on the placements old -> new over real intakes.

    Example: iop rules diff rules/default my-pack/ --on intakes.csv
    """
    from iop_cli.authoring.diff import changes, impact, impact_lines, placement_matrix, placements

    before, after = _load(old), _load(new)
    lines = changes(before, after)
    found = impact(before, after, regions) if regions else None
    moves = None
    if on:
        from iop_cli.commands._common import fail
        from iop_cli.problems import ProblemsError

        try:
            given = input_format.value if input_format else None
            moves = placements(before, after, on, map, input_format=given, sheet=sheet)
        except ProblemsError as exc:
            fail(exc.problems)
    if format is OutputFormat.json:
        from iop_cli.output.contracts import diff_report, dumps

        current().echo(dumps(diff_report(before, after, lines, found, moves)))
        return
    current().echo(
        f"{before.name} {before.version} ({before.hash[:12]}) -> {after.name} {after.version} ({after.hash[:12]})"
    )
    for line in lines or ["no changes to questions, levels, rules or the profile"]:
        current().echo(f"  {line}")
    if found is not None:
        current().echo("")
        for line in impact_lines(found):
            current().echo(line)
    if moves is not None:
        current().echo("")
        current().echo(placement_matrix(moves))


class ExportFormat(str, enum.Enum):
    fhir = "fhir"
    redcap = "redcap"


@app.command()
def export(
    folder: Optional[str] = _pack_dir(),
    format: ExportFormat = typer.Option(
        ..., "--format", "-f", help="fhir (a FHIR R4 Questionnaire, JSON) or redcap (a REDCap data dictionary, CSV)."
    ),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
    score_map: Optional[str] = typer.Option(
        None,
        "--score-map",
        metavar="MAP.yaml",
        help="redcap: also write the map `iop score --map` reads a raw export with.",
    ),
) -> None:
    """The pack's questions for another system: a FHIR R4 Questionnaire, or a REDCap data dictionary.

    Example: iop rules export --format redcap -o dictionary.csv --score-map redcap.map.yaml
    """
    from iop_cli.commands._common import fail
    from iop_cli.files import write_private
    from iop_cli.output.contracts import dumps
    from iop_cli.problems import Problem

    pack = _load(folder)
    if score_map and format is not ExportFormat.redcap:
        fail([Problem("--score-map", "only a REDCap export has a map", "add --format redcap, or leave it out")])
    if format is ExportFormat.fhir:
        from iop_cli.exchange.fhir import questionnaire

        write_private(output, dumps(questionnaire(pack)) + "\n")
        return
    from iop_cli.exchange import redcap

    if score_map:
        write_private(score_map, redcap.score_map(pack))
        current().chatter(f"wrote {score_map}")
    write_private(output, redcap.dictionary(pack))


class SqlDialect(str, enum.Enum):
    duckdb = "duckdb"
    sqlite = "sqlite"
    postgres = "postgres"
    spark = "spark"
    bigquery = "bigquery"
    snowflake = "snowflake"


@app.command()
def sql(
    folder: Optional[str] = _pack_dir(),
    dialect: SqlDialect = typer.Option(..., "--dialect", "-d", help="The SQL engine the query is for."),
    table: str = typer.Option(
        "intake", "--table", "-t", metavar="NAME", help="The input table or view (schema.table and a.b.c allowed)."
    ),
    columns: Optional[str] = typer.Option(
        None,
        "--columns",
        metavar="A,B,...",
        help="The table's columns, in order (default: the pack's question ids, as --map names them). Every one "
        "comes back in the output.",
    ),
    like: Optional[str] = typer.Option(
        None, "--like", metavar="FILE", help="Take the columns from this file's header (CSV, Excel or Parquet)."
    ),
    map: Optional[str] = typer.Option(
        None, "--map", metavar="MAP.yaml", help="Which column answers which question, as iop score --map reads it."
    ),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE", help="Write here (0600, atomically); - is stdout."
    ),
) -> None:
    """The pack as one SQL query: the table's columns, then level, rule, reason, alerts, status and error.

    Example: iop rules sql --dialect postgres --table intake_2026 --like export.csv -o score.sql
    """
    from iop_cli.commands._common import fail
    from iop_cli.files import write_private
    from iop_cli.problems import Problem, ProblemsError

    pack = _load(folder)
    if columns is not None and like is not None:
        fail([Problem("--like", "--columns and --like both name the columns", "give one of them")], Exit.USAGE)
    if not all(table.split(".")):
        fail([Problem("--table", "has an empty name", "give the table as NAME or SCHEMA.NAME")], Exit.USAGE)
    if columns is not None and not all(name.strip() for name in columns.split(",")):
        fail([Problem("--columns", "has an empty name", "separate the names by single commas")], Exit.USAGE)
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.lang.sql import DIALECTS
    from iop_cli.warehouse.query import build

    try:
        mapping = load_mapping(map, pack) if map else None
        if columns is not None:
            header = [name.strip() for name in columns.split(",")]
            where = "--columns"
        elif like is not None:
            header, where = _header_of(like, pack), like
        else:  # the pack's questions, under the names the map gives them
            named = mapping.columns if mapping else {}
            header = [c if isinstance(c := named.get(q.id, q.id), str) else q.id for q in pack.asked]
            where = "the pack's questions"
        text = build(pack, header, table, DIALECTS[dialect.value], mapping, where).text()
    except ProblemsError as exc:
        fail(exc.problems)
    write_private(output, text + ";\n")


def _header_of(path: str, pack) -> list[str]:
    """A file's column names, read as `iop score` reads them."""
    from iop_cli.batch.read import read_header
    from iop_cli.batch.tables import input_format, open_table
    from iop_cli.files import InputFile

    with InputFile(path) as source:
        kind = input_format(path, None)
        if kind == "csv":
            return read_header(source)[0]
        return list(open_table(source, kind, None, pack).header)


@app.command("import-redcap")
def import_redcap(
    dictionary: str = typer.Argument(..., metavar="DICT.csv", help="A REDCap data dictionary (CSV)."),
    folder: str = typer.Argument(..., metavar="DIR", help="A new or empty folder for the starter pack."),
) -> None:
    """Make a starter pack from a REDCap data dictionary: its questions, choices and branching; the rules are yours.

    Prints what could not be imported, then the lint report of the new pack.
    Example: iop rules import-redcap dictionary.csv my-pack/
    """
    from iop_cli.authoring.lint import lint as run_lint
    from iop_cli.authoring.starter import imported_pack
    from iop_cli.commands._common import fail
    from iop_cli.exchange import redcap
    from iop_cli.files import read_text
    from iop_cli.pack.build import load_pack
    from iop_cli.problems import PackError, Problem, ProblemsError
    from iop_cli.safe_text import visible

    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail([Problem(folder, "exists and is not an empty folder", "choose a new folder")])
    try:
        text, name = read_text(dictionary)
        data, notes = redcap.import_dictionary(text, Path(name).name)
    except ProblemsError as exc:
        fail(exc.problems)
    files = imported_pack(data, Path(name).stem)
    target.mkdir(parents=True, exist_ok=True)
    for file_name, content in files.items():
        (target / file_name).write_text(content, encoding="utf-8")
        current().chatter(f"wrote {visible(str(target / file_name))}")
    current().echo(
        f"Imported {len(data['questions'])} questions in {len(data['sections'])} sections from {visible(name)}."
    )
    for note in notes:
        current().echo(f"  note: {visible(note)}")
    try:
        pack = load_pack(str(target))
    except PackError as exc:
        current().echo("The imported questions do not load as a pack yet; fix these, then lint:")
        fail(exc.problems)
    findings = run_lint(pack, 3)
    current().echo(f"Lint of {visible(folder)} ({len(findings)} findings; the rules are yours to write):")
    for finding in findings:
        current().echo(f"  {finding.severity}: {visible(finding.message)} [{finding.key}]")
    shown = visible(str(target))
    rules_file = visible(str(target / "rules.yaml"))
    current().echo(f"Next: write rules in {rules_file}, then iop rules lint {shown} && iop rules test {shown}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the pack format (for editors; see the README).

    Example: iop rules schema > pack.schema.json
    """
    import json

    from iop_cli.pack.spec import pack_schema

    current().echo(json.dumps(pack_schema(), indent=2))


@app.command()
def new(folder: str = typer.Argument(..., metavar="DIR", help="A new or empty folder for the pack.")) -> None:
    """Write a starter pack that validates, lints clean and passes its own tests.

    Example: iop rules new my-pack && iop rules test my-pack
    """
    from iop_cli.authoring.starter import write_starter
    from iop_cli.safe_text import visible

    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        current().echo(f"error: {visible(folder)}: exists and is not an empty folder (choose a new folder)", err=True)
        raise typer.Exit(int(Exit.INPUT_ERROR))
    written = write_starter(target)
    for path in written:
        current().chatter(f"wrote {visible(str(path))}")
    shown = visible(folder)
    current().echo(f"Next: iop rules validate {shown} && iop rules lint {shown} && iop rules test {shown}")
