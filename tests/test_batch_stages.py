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
