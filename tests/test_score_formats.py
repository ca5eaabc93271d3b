"""`iop score` on Excel and Parquet input, and its Parquet and .xlsx output; the summary's whole story."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat

import openpyxl
import polars as pl
import pytest

from iop_cli.files import InputFile

from .conftest import ROOT, iop_in_process

SAMPLE = ROOT.parent / "shared" / "data" / "teds-a-2017" / "sample.csv"
TEDS_MAP = ROOT / "examples" / "teds-a.map.yaml"
GOOD = ROOT / "tests" / "corpus" / "score" / "good.csv"
OUTCOME = ["level", "rule", "reason", "alerts", "status", "error", "ignored", "missing"]


def score(*args, **kw):
    return iop_in_process("score", *args, **kw)


def write_xlsx(path, rows, sheet="Intakes", above=(), more_sheets=()):
    """An .xlsx written by openpyxl (not by iop), `above` rows before the header."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in [*above, *rows]:
        ws.append(list(row))
    for name in more_sheets:
        book.create_sheet(name)
    book.save(path)


def good_rows():
    with open(GOOD, newline="") as handle:
        return list(csv.reader(handle))


def test_teds_sample_scores_the_same_from_csv_parquet_and_xlsx(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("../shared/data is not beside the checkout")
    # One table written three ways by other writers than iop's; header names made unique (Excel and Parquet need
    # them so, and the sample repeats one).
    table = pl.read_csv(SAMPLE, infer_schema=False)
    table.write_csv(tmp_path / "in.csv")
    table.write_parquet(tmp_path / "in.parquet")
    write_xlsx(tmp_path / "in.xlsx", [table.columns, *table.iter_rows()])
    outputs = {}
    for kind in ("csv", "parquet", "xlsx"):
        out = tmp_path / f"out-{kind}.csv"
        result = score(str(tmp_path / f"in.{kind}"), "--map", str(TEDS_MAP), "-o", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        outputs[kind] = out.read_bytes()
    assert outputs["parquet"] == outputs["csv"]
    assert outputs["xlsx"] == outputs["csv"]
    assert outputs["csv"].count(b"\n") == 426


def test_typed_parquet_and_excel_numbers_score_like_the_csv_text(tmp_path):
    """A Parquet file of numbers (2.0 as a decimal) and an Excel sheet of numbers give the CSV's outcome columns."""
    if not SAMPLE.exists():
        pytest.skip("../shared/data is not beside the checkout")
    typed = pl.read_csv(SAMPLE, infer_schema_length=None)
    typed.write_csv(tmp_path / "in.csv")
    typed.write_parquet(tmp_path / "in.parquet")
    write_xlsx(tmp_path / "in.xlsx", [typed.columns, *typed.iter_rows()])
    found = {}
    for kind in ("csv", "parquet", "xlsx"):
        out = tmp_path / f"out-{kind}.csv"
        assert score(str(tmp_path / f"in.{kind}"), "--map", str(TEDS_MAP), "-o", str(out), "-q").returncode == 0
        scored = pl.read_csv(out, infer_schema=False)
        found[kind] = scored.select(scored.columns[len(typed.columns) :])
    assert found["csv"].columns[: len(OUTCOME)] == OUTCOME
    assert found["parquet"].equals(found["csv"])
    assert found["xlsx"].equals(found["csv"])
    assert found["csv"]["level"].value_counts().height > 1 or found["csv"]["status"].n_unique() > 1


def test_parquet_output_keeps_types_and_matches_the_csv_output(tmp_path):
    out_csv, out_parquet = tmp_path / "o.csv", tmp_path / "o.parquet"
    source = tmp_path / "in.parquet"
    pl.read_csv(GOOD, infer_schema_length=None).write_parquet(source)
    assert score(str(source), "-o", str(out_csv), "-q").returncode == 0
    result = score(str(source), "-f", "parquet", "-o", str(out_parquet), "-q")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out_parquet).st_mode) == 0o600
    got = pl.read_parquet(out_parquet)
    expected = pl.read_csv(out_csv, infer_schema=False)
    assert got.columns == expected.columns
    assert got.schema["age"] == pl.Int64 and got.schema["d1"] == pl.Int8 and got.schema["level"] == pl.String
    assert got.select(pl.all().cast(pl.String)).equals(expected)
    assert got.row(0, named=True)["level"] == "iop"


