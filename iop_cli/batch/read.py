"""Batch scoring: reading. The input in batches that end at record boundaries (a line feed outside quotes), with the
problems of unreadable input said in our own words: where, and how to fix it.
"""

from __future__ import annotations

import csv
import io
import re

from iop_cli.files import InputFile
from iop_cli.problems import Problem, ProblemsError

_UTF8_HINT = "save it as UTF-8 (in a spreadsheet, CSV UTF-8), or give --input-format for an Excel or Parquet file"


def encoding_problem(source: InputFile) -> Problem:
    """Where the first byte that is not UTF-8 is, found by reading the file again in Python (error path only)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset, name = 1, 0, source.name
    with source.open() as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = chunk[exc.start]
                line += chunk[: exc.start].count(b"\n")
                return Problem(
                    f"{name}:{line}",
                    f"not UTF-8 text (byte 0x{bad:02x} at offset {offset + exc.start})",
                    _UTF8_HINT,
                )
            line += chunk.count(b"\n")
            offset += len(chunk)
    return Problem(name, "not UTF-8 text", "save the file as UTF-8")


def unreadable(chunk: bytes, first_line: int, name: str, width: int) -> Problem:
    """Why Polars could not read a batch, found by reading it again in Python (error path only): the first line with
    a quote out of place, a quote never closed, or more fields than the header. Names the line, never its cells."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + chunk[: exc.start].count(b"\n")
        return Problem(f"{name}:{line}", f"not UTF-8 text (byte 0x{chunk[exc.start]:02x})", _UTF8_HINT)
    line, record_line, fields, at_start, quoted, opened = first_line, first_line, 1, True, False, first_line
    n, i = len(text), 0
    quote_hint = 'quote the whole cell and double the quotes inside it, e.g. "5\'10""" for 5\'10"'
    while i < n:
        char = text[i]
        if quoted:
            if char == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
                    following = text[i + 1] if i + 1 < n else "\n"
                    if following not in ",\r\n":
                        return Problem(f"{name}:{line}", "text follows a closing quote in a cell", quote_hint)
            elif char == "\n":
                line += 1
        elif char == '"':
            if not at_start:
                return Problem(f"{name}:{line}", "a double quote inside a cell that is not quoted", quote_hint)
            quoted, opened = True, line
        elif char == ",":
            fields += 1
            at_start = True
            i += 1
            continue
        elif char == "\n":
            if fields > width:
                return _too_many(name, record_line, fields, width)
            line += 1
            record_line, fields = line, 1
            at_start = True
            i += 1
            continue
        at_start = False
        i += 1
    if quoted:
        return Problem(f"{name}:{opened}", "a quoted cell starts here and is never closed", quote_hint)
    if fields > width:
        return _too_many(name, record_line, fields, width)
    last = first_line + max(chunk.count(b"\n") - 1, 0)
    return Problem(
        f"{name}:{first_line}-{last}", "these lines cannot be read as CSV", "check the quoting and the delimiter"
    )


def _too_many(name: str, line: int, fields: int, width: int) -> Problem:
    return Problem(
        f"{name}:{line}",
        f"this row has {fields} fields but the header names {width}",
        "quote cells that contain commas, or add the missing header names",
    )


CHUNK_BYTES = 4 << 20  # one batch of input: memory stays bounded (two are scored at once)

MAX_RECORD_BYTES = 128 << 20  # one record (a row with its quoted line breaks) may be this long, no longer


def _record_end(buffer: bytes, start: int = 0, quotes_before: int = 0) -> int:
    """The last line feed in `buffer[start:]` that ends a record: an even number of quotes before it, so it is not
    inside a quoted cell (doubled quotes keep the count even). `quotes_before` is the count in `buffer[:start]`.
    One pass: each part of the buffer is counted once. -1 when there is none."""
    position = buffer.rfind(b"\n", start)
    if position < 0:
        return -1
    quotes = quotes_before + buffer.count(b'"', start, position)
    while quotes % 2:
        earlier = buffer.rfind(b"\n", start, position)
        if earlier < 0:
            return -1
        quotes -= buffer.count(b'"', earlier, position)
        position = earlier
    return position


def first_record_end(handle, limit: int) -> int:
    """The offset just after the header record (which may itself hold quoted newlines); -1 past `limit` bytes."""
    seen = b""
    quotes = 0
    while len(seen) <= limit:
        block = handle.read(1 << 16)
        if not block:
            return len(seen)
        start = len(seen)
        seen += block
        position = seen.find(b"\n", start)
        while position >= 0:
            quotes += seen.count(b'"', start, position)
            if quotes % 2 == 0:
                return position + 1
            start = position
            position = seen.find(b"\n", position + 1)
        quotes += seen.count(b'"', start)
    return -1


