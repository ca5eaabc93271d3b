"""The rendering stage of batch scoring against a plain writer: whichever way the fast path writes a row (its input
line copied as it was, or its cells written anew), the output is byte for byte what writing each row's cells one by
one gives, with formula cells neutralized and the quoting rule of `batch.render.csv_line`."""

from __future__ import annotations

import csv
import io

import pytest

from iop_cli.batch import read as batch_read
from iop_cli.batch import score as batch
from iop_cli.batch.render import csv_line, neutral_text
from iop_cli.output.contracts import SCORE_COLUMNS, score_columns

from .test_interview import CANDIDATE

# Cells that take every path: plain, quoted (comma, quote), formula-like, empty, and a row cut short.
CLIENT_IDS = ["A-1", "a,b", 'say "hi"', "=1+1", "+x", "@sum", "-2", "", "\tTab", "plain"]


def plain_writer(source: str, scored: str, outputs: int = len(SCORE_COLUMNS)) -> str:
    """Each input row's cells (padded to the header, neutralized) and the scorer's outcome cells, written one
    row at a time."""
    rows = list(csv.reader(io.StringIO(source, newline="")))
    out = list(csv.reader(io.StringIO(scored, newline="")))
    assert len(out) == len(rows)
    width = len(rows[0])
    lines = [csv_line(out[0])]
    for row, result in zip(rows[1:], out[1:], strict=True):
        cells = [neutral_text(c) for c in row + [""] * (width - len(row))]
        lines.append(csv_line(cells + result[-outputs:]))
    return "".join(lines)


def source_text(pack, multiline: bool) -> str:
    header = [q.id for q in pack.asked]
    lines = [csv_line(header)]
    for number, client in enumerate(CLIENT_IDS * 3):
        cells = ["" if CANDIDATE.get(f) is None else str(CANDIDATE[f]) for f in header]
        cells[header.index("client_id")] = client
        if number % 7 == 3:
            cells[header.index("age")] = "200"  # an error row
        if number % 5 == 4:
            cells = cells[:5]  # a short row
        if multiline and number == 11:
            cells[header.index("client_id")] = "two\nlines"  # lines are no longer rows: every row written anew
        lines.append(csv_line(cells))
    return "".join(lines)


@pytest.mark.parametrize("multiline", [False, True], ids=["lines-copied", "rows-rewritten"])
@pytest.mark.parametrize("chunk_bytes", [300, 1 << 20], ids=["small-batches", "one-batch"])
def test_the_fast_path_writes_what_a_plain_writer_writes(tmp_path, monkeypatch, pack, multiline, chunk_bytes):
    monkeypatch.setattr(batch_read, "CHUNK_BYTES", chunk_bytes)
    text = source_text(pack, multiline)
    source = tmp_path / "in.csv"
    source.write_text(text, encoding="utf-8", newline="")
    out = io.BytesIO()
    summary = batch.score_file(str(source), out, pack, None)
    written = out.getvalue().decode("utf-8")
    assert summary.rows == len(CLIENT_IDS) * 3
    assert written == plain_writer(text, written, len(score_columns(pack)))
    rows = list(csv.reader(io.StringIO(written, newline="")))
    statuses = [row[rows[0].index("status")] for row in rows[1:]]
    assert "error" in statuses and "ok" in statuses  # both kinds of row went through
    assert "'=1+1" in written and "'@sum" in written and ",=1+1" not in written