def test_xlsx_output_is_a_workbook_with_formulas_neutralized(tmp_path):
    rows = good_rows()
    header, good = rows[0], rows[1]
    formula = list(good)
    formula[0] = "=HYPERLINK(1)"
    control = list(good)
    control[0] = "a\x01b & <c> _x0041_\r\nCR\rLF\n"
    source, out = tmp_path / "in.csv", tmp_path / "o.xlsx"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([header, good, formula, control])
    result = score(str(source), "-f", "xlsx", "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    book = openpyxl.load_workbook(out)  # a strict reader: the file is a valid workbook
    cells = list(book.active.iter_rows(values_only=True))
    assert list(cells[0][: len(header)]) == header and "level" in cells[0]
    named = [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]
    assert [r["level"] for r in named] == ["iop"] * 3
    assert named[1]["client_id"] == "'=HYPERLINK(1)"  # shown, never run
    assert isinstance(named[0]["d1"], int)
    # Characters XML cannot hold go in Excel's own escape, which Excel and calamine read back.
    import python_calamine

    back = python_calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_index(0).to_python()
    assert back[3][0] == "a\x01b & <c> _x0041_\r\nCR\rLF\n"
    assert book.active.cell(4, 1).value.endswith("\r\nCR\rLF\n")  # carriage returns kept (openpyxl too)


def test_xlsx_output_refuses_more_rows_than_a_sheet_holds(tmp_path, monkeypatch):
    from iop_cli.batch import sinks

    monkeypatch.setattr(sinks, "EXCEL_ROWS", 2)
    rows = good_rows()
    source, out = tmp_path / "in.csv", tmp_path / "o.xlsx"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], rows[1], rows[1]])
    result = score(str(source), "-f", "xlsx", "-o", str(out), "-q")
    assert result.returncode == 1
    assert "an Excel sheet holds at most 1 rows below its header" in result.stderr
    assert "write csv or parquet instead" in result.stderr
    assert not out.exists() and os.listdir(tmp_path) == ["in.csv"]


def test_binary_output_is_not_written_to_a_terminal():
    result = score(str(GOOD), "-f", "parquet", terminal=True)
    assert result.returncode == 1
    assert "parquet output is binary, not for a terminal" in result.stderr


def test_excel_sheet_by_name_or_number_and_sheet_rows_in_messages(tmp_path):
    rows = good_rows()
    bad = list(rows[1])
    bad[1] = "200"  # age
    book = tmp_path / "in.xlsx"
    write_xlsx(book, [rows[0], rows[1], bad], sheet="March", above=[[], []], more_sheets=["Notes"])
    summary = tmp_path / "s.json"
    for chosen in (None, "March", "1"):
        extra = [] if chosen is None else ["--sheet", chosen]
        out = tmp_path / "o.csv"
        result = score(str(book), "-o", str(out), "-q", "--summary-json", str(summary), *extra)
        assert result.returncode == 0, result.stderr
        data = json.loads(summary.read_text())
        # Two blank rows above the header: the header is row 3, and the bad row is row 5, as Excel numbers them.
        assert data["error_rows"] == {"rows": 1, "first": [5], "counted_as": "sheet row"}
    strict = score(str(book), "-o", str(tmp_path / "o.csv"), "--strict")
    assert strict.returncode == 1 and "[March]" not in strict.stderr and ": sheet row 5: age:" in strict.stderr
    missing = score(str(book), "--sheet", "April", "-o", str(tmp_path / "o.csv"))
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        .splitlines()[0]
        .endswith("no such sheet in " + str(book) + " (the sheets are 'March', 'Notes' (or 1-2))")
    )
    empty = score(str(book), "--sheet", "2", "-o", str(tmp_path / "o.csv"))
    assert empty.returncode == 1 and "[Notes]: the sheet is empty" in empty.stderr