def read_chunks(source: InputFile | str, chunk_bytes: int | None = None, start: int | None = None):
    """The data rows as (first line number, bytes) chunks that each end at a record boundary. A chunk grows past
    `chunk_bytes` (CHUNK_BYTES, read when called) only to finish a long record, and never past MAX_RECORD_BYTES
    more: a quote that is never closed is reported at the line where its record starts, in one linear pass."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    if isinstance(source, str):
        with InputFile(source) as opened:
            yield from read_chunks(opened, chunk_bytes, start)
        return
    if start is None:
        with source.open() as handle:
            start = first_record_end(handle, MAX_HEADER_BYTES)
    line = 1 + source.read_at(0, start).count(b"\n") if start > 0 else 1
    offset = start
    block = b""
    scanned = quotes = 0  # how much of `block` has been searched for a record end, and its quotes
    # The input is read forward only: each byte once, and a streamed input lets it go at once (`release`).
    while more := source.read_at(offset, chunk_bytes):
        offset += len(more)
        source.release(offset)
        block = block + more if block else more
        if len(more) < chunk_bytes:
            break  # the end of the file: the rest is the last chunk
        cut = _record_end(block, scanned, quotes)
        if cut < 0:
            quotes += block.count(b'"', scanned)
            scanned = len(block)
            if len(block) > chunk_bytes + MAX_RECORD_BYTES:
                raise ProblemsError([_runaway(source.name, line)])
            continue
        chunk, block = block[: cut + 1], block[cut + 1 :]  # the part after the record end starts the next chunk
        yield line, chunk
        line += chunk.count(b"\n")
        scanned = quotes = 0
    if block:
        if block.count(b'"') % 2:
            cut = _record_end(block)
            raise ProblemsError([_runaway(source.name, line + block.count(b"\n", 0, cut + 1), at_end=True)])
        yield line, block


def _runaway(name: str, line: int, at_end: bool = False) -> Problem:
    where = "runs to the end of the file" if at_end else f"runs past {MAX_RECORD_BYTES >> 20} MiB"
    return Problem(
        f"{name}:{line}",
        f"the row that starts here {where}: a double quote in it is never closed",
        'quote the whole cell and double the quotes inside it, e.g. "5\'10""" for 5\'10"',
    )


MAX_HEADER_BYTES = 16 << 20


def read_header(source: InputFile) -> tuple[list[str], int]:
    """The header row and the offset where the data rows start. Line ends follow the one rule the batches follow
    too: a record ends at a line feed outside quotes (CRLF included); a lone carriage return does not end one."""
    name = source.name
    with source.open() as handle:
        end = first_record_end(handle, MAX_HEADER_BYTES)
    if end < 0:
        raise ProblemsError(
            [Problem(f"{name}:1", "the header row is longer than 16 MiB", "check that this is a CSV file")]
        )
    data = source.read_at(0, end)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemsError([encoding_problem(source)]) from None
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if _bare_carriage_return(text):
        raise ProblemsError(
            [
                Problem(
                    f"{name}:1",
                    "the lines end with a carriage return alone (old Mac style), which iop score does not read",
                    "save the file with LF or CRLF line ends, e.g. tr '\\r' '\\n' < in.csv > fixed.csv",
                )
            ]
        )
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), strict=True), None)
    except csv.Error:
        raise ProblemsError(
            [Problem(f"{name}:1", "the header row is not valid CSV", "quote names that hold commas or quotes")]
        ) from None
    if not header or not any(cell.strip() for cell in header):
        raise ProblemsError(
            [Problem(name, "the file is empty or its first row is blank", "the first row must name the columns")]
        )
    return header, end


def _bare_carriage_return(text: str) -> bool:
    """Whether a carriage return stands outside quotes (a quoted one is part of a cell)."""
    if "\r" not in text:
        return False
    outside = re.sub(r'"[^"]*"', "", text)
    return "\r" in outside


def record_lines(chunk: bytes, first_line: int, rows: list[int]) -> list[int]:
    """The line where each of `rows` (records of `chunk`, counted from 0) starts, for messages: a record ends at a
    line feed outside quotes, so one with a quoted line break spans several lines."""
    if b'"' not in chunk:
        return [first_line + row for row in rows]
    starts, line, position, record, last = {}, first_line, 0, 0, max(rows, default=-1)
    wanted = set(rows)
    while record <= last:
        if record in wanted:
            starts[record] = line
        quotes = 0
        while True:  # to the end of this record
            end = chunk.find(b"\n", position)
            if end < 0:
                position = len(chunk)
                break
            quotes += chunk.count(b'"', position, end)
            position, line = end + 1, line + 1
            if quotes % 2 == 0:
                break
        record += 1
    return [starts.get(row, line) for row in rows]
