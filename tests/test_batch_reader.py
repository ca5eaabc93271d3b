"""Batches end at record boundaries, whatever the batch size: quoted newlines and doubled quotes never split a row."""

from __future__ import annotations

import csv
import io
import random

import pytest

from iop_cli.batch.read import read_chunks


def tricky_csv(rows: int, seed: int) -> tuple[bytes, list[list[str]]]:
    rng = random.Random(seed)
    cells = ["plain", "with, comma", 'say ""hi""', "two\nlines", "crlf\r\nline", "", "-5", '"quoted"']
    header = ["a", "b", "multi\nline header"]
    records = [[rng.choice(cells) for _ in header] for _ in range(rows)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=rng.choice(["\n", "\r\n"])).writerows([header, *records])
    return buffer.getvalue().encode(), records


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("seed", range(5))
def test_chunks_hold_whole_records(tmp_path, chunk_bytes, seed):
    data, records = tricky_csv(200, seed)
    path = tmp_path / "tricky.csv"
    path.write_bytes(data)
    chunks = [chunk for _, chunk in read_chunks(str(path), chunk_bytes)]
    header_length = len(data) - len(b"".join(chunks))
    assert b"".join(chunks) == data[header_length:]  # nothing lost or repeated, header skipped whole
    parsed = [row for chunk in chunks for row in csv.reader(io.StringIO(chunk.decode(), newline=""))]
    assert parsed == records  # every chunk parses on its own into complete rows


def test_no_trailing_newline_and_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n3,4")
    assert b"".join(chunk for _, chunk in read_chunks(str(path), 3)) == b"1,2\n3,4"