def test_excel_value_without_a_header_and_broken_workbooks_are_one_line(tmp_path):
    rows = good_rows()
    book = tmp_path / "wide.xlsx"
    write_xlsx(book, [rows[0], [*rows[1], "", "stray"]])
    result = score(str(book), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: {book} [Intakes]: sheet row 2: has a value in a column with no header name (name every column in the header, sheet row 1)\n"
    )
    fake = tmp_path / "fake.xlsx"
    fake.write_text("client_id,age\n")
    result = score(str(fake), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "cannot be read as an Excel workbook" in result.stderr and "Traceback" not in result.stderr
    as_csv = score(str(fake), "--input-format", "csv", "-o", str(tmp_path / "o.csv"), "-q")
    assert (
        as_csv.returncode == 1 and "missing standard columns" in as_csv.stderr
    )  # read as CSV when told: columns are missing


def test_parquet_read_a_slice_at_a_time_scores_like_its_csv(tmp_path, monkeypatch):
    """Batches that cut across row groups, each read only when the scoring asks for it (Polars' own batch stream
    read on ahead and held most of a large file): the same rows, in order, as from the CSV, a bad row named by its
    place in the file, and no batch read before it is asked for."""
    from iop_cli.batch import tables

    monkeypatch.setattr(tables, "BATCH_ROWS", 7)
    row = pl.read_csv(GOOD, infer_schema=False)
    table = pl.concat([row] * 30).with_columns(pl.format("P-{}", pl.int_range(30)).alias("client_id"))
    table = table.with_columns(
        pl.when(pl.col("client_id") == "P-17").then(pl.lit("maybe")).otherwise("age").alias("age")
    )
    table.write_parquet(tmp_path / "in.parquet", row_group_size=5)
    table.write_csv(tmp_path / "in.csv")
    read: list[int] = []
    slices = tables.ParquetInput.batches

    def counted(self):
        for item in slices(self):
            read.append(item[0])
            yield item

    monkeypatch.setattr(tables.ParquetInput, "batches", counted)
    for kind in ("csv", "parquet"):
        assert score(str(tmp_path / f"in.{kind}"), "-o", str(tmp_path / f"out-{kind}.csv"), "-q").returncode == 0
    assert (tmp_path / "out-parquet.csv").read_bytes() == (tmp_path / "out-csv.csv").read_bytes()
    assert read == [1, 8, 15, 22, 29]
    # Each batch is read when it is asked for, and not before.
    sliced: list[int] = []
    slice_of = pl.LazyFrame.slice
    monkeypatch.setattr(
        pl.LazyFrame, "slice", lambda self, offset, length=None: sliced.append(offset) or slice_of(self, offset, length)
    )
    with InputFile(str(tmp_path / "in.parquet")) as source:
        batches = slices(tables.ParquetInput(source))
        next(batches)
        assert sliced == [0]
        next(batches)
        assert sliced == [0, 7]
    strict = score(str(tmp_path / "in.parquet"), "--strict", "-o", str(tmp_path / "o.csv"))
    assert strict.returncode != 0 and "in.parquet: data row 18" in strict.stderr, strict.stderr


def test_parquet_from_stdin_and_refusals(tmp_path):
    source = tmp_path / "in.parquet"
    pl.read_csv(GOOD, infer_schema=False).write_parquet(source)
    from_stdin = tmp_path / "stdin.csv"
    with open(source, "rb") as handle:
        data = handle.read()
    result = iop_in_process("score", "-", "--input-format", "parquet", "-o", str(from_stdin), "-q", input=data)
    assert result.returncode == 0, result.stderr
    by_path = tmp_path / "path.csv"
    assert score(str(source), "-o", str(by_path), "-q").returncode == 0
    assert from_stdin.read_bytes() == by_path.read_bytes()
    nested = tmp_path / "nested.parquet"
    pl.DataFrame({"client_id": ["A"], "answers": [[1, 2]]}).write_parquet(nested)
    result = score(str(nested), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 1
    assert "column answers: holds List(Int64) values, not text, numbers, yes/no or dates" in result.stderr
    sheet = score(str(source), "--sheet", "1", "-o", str(tmp_path / "o.csv"))
    assert sheet.returncode == 1 and "the input is read as parquet, which has no sheets" in sheet.stderr


def test_summary_tells_the_whole_story(tmp_path):
    rows = good_rows()
    header = rows[0]
    quoted = list(rows[1])
    quoted[0] = "two\nlines"
    bad = list(rows[1])
    bad[1] = "200"
    no_housing = list(rows[1])
    no_housing[header.index("housing")] = ""
    no_psych = list(rows[1])
    no_psych[header.index("psychiatric_symptoms")] = ""
    source, out, summary = tmp_path / "in.csv", tmp_path / "o.csv", tmp_path / "s.json"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([header, quoted, bad, no_housing, no_psych, bad])
    result = score(str(source), "-o", str(out), "--summary-json", str(summary), terminal=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text())
    # Line 1 is the header; the first row takes lines 2-3, so the bad rows start on lines 4 and 7.
    assert data["error_rows"] == {"rows": 2, "first": [4, 7], "counted_as": "line"}
    assert {m["field"]: m["rows"] for m in data["missing_answers"]} == {"housing": 1, "psychiatric_symptoms": 1}
    assert data["alerts"] == [{"alert": "consider_maud", "rows": 3}]  # the three rows without an error
    assert data["output"] == str(out)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)  # the terminal's colors
    assert "Rows with an error (2), by line: 4, 7" in shown
    assert (
        "Missing required answers (rows missing each)\n         1  housing\n         1  psychiatric_symptoms" in shown
    )
    assert f"Written to {out}" in shown


def test_teds_summary_counts_every_alert(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("../shared/data is not beside the checkout")
    summary = tmp_path / "s.json"
    result = score(str(SAMPLE), "--map", str(TEDS_MAP), "-o", os.devnull, "--summary-json", str(summary))
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text())
    alerts = {a["alert"]: a["rows"] for a in data["alerts"]}
    assert alerts["pregnancy_priority"] == 23
    assert alerts["withdrawal_not_assessed_opioids"] > 0
    assert data["error_rows"]["rows"] == 9 and data["error_rows"]["first"] == list(range(418, 427))
    assert len(data["missing_answers"]) == 14  # every one, not the first eight
    text = io.StringIO(result.stderr).read()
    assert "Alerts (rows with each)" in text and "pregnancy_priority" in text


def test_excel_edges_cell_length_sheet_case_and_parquet_durations(tmp_path):
    import datetime

    rows = good_rows()
    header, good = rows[0], rows[1]
    longest = list(good)
    longest[0] = "x" * 32_767  # as long as an Excel cell holds: written
    source, out = tmp_path / "in.csv", tmp_path / "o.xlsx"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([header, longest])
    assert score(str(source), "-f", "xlsx", "-o", str(out), "-q").returncode == 0
    longest[0] = "x" * 32_768
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([header, longest])
    refused = score(str(source), "-f", "xlsx", "-o", str(out), "-q")
    assert refused.returncode == 1 and "column client_id has a cell of 32,768 characters" in refused.stderr
    book = tmp_path / "in.xlsx"
    write_xlsx(book, [header, good], sheet="March")
    assert score(str(book), "--sheet", "march", "-o", str(tmp_path / "o.csv"), "-q").returncode == 0
    timed = tmp_path / "t.parquet"
    pl.DataFrame({"client_id": ["A"], "wait": [datetime.timedelta(days=2)]}).write_parquet(timed)
    result = score(str(timed), "-o", str(tmp_path / "o.csv"))
    assert (
        result.returncode == 1
        and "column wait: holds Duration" in result.stderr
        and "near data row" not in result.stderr
    )


def test_xlsx_output_opens_in_libreoffice_when_it_is_installed(tmp_path):
    """A real spreadsheet application reads the workbook to the same cells (skipped without LibreOffice)."""
    import shutil
    import subprocess

    office = shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    out, again = tmp_path / "o.xlsx", tmp_path / "o.csv"
    assert score(str(GOOD), "-f", "xlsx", "-o", str(out), "-q").returncode == 0
    assert score(str(GOOD), "-o", str(again), "-q").returncode == 0
    home = tmp_path / "home"  # LibreOffice's own profile, kept out of the user's
    converted = subprocess.run(
        [
            office,
            "--headless",
            f"-env:UserInstallation=file://{home}",
            "--convert-to",
            "csv",
            "--outdir",
            str(tmp_path / "lo"),
            str(out),
        ],
        capture_output=True,
        timeout=120,
    )
    assert converted.returncode == 0, converted.stderr
    read_back = pl.read_csv(tmp_path / "lo" / "o.csv", infer_schema=False)
    expected = pl.read_csv(again, infer_schema=False)
    assert read_back.columns == expected.columns
    outputs = expected.columns[expected.columns.index("level") :]
    assert read_back.select(outputs).equals(expected.select(outputs))


def test_xlsx_writes_whole_numbers_past_2_53_as_text(tmp_path):
    source, out = tmp_path / "in.parquet", tmp_path / "o.xlsx"
    rows = good_rows()
    frame = pl.DataFrame([dict(zip(rows[0], rows[1], strict=True))]).with_columns(
        pl.lit(2**60 + 1, dtype=pl.Int64).alias("chart_number"), pl.lit(42, dtype=pl.Int64).alias("small")
    )
    frame.write_parquet(source)
    assert score(str(source), "-f", "xlsx", "-o", str(out), "-q").returncode == 0
    cells = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    named = dict(zip(cells[0], cells[1], strict=True))
    assert named["chart_number"] == str(2**60 + 1) and named["small"] == 42


def test_rules_diff_on_reads_excel_and_parquet_as_score_does(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("../shared/data is not beside the checkout")
    table = pl.read_csv(SAMPLE, infer_schema=False)
    table.write_csv(tmp_path / "in.csv")
    table.write_parquet(tmp_path / "in.parquet")
    write_xlsx(tmp_path / "in.xlsx", [table.columns, *table.iter_rows()])
    default = str(ROOT / "rules" / "default")
    found = {}
    for kind in ("csv", "parquet", "xlsx"):
        args = ["rules", "diff", default, default, "--on", str(tmp_path / f"in.{kind}"), "--map", str(TEDS_MAP)]
        result = iop_in_process(*args, "--regions", "0", "--format", "json")
        assert result.returncode == 0, result.stderr
        placements = json.loads(result.stdout)["placements"]
        found[kind] = {k: v for k, v in placements.items() if k != "input"}
    assert found["csv"]["rows"] == 425 and found["parquet"] == found["csv"] and found["xlsx"] == found["csv"]
    ndjson = tmp_path / "r.ndjson"
    ndjson.write_text('{"resourceType": "QuestionnaireResponse", "status": "completed"}\n')
    refused = iop_in_process("rules", "diff", default, default, "--on", str(ndjson), "--regions", "0")
    assert refused.returncode == 1 and "rules diff --on reads CSV, Excel and Parquet" in refused.stderr


def test_a_scored_file_scored_again_keeps_its_old_outcome_as_input_columns(tmp_path):
    # Scoring an output again (after a pack update, say) must not write `level` twice: a reader would take the
    # old one (pandas reads the second as `level.1`).
    files = [GOOD, *(tmp_path / f"{n}.csv" for n in ("first", "second", "third"))]
    for source, target in zip(files, files[1:], strict=False):
        assert score(str(source), "-o", str(target), "-q").returncode == 0

    def rows(path):
        with open(path, newline="") as handle:
            return list(csv.reader(handle))

    header, scored = good_rows()[0], rows(files[1])
    outputs = scored[0][len(header) :]
    for source, target, renamed in (
        (files[1], files[2], [f"input_{n}" for n in outputs]),
        # The second time, `input_level` is the file's own and kept; the `level` beside it is numbered.
        (files[2], files[3], [*(f"input_{n}" for n in outputs), *(f"input_{n}_2" for n in outputs)]),
    ):
        got = rows(target)
        assert got[0] == [*header, *renamed, *outputs]
        assert len(set(got[0])) == len(got[0])
        # The input cells, the old outcome among them, are copied as they were; the new outcome is the first's.
        assert [row[: -len(outputs)] for row in got[1:]] == rows(source)[1:]
        assert [row[-len(outputs) :] for row in got[1:]] == [row[len(header) :] for row in scored[1:]]


def test_a_problem_whose_text_holds_a_semicolon_is_counted_as_one_kind(tmp_path):
    # "is not a plain decimal number; write it with the digits 0-9" (hex, full-width digits): one problem, counted
    # once per row.
    header, good = good_rows()[0], good_rows()[1]
    rows = [[*good[:1], word, *good[2:]] for word in ("0x22", "３４", "0x1F")]
    source, summary = tmp_path / "in.csv", tmp_path / "summary.json"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    assert header[1] == "age"
    result = score(str(source), "-o", str(tmp_path / "o.csv"), "--summary-json", str(summary), "-q")
    assert result.returncode == 0, result.stderr
    top = json.loads(summary.read_text())["top_errors"]
    assert [(t["reason"].split(";")[0], t["rows"]) for t in top] == [("age: is not a plain decimal number", 3)]


def test_parquet_output_keeps_formula_looking_names_and_cells_as_they_are(tmp_path):
    header, good = good_rows()[0], good_rows()[1]
    source, out = tmp_path / "in.csv", tmp_path / "o.parquet"
    with open(source, "w", newline="") as handle:
        csv.writer(handle).writerows([[*header, "=cmd", "-x"], [*good, "=1+1", "-2"]])
    assert score(str(source), "-f", "parquet", "-o", str(out), "-q").returncode == 0
    got = pl.read_parquet(out)
    assert got.columns[len(header) : len(header) + 2] == ["=cmd", "-x"]
    assert got.row(0)[len(header) : len(header) + 2] == ("=1+1", "-2")