@pytest.mark.parametrize("chunk_bytes", [300, 1 << 20], ids=["small-batches", "one-batch"])
def test_json_lines_hold_what_the_csv_holds(tmp_path, monkeypatch, pack, chunk_bytes):
    """JSON lines are made from the same per-outcome texts as CSV: each object holds the row's cells (neutralized,
    an empty cell null or empty), then the outcome cells, ratings as numbers, in the output's column order."""
    import json

    monkeypatch.setattr(batch_read, "CHUNK_BYTES", chunk_bytes)
    text = source_text(pack, multiline=True)
    source = tmp_path / "in.csv"
    source.write_text(text, encoding="utf-8", newline="")
    as_csv, as_json = io.BytesIO(), io.BytesIO()
    batch.score_file(str(source), as_csv, pack, None, "csv")
    batch.score_file(str(source), as_json, pack, None, "jsonl")
    rows = list(csv.reader(io.StringIO(as_csv.getvalue().decode("utf-8"), newline="")))
    objects = [json.loads(line) for line in as_json.getvalue().decode("utf-8").splitlines()]
    assert len(objects) == len(rows) - 1 == len(CLIENT_IDS) * 3
    header, outputs = rows[0], score_columns(pack)
    for row, found in zip(rows[1:], objects, strict=True):
        assert list(found) == header
        as_text = {k: "" if v is None else str(v) for k, v in found.items()}
        assert as_text == dict(zip(header, row, strict=True))
        assert all(isinstance(found[d.id], int | None) for d in pack.profile)
        assert found["status"] in ("ok", "provisional", "review", "error") and found["error"] != ""
    assert {o["status"] for o in objects} >= {"error", "ok"} and any(o["client_id"] == "'=1+1" for o in objects)
    assert header[-len(outputs) :] == list(outputs)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_pairs_too_wide_for_one_key_render_alike(tmp_path, monkeypatch, pack, fmt):
    """A pack whose outcome codes and alert masks do not fit one integer renders each pair from its parts: the
    same bytes as the one-lookup path."""
    source = tmp_path / "in.csv"
    source.write_text(source_text(pack, multiline=False), encoding="utf-8", newline="")
    keyed = io.BytesIO()
    batch.score_file(str(source), keyed, pack, None, fmt)
    monkeypatch.setattr(batch, "KEY_BITS", 0)
    parts = io.BytesIO()
    batch.score_file(str(source), parts, pack, None, fmt)
    assert parts.getvalue() == keyed.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_ratings_keyed_by_the_answers_themselves_render_alike(tmp_path, monkeypatch, pack, fmt):
    """A dimension whose answers have no classes is rated row by row from the answers as they are (rows with a
    problem left unrated): the same bytes as rating each distinct integer key once."""
    from iop_cli.decide import frame

    source = tmp_path / "in.csv"
    source.write_text(source_text(pack, multiline=False), encoding="utf-8", newline="")
    keyed = io.BytesIO()
    batch.score_file(str(source), keyed, pack, None, fmt)
    made = frame.ProfileRater.__init__

    def unkeyed(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.codes, self.tables = dict.fromkeys(self.codes), {}

    monkeypatch.setattr(frame.ProfileRater, "__init__", unkeyed)
    by_answers = io.BytesIO()
    batch.score_file(str(source), by_answers, pack, None, fmt)
    assert by_answers.getvalue() == keyed.getvalue()
    assert b"error" in keyed.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_ratings_looked_up_by_key_render_alike(tmp_path, monkeypatch, pack, fmt):
    """Ratings read from a dimension's table of keys (every dimension of the default pack has one) and ratings
    looked up per distinct key give the same bytes."""
    from iop_cli.decide import frame

    source = tmp_path / "in.csv"
    source.write_text(source_text(pack, multiline=False), encoding="utf-8", newline="")
    assert all(d.id in frame.ProfileRater(pack).tables for d in pack.profile)
    tabled = io.BytesIO()
    batch.score_file(str(source), tabled, pack, None, fmt)
    monkeypatch.setattr(frame, "TABLE_KEYS", 0)
    assert not frame.ProfileRater(pack).tables
    distinct = io.BytesIO()
    batch.score_file(str(source), distinct, pack, None, fmt)
    assert tabled.getvalue() == distinct.getvalue()


def test_rows_with_a_problem_are_not_searched(tmp_path, monkeypatch, pack):
    """A row with a bad cell is left undecided, so its missing answers are never searched (nor rated): the
    settler searches only the row whose required answer is blank and whose cells are all good."""
    from iop_cli.decide import frame

    header = [q.id for q in pack.asked]
    rows = [csv_line(header)]
    for bad in ("age", "readiness", None):  # two rows with a bad cell, then a good row; each lacks two answers
        cells = {**CANDIDATE, "use_frequency": None, "medical_instability": None}
        if bad is not None:
            cells[bad] = "maybe"
        rows.append(csv_line(["" if cells.get(f) is None else str(cells[f]) for f in header]))
    source = tmp_path / "in.csv"
    source.write_text("".join(rows), encoding="utf-8", newline="")
    searched: list[dict] = []
    code = frame.MissingSettler.code
    monkeypatch.setattr(frame.MissingSettler, "code", lambda self, case: searched.append(case) or code(self, case))
    out = io.BytesIO()
    batch.score_file(str(source), out, pack, None, "csv")
    statuses = [row[-len(score_columns(pack)) + 4] for row in csv.reader(io.StringIO(out.getvalue().decode()))][1:]
    assert statuses == ["error", "error", "review"]
    assert len(searched) == 1


def test_a_blank_cell_beside_a_bad_one_is_still_a_missing_answer(tmp_path, pack):
    """A column with a bad cell in one row and an empty cell in another: the empty one is a missing answer, settled
    as it is when the batch has no bad cell (the test of a bad cell must not be unknown for an empty one)."""
    header = [q.id for q in pack.asked]

    def line(**changed) -> str:
        cells = {**CANDIDATE, **changed}
        return csv_line(["" if cells.get(f) is None else str(cells[f]) for f in header])

    alone, beside = tmp_path / "alone.csv", tmp_path / "beside.csv"
    alone.write_text(csv_line(header) + line(age=None, use_frequency=None), encoding="utf-8", newline="")
    beside.write_text(
        csv_line(header) + line(age="maybe") + line(age=None, use_frequency=None), encoding="utf-8", newline=""
    )
    outputs = []
    for source in (alone, beside):
        out = io.BytesIO()
        batch.score_file(str(source), out, pack, None, "csv")
        outputs.append(list(csv.reader(io.StringIO(out.getvalue().decode())))[1:])
    assert outputs[1][0][-len(score_columns(pack)) + 4] == "error"
    assert outputs[1][1] == outputs[0][0]
    assert outputs[0][0][-len(score_columns(pack)) + 4] == "review"
