"""`iop score` through the installed command: the bad-input corpus in tests/corpus/score, output safety, options."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest

from .conftest import ROOT, SCORED_COLUMNS, iop_in_process

CORPUS = ROOT / "tests" / "corpus" / "score"


def score(*args, **kw):
    return iop_in_process("score", *args, **kw)


def rows_of(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def scored_with_map(source, mapping_text: str) -> list[dict[str, str]]:
    """`iop score SOURCE --map` with this map (written beside the source); the output rows."""
    mapping, out = source.with_name("m.yaml"), source.with_name("o.csv")
    mapping.write_text(mapping_text)
    result = score(str(source), "--map", str(mapping), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    return rows_of(out)


def scored(tmp_path, name: str, *extra: str):
    out = tmp_path / f"{name}.out.csv"
    result = score(str(CORPUS / f"{name}.csv"), "-o", str(out), "--quiet", *extra)
    return result, out


def test_good_row_is_placed_with_every_output_column(tmp_path):
    result, out = scored(tmp_path, "good")
    assert result.returncode == 0, result.stderr
    with open(out, newline="") as handle:
        header = next(csv.reader(handle))
    source_header = next(csv.reader(open(CORPUS / "good.csv", newline="")))
    assert header == [*source_header, *SCORED_COLUMNS]
    [row] = rows_of(out)
    assert (row["level"], row["rule"], row["status"], row["error"]) == ("iop", "iop_mild_moderate", "ok", "")
    assert row["reason"].startswith("A mild substance use disorder (2-3 criteria); stable housing; ")
    assert row["reason"].endswith(
        "A mild or moderate disorder with recent use and a safe, supportive home makes an excellent IOP candidate."
    )
    assert row["alerts"] == "consider_maud"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


@pytest.mark.parametrize("name,rows", [("bom", 1), ("crlf", 2), ("qnl", 2), ("case", 1), ("emptyname", 1)])
def test_file_shapes_that_are_handled(tmp_path, name, rows):
    result, out = scored(tmp_path, name)
    assert result.returncode == 0, result.stderr
    got = rows_of(out)
    assert len(got) == rows
    assert all(row["status"] == "ok" and row["level"] == "iop" for row in got)


def test_quoted_newline_stays_in_its_cell(tmp_path):
    _, out = scored(tmp_path, "qnl")
    assert rows_of(out)[0]["client_id"] == "A\nB"


def test_crlf_leaves_no_carriage_return_in_values(tmp_path):
    _, out = scored(tmp_path, "crlf")
    assert all("\r" not in value for row in rows_of(out) for value in row.values())


def test_blank_rows_are_kept_as_errors_in_place(tmp_path):
    result, out = scored(tmp_path, "blank")
    assert result.returncode == 0
    statuses = [(row["status"], row["error"]) for row in rows_of(out)]
    assert statuses == [("ok", ""), ("error", "blank row"), ("ok", ""), ("error", "blank row")]


def test_bad_values_make_only_their_row_an_error(tmp_path):
    result, out = scored(tmp_path, "badvals")
    assert result.returncode == 0
    first, bad, last = rows_of(out)
    assert first["status"] == last["status"] == "ok"
    assert bad["status"] == "error" and bad["level"] == "" and bad["reason"] == ""
    assert bad["error"] == (
        "age: '200' is outside the allowed range (allowed: a whole number 12-110); "
        "pregnant: 'maybe' is not yes or no (allowed: yes or no)"
    )


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(tmp_path):
    result, out = scored(tmp_path, "badvals", "--strict")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("error: ")
    assert "badvals.csv: line 3: age: is outside the allowed range" in result.stderr
    assert "200" not in result.stderr  # the problem, never the cell (stderr may be a log)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left either


def test_formula_cells_are_neutralized(tmp_path):
    _, out = scored(tmp_path, "formula")
    [row] = rows_of(out)
    assert row["client_id"] == "'=HYPERLINK(1)"
    assert row["status"] == "ok"  # the text itself is a valid client id


GOOD_TAIL = "34,alcohol,some_days,3,0,4,,no,no,no,none,no,no,none,ready,stable,no,yes,no,yes,yes"
QUOTED_TAIL = GOOD_TAIL.replace(",,", ',"",')


def test_input_cells_are_copied_as_given_unless_a_row_needs_writing_anew(tmp_path):
    header = (CORPUS / "good.csv").read_text().splitlines()[0]
    lines = [
        f'"A-1",{QUOTED_TAIL}',  # needless quotes: kept byte for byte
        f"=1+2,{GOOD_TAIL}",  # a formula: this row is written anew, neutralized
        "A-3,34,alcohol",  # a short row: padded to the header's width
        f'"A,4",{GOOD_TAIL.rsplit(",", 1)[0]}',  # short by one, with a quoted comma
        f'"A-5",{GOOD_TAIL}',
    ]
    source = tmp_path / "mixed.csv"
    source.write_text("\n".join([header, *lines]) + "\n")
    out = tmp_path / "mixed.out.csv"
    result = score(str(source), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    written = out.read_text().splitlines()
    assert written[1].startswith(lines[0] + ",iop,iop_mild_moderate,")
    assert written[5].startswith(lines[4] + ",iop,")
    assert written[2].startswith("'=1+2,34,alcohol,some_days,3,0,4,,no,")
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert {len(row) for row in rows} == {39}
    got = rows_of(out)
    assert [row["client_id"] for row in got] == ["A-1", "'=1+2", "A-3", "A,4", "A-5"]
    assert [row["status"] for row in got] == ["ok", "ok", "review", "ok", "ok"]
    # Only an alert reads the answer the short row lacks: the level stands, and the answer is listed as missing.
    assert got[3]["can_attend_iop_schedule"] == "" and got[3]["missing"] == "can_attend_iop_schedule"
    assert got[3]["level"] == got[3]["level_min"] == got[3]["level_max"] == "iop" and not got[3]["decided_by"]
    assert "can_attend_iop_schedule" in got[2]["missing"] and got[2]["level"] == "clinician_review"


def test_a_row_of_quoted_empty_cells_has_no_answers(tmp_path):
    # No cell is missing from the file, yet the second row answers nothing: it must still be reported.
    header = (CORPUS / "good.csv").read_text().splitlines()[0]
    empty = ",".join(['""'] * len(header.split(",")))
    source = tmp_path / "quoted-empty.csv"
    source.write_text(f"{header}\nA-1,{GOOD_TAIL}\n{empty}\n")
    out = tmp_path / "quoted-empty.out.csv"
    result = score(str(source), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert [(row["status"], row["error"]) for row in rows_of(out)] == [
        ("ok", ""),
        ("error", "no intake answers in this row"),
    ]


def test_a_batch_whose_lines_are_not_its_rows_is_written_anew(tmp_path):
    header = (CORPUS / "good.csv").read_text().splitlines()[0]
    source = tmp_path / "odd.csv"
    # A NUL byte and a quoted line break: the batch cannot be copied line by line.
    source.write_bytes(f'{header}\n"A\x00B",{GOOD_TAIL}\n"C\nD",{GOOD_TAIL}\n"E",{GOOD_TAIL}\n'.encode())
    out = tmp_path / "odd.out.csv"
    result = score(str(source), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    got = rows_of(out)
    assert [row["client_id"] for row in got] == ["A\x00B", "C\nD", "E"]
    assert {row["status"] for row in got} == {"ok"}
    assert out.read_text().splitlines()[-1].startswith("E,34,")  # written anew: no needless quotes


@pytest.mark.parametrize(
    "name,message",
    [
        ("latin1", "latin1.csv:2: not UTF-8 text (byte 0xe9"),
        ("dup", "column `age` (for age) appears more than once (columns 2 and 23)"),
        ("ragged", "ragged.csv:3: this row has 24 fields but the header names 22"),
        ("empty", "the file is empty or its first row is blank"),
        ("missing", "missing standard columns: readiness, housing (nearest headers: readiness ~ Readyness; housing ~"),
    ],
)
def test_unusable_files_get_one_clear_line(tmp_path, name, message):
    result, out = scored(tmp_path, name)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_header_only_gives_a_header_only_output(tmp_path):
    result, out = scored(tmp_path, "headeronly")
    assert result.returncode == 0
    assert (
        out.read_text()
        .splitlines()[0]
        .endswith(
            ",level,rule,reason,alerts,status,error,ignored,missing,level_min,level_max,decided_by,d1,d2,d3,d4,d5,d6"
        )
    )
    assert rows_of(out) == []


def test_output_never_overwrites_the_input(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes((CORPUS / "good.csv").read_bytes())
    before = source.read_bytes()
    result = score(str(source), "-o", str(source))
    assert result.returncode == 1 and "is an input of this command" in result.stderr
    assert source.read_bytes() == before


def test_stdin_to_stdout_and_jsonl(tmp_path):
    text = (CORPUS / "badvals.csv").read_text()
    result = score("-", "--format", "jsonl", "--quiet", input=text)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert records[0]["age"] == "34" and records[0]["level"] == "iop" and records[1]["level"] is None
    csv_out = score("-", "--quiet", input=text)
    assert len(list(csv.DictReader(io.StringIO(csv_out.stdout)))) == 3


def test_jsonl_input_members_are_the_cells_whatever_they_hold(tmp_path):
    """Cells JSON must escape (quotes, backslashes, tabs, line breaks, other control characters) beside cells it
    need not (non-ASCII, U+2028, DEL): each line is valid JSON and each input member is the cell as read, a blank
    cell null, formulas neutralized as in CSV output."""
    with open(CORPUS / "good.csv", newline="") as handle:
        header, row = list(csv.reader(handle))[:2]
    cells = [
        'a"b',
        "back\\slash",
        "tab\there",
        "line\nbreak",
        "é",
        "\u2028",
        "\x7f",
        "cr\rx",
        "\x01",
        "=1+1",
        "",
        "plain",
    ]
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([*header, 'note "x"', "back\\"])
        for i, cell in enumerate(cells):
            out.writerow([f"{row[0]}-{i}", *row[1:], cell, cells[-1 - i]])
    result = score(str(source), "--format", "jsonl", "--quiet")
    assert result.returncode == 0, result.stderr
    # Lines end at a line feed only: str.splitlines would also split at U+2028, which JSON leaves as it is.
    records = [json.loads(line) for line in result.stdout.split("\n")[:-1]]
    assert len(records) == len(cells)
    for i, (record, cell) in enumerate(zip(records, cells, strict=True)):
        assert record[header[0]] == f"{row[0]}-{i}" and record[header[1]] == row[1]
        shown = {"=1+1": "'=1+1", "": None}  # a formula neutralized as in CSV output; a blank cell is null
        assert record['note "x"'] == shown.get(cell, cell)
        assert record["back\\"] == shown.get(cells[-1 - i], cells[-1 - i])
        assert record["level"] == "iop"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_columns_no_reason_leaves_only_the_reason_out(tmp_path, fmt):
    source = str(CORPUS / "badvals.csv")
    full = score(source, "--quiet", "-f", fmt)
    short = score(source, "--quiet", "-f", fmt, "--columns", "no-reason")
    assert full.returncode == short.returncode == 0, short.stderr
    if fmt == "csv":
        rows = [list(csv.reader(io.StringIO(r.stdout))) for r in (full, short)]
        at = rows[0][0].index("reason")
        assert rows[1] == [row[:at] + row[at + 1 :] for row in rows[0]]
    else:
        objects = [[json.loads(line) for line in r.stdout.splitlines()] for r in (full, short)]
        assert objects[1] == [{k: v for k, v in o.items() if k != "reason"} for o in objects[0]]
        assert [list(o) for o in objects[1]] == [[k for k in o if k != "reason"] for o in objects[0]]
    assert len(short.stdout) < len(full.stdout)
    if fmt == "csv":
        assert "reason" not in short.stdout.splitlines()[0].split(",")


def test_summary_on_stderr_and_as_json(tmp_path):
    summary = tmp_path / "summary.json"
    result = score(str(CORPUS / "badvals.csv"), "-o", str(tmp_path / "o.csv"), "--summary-json", str(summary))
    assert result.returncode == 0
    assert "Scored 3 rows" in result.stderr and "age: is outside the allowed range" in result.stderr
    data = json.loads(summary.read_text())
    assert data["rows"] == 3 and data["status"] == {"ok": 2, "error": 1}
    assert data["levels"] == {"iop": 2}
    assert {"reason": "pregnant: is not yes or no (allowed: yes or no)", "rows": 1} in data["top_errors"]
    assert stat.S_IMODE(os.stat(summary).st_mode) == 0o600


def test_quiet_prints_nothing_and_no_progress_without_a_terminal(tmp_path):
    quiet = score(str(CORPUS / "good.csv"), "-o", str(tmp_path / "a.csv"), "--quiet")
    assert quiet.stderr == ""
    loud = score(str(CORPUS / "good.csv"), "-o", str(tmp_path / "b.csv"))
    assert "Scored 1 rows" in loud.stderr and "scoring" not in loud.stderr  # the summary, not a progress bar


def test_huge_cell_is_an_error_for_its_row_only(tmp_path):
    lines = (CORPUS / "good.csv").read_text().splitlines()
    huge = "x" * 100_000
    source = tmp_path / "huge.csv"
    source.write_text("\n".join([lines[0], huge + lines[1][3:], lines[1]]) + "\n")
    out = tmp_path / "o.csv"
    result = score(str(source), "-o", str(out), "--quiet")
    assert result.returncode == 0
    bad, good = rows_of(out)
    assert bad["status"] == "error" and "is longer than 200 characters" in bad["error"]
    assert len(bad["error"]) < 300  # the cell is quoted only in part
    assert good["status"] == "ok"


def test_missing_input_and_bad_map_are_one_line(tmp_path):
    result = score(str(tmp_path / "nope.csv"))
    assert (
        result.returncode == 1
        and result.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: no such file (check the path; - reads stdin)"
    )
    bad_map = tmp_path / "bad.map.yaml"
    bad_map.write_text("colums:\n  age: AGE\nvalues:\n  housing: {1: homless}\nunanswered: [hosing]\n")
    result = score(str(CORPUS / "good.csv"), "--map", str(bad_map))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: {bad_map}:1:1: unknown key `colums` (did you mean `columns`?)"
    assert f"{bad_map}:4:16: values: housing: 'homless' is not one of the choices; did you mean `homeless`?" in lines[1]
    assert f"{bad_map}:5:14: unknown field `hosing` (did you mean `housing`?)" == lines[2].removeprefix("error: ")


def test_mapping_renames_recodes_and_derives(tmp_path):
    source = tmp_path / "export.csv"
    good = rows_of(CORPUS / "good.csv")[0]
    header = [k for k in good if k not in ("age", "housing", "psychiatric_symptoms")] + ["AGE_Y", "LIV", "PSY"]
    values = [good[k] for k in header[:-3]]
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow([*values, "34.0", "3.0", "2"])
        writer.writerow([*values, "-9", "1", "1"])
    first, second = scored_with_map(
        source,
        "columns: {age: AGE_Y, housing: LIV}\n"
        "missing: [-9]\n"
        "values: {housing: {1: homeless, 3: stable}}\n"
        "derive:\n  psychiatric_symptoms:\n    cases:\n      - {when: PSY == 2, value: none}\n    otherwise: mild\n",
    )
    assert (first["level"], first["status"]) == ("iop", "ok")
    # age -9 means unanswered; no placement rule reads age, so homeless is residential, with age listed as missing
    assert (second["level"], second["status"], second["missing"]) == ("residential", "ok", "age")


def test_a_code_the_map_does_not_list_is_an_error_not_an_answer(tmp_path):
    # An age band of 13 where the map lists 1-12 is no 13-year-old (that would raise the adolescent alert); a
    # missing code is still unanswered, and a column without a code list still reads its cells as answers.
    source = tmp_path / "export.csv"
    good = rows_of(CORPUS / "good.csv")[0]
    header = [k for k in good if k not in ("age",)] + ["AGE"]
    values = [good[k] for k in header[:-1]]
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for band in ("3", "13", "-9", "3.0"):
            writer.writerow([*values, band])
    rows = scored_with_map(source, "columns: {age: AGE}\nmissing: [-9]\nvalues: {age: {1: 12, 2: 15, 3: 18}}\n")
    assert [(r["status"], r["level"]) for r in rows] == [("ok", "iop"), ("error", ""), ("ok", "iop"), ("ok", "iop")]
    assert rows[1]["error"] == (
        "age: '13' is not one of the codes the map lists for this field (allowed: 1, 2, 3, or a missing code)"
    )
    assert "adolescent" not in rows[1]["alerts"] and rows[2]["missing"] == "age"


def test_progress_line_on_a_terminal(tmp_path):
    """On a terminal, stderr shows rows and rows per second while scoring (Rich redraws it in place)."""
    import pexpect

    from .conftest import iop_command

    good = (CORPUS / "good.csv").read_text().splitlines()
    source = tmp_path / "many.csv"
    source.write_text("\n".join([good[0], *([good[1]] * 300_000)]) + "\n")
    command = iop_command()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    child = pexpect.spawn(
        command[0],
        [*command[1:], "score", str(source), "-o", str(tmp_path / "o.csv")],
        env=env,
        timeout=60,
        encoding="utf-8",
    )
    child.expect(r"scoring [\d,]+ rows · [\d,]+ rows/s")
    child.expect_exact("Scored 300,000 rows")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_output_is_never_the_map_or_a_folder(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {}\n")
    result = score(str(CORPUS / "good.csv"), "--map", str(mapping), "-o", str(mapping))
    assert result.returncode == 1 and "is an input of this command" in result.stderr
    assert mapping.read_text() == "columns: {}\n"
    result = score(str(CORPUS / "good.csv"), "-o", str(tmp_path))
    assert result.returncode == 1 and ": is a folder" in result.stderr


def test_another_rule_pack_is_used_and_named_in_the_summary(tmp_path, pack_copy):
    meta = pack_copy / "pack.yaml"
    meta.write_text(meta.read_text().replace('version: "2.0.0"', 'version: "9.9.9"'))
    summary = tmp_path / "s.json"
    result = score(
        str(CORPUS / "good.csv"),
        "--rules",
        str(pack_copy),
        "-o",
        str(tmp_path / "o.csv"),
        "--summary-json",
        str(summary),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(summary.read_text())["pack"]["version"] == "9.9.9"
    broken = pack_copy / "rules.yaml"
    broken.write_text(broken.read_text().replace("when: ", "wen: ", 1))
    result = score(str(CORPUS / "good.csv"), "--rules", str(pack_copy), "--quiet")
    assert result.returncode == 1 and "unknown key `wen`" in result.stderr and "Traceback" not in result.stderr


def test_a_reader_that_stops_early_gets_no_error(tmp_path):
    """`iop score big.csv -o - | head`: when stdout closes early the command stops quietly (exit 141, no message)."""
    import subprocess

    from .conftest import iop_command

    header = (CORPUS / "good.csv").read_text().splitlines()[0]
    source = tmp_path / "big.csv"
    source.write_text(header + "\n" + "".join(f"A-{i},{GOOD_TAIL}\n" for i in range(20_000)))
    reader = subprocess.Popen(
        [*iop_command(), "score", str(source), "-o", "-", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert reader.stdout.read(100).startswith(b"client_id,")
    reader.stdout.close()
    _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 141
    assert stderr == b""


def test_a_value_set_is_filled_from_its_members_only_and_joined_columns_make_a_selection(tmp_path):
    """A map's list of values for a code (TEDS-A's DSMCRIT "dependence": 4 or more criteria) leaves the answer
    missing, but the exact missing-answer rule fills it from those values only: the level stands where every
    member leads to it, and a review row's range is that of its members (each decided by the engine here). Several
    columns listed for a multi-select each give one code of the selection."""
    from iop_cli.decide.engine import checked, decide
    from iop_cli.pack.build import load_pack

    pack = load_pack()
    good = rows_of(CORPUS / "good.csv")[0]
    header = [k for k in good if k != "dsm5_criteria_count"] + ["DSM", "S2", "S3"]
    base = [good[k] for k in header[:-3]]
    source = tmp_path / "export.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow([*base, "1", "1", ""])  # abuse, one of 2-3: every member gives the good row's IOP
        writer.writerow([*base, "2", "-9", "1"])  # dependence, 4-11: IOP for 4 and 5, more for 6 and up
        writer.writerow([*base, "3", "5", "2"])  # criteria unknown; opioids and alcohol besides the primary
    rows = scored_with_map(
        source,
        "columns: {dsm5_criteria_count: DSM, other_substances: [S2, S3]}\n"
        "missing: [-9]\n"
        "values:\n"
        "  dsm5_criteria_count: {1: [2, 3], 2: [4, 5, 6, 7, 8, 9, 10, 11], 3: null}\n"
        "  other_substances: {1: null, 2: alcohol, 5: opioids}\n",
    )
    answers = {k: v for k, v in good.items() if v}
    ranks = {level.id: level.rank for level in pack.levels.values()}

    def levels(members, **changes) -> list[str]:
        found = {
            decide(pack, checked(pack, {**answers, **changes, "dsm5_criteria_count": m})).level.id for m in members
        }
        return sorted(found, key=lambda level: ranks[level])

    for row, members in zip(rows, ([2, 3], range(4, 12), range(12)), strict=True):
        assert "dsm5_criteria_count" in row["missing"].split(";")
        reached = levels(members, other_substances="opioids;alcohol" if row is rows[2] else "")
        if len(reached) == 1:
            assert (row["level"], row["status"]) == (reached[0], "ok"), row
        else:
            assert (row["level"], row["status"]) == ("clinician_review", "review"), row
            assert (row["level_min"], row["level_max"]) == (reached[0], reached[-1]), row
    assert rows[0]["level"] == "iop" and rows[1]["status"] == "review"
    assert "offer_moud" in rows[2]["alerts"] and "offer_moud" not in rows[1]["alerts"]  # opioids from S2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "values: {other_substances: {1: [alcohol, opioids]}}",
            "values: other_substances: 1: a multi-select code names one choice",
        ),
        ("values: {housing: {1: [stable, palace]}}", "'palace' is not one of the choices"),
        (
            "values: {housing: {1: [stable]}}",
            "a list of values needs a yes/no, choice or number question and 2 or more",
        ),
        ("columns: {housing: [A, B]}", "columns: `housing` takes one answer, so it reads one column"),
        ("values: {pregnant: {1: [yes, no]}}", "a list of values needs a required question; `pregnant` is optional"),
        (
            "values: {age: {1: [" + ", ".join(str(n) for n in range(12, 80)) + "]}}",
            "its lists name more than 62 values",
        ),
    ],
)
def test_value_sets_and_joined_columns_are_checked_when_the_map_loads(tmp_path, text, message):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(text + "\n")
    result = score(str(CORPUS / "good.csv"), "--map", str(mapping), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
