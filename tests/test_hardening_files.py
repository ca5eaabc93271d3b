"""Hardening, rows and files: each reproduction from the hardening issue (items 1-7, 18-20) as a test. No input, fault
or signal loses a row, damages a file, leaves PHI behind, or exits 0 or 70 where it should say one clear line."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iop_cli.batch import read as batch_read
from iop_cli.batch import score as batch
from iop_cli.problems import ProblemsError

from .conftest import iop_command, iop_in_process

CORPUS = Path(__file__).parent / "corpus" / "score"
GOOD = (CORPUS / "good.csv").read_text().splitlines()
HEADER, ROW = GOOD[0], GOOD[1]


def one_error(result, *fragments: str) -> str:
    """The command failed with exit 1 and exactly one `error:` line holding every fragment (and no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".iop-tmp-") or p.name.endswith(".part")]


# -- 1. line ends -------------------------------------------------------------------------------------------------


def test_carriage_return_line_ends_are_refused_not_scored_as_nothing(tmp_path):
    source = tmp_path / "mac.csv"
    source.write_bytes((HEADER + "\r" + ROW + "\r" + ROW.replace("A-1", "B-2") + "\r").encode())
    result = iop_in_process("score", str(source), "-o", str(tmp_path / "out.csv"), "-q")
    one_error(result, "mac.csv:1:", "carriage return alone", "LF or CRLF")
    assert not (tmp_path / "out.csv").exists()


def test_one_line_end_rule_for_header_and_rows(tmp_path):
    """CRLF files score row for row; a carriage return inside a quoted header name is part of the name."""
    source = tmp_path / "crlf.csv"
    header = HEADER.replace("client_id", '"client\rid"')
    source.write_bytes(("\r\n".join([header, ROW, ROW]) + "\r\n").encode())
    out = tmp_path / "out.csv"
    result = iop_in_process(
        "score", str(source), "-q", "-o", str(out), "--map", str(_map(tmp_path, "client_id", "client\rid"))
    )
    assert result.returncode == 0, result.stderr
    written = rows(out.read_bytes().decode())
    assert len(written) == 3 and written[0][0] == "client\rid" and written[2][written[0].index("status")] == "ok"


def _map(tmp_path: Path, field: str, column: str) -> Path:
    path = tmp_path / "m.map.yaml"
    path.write_text(json.dumps({"columns": {field: column}}))
    return path


# -- 2. an unmatched quote ------------------------------------------------------------------------------------------


def test_unmatched_quote_in_a_large_file_is_linear_and_names_its_line(tmp_path):
    """A client id `C-5'10"x` used to make the reader quadratic (7.6 MB: over 120 s). Now one pass, and the line."""
    source = tmp_path / "quote.csv"
    bad = ROW.replace("A-1", "C-5'10\"x", 1)
    with source.open("w") as out:
        out.write(HEADER + "\n")
        for _ in range(1000):
            out.write(ROW + "\n")
        out.write(bad + "\n")
        for _ in range(60000):  # about 7.6 MB in all
            out.write(ROW + "\n")
    started = time.perf_counter()
    result = iop_in_process("score", str(source), "-o", str(tmp_path / "out.csv"), "-q")
    assert time.perf_counter() - started < 30  # generous; it takes about a second. Guards against the old 120 s.
    line = one_error(result, "quote.csv:1002:", "never closed")
    assert "C-5" not in line  # the row's cells are never echoed
    assert not (tmp_path / "out.csv").exists() and not leftovers(tmp_path)


def test_stray_quote_between_two_good_quotes_names_the_first(tmp_path):
    """Two stray quotes balance each other: the batch cuts, Polars refuses, and our message names the line."""
    source = tmp_path / "two.csv"
    lines = [HEADER, ROW, ROW.replace("A-1", 'x"y', 1), ROW, ROW.replace("A-1", 'p"q', 1), ROW]
    source.write_text("\n".join(lines) + "\n")
    line = one_error(iop_in_process("score", str(source), "-q"), "two.csv:3:", "double quote inside a cell")
    assert 'x"y' not in line


def test_record_end_search_counts_each_byte_once():
    """No record end anywhere in a long block: the answer comes from one pass, not one pass per line feed."""
    block = b'"' + b"x\n" * 2_000_000
    started = time.perf_counter()
    assert batch_read._record_end(block) == -1
    assert time.perf_counter() - started < 5  # the old search took minutes on this


def test_a_runaway_record_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_read, "MAX_RECORD_BYTES", 1000)
    source = tmp_path / "runaway.csv"
    source.write_text(HEADER + "\n" + ROW + "\n" + '"open' + "x\n" * 5000 + '"\n')
    with pytest.raises(ProblemsError) as caught:
        list(batch_read.read_chunks(str(source), chunk_bytes=100))
    assert str(caught.value.problems[0]).startswith(f"{source}:3: the row that starts here runs past")


# -- 3. blank, short and whitespace rows at the start of a batch ---------------------------------------------------


@pytest.mark.parametrize("first", ["", "   ", "A-9,34", ",,,"], ids=["blank", "spaces", "short", "commas"])
@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20], ids=["every-row-a-batch", "one-batch"])
def test_odd_rows_score_the_same_at_the_start_of_a_batch(tmp_path, monkeypatch, first, chunk_bytes, pack):
    monkeypatch.setattr(batch_read, "CHUNK_BYTES", chunk_bytes)
    source = tmp_path / "odd.csv"
    source.write_text("\n".join([HEADER, first, ROW, first, ROW]) + "\n")
    out = io.BytesIO()
    summary = batch.score_file(str(source), out, pack, None)
    written = rows(out.getvalue().decode())
    assert summary.rows == 4 and len(written) == 5  # one output row per input row
    assert written[1][-13:] == written[3][-13:]  # the same outcome at the start of the file as in the middle
    assert written[2][written[0].index("status")] == "ok"


def test_no_polars_message_reaches_the_user(tmp_path):
    source = tmp_path / "odd.csv"
    source.write_text(HEADER + "\n" + ROW + "\n" + ROW + ',"extra",x\n')
    line = one_error(iop_in_process("score", str(source), "-q"), "odd.csv:3:", "fields but the header names 22")
    said = line.split("odd.csv:3:", 1)[1]
    assert "polars" not in said.lower() and "chunk" not in said and "row_offset" not in said


# -- 4. no command writes onto a file it read --------------------------------------------------------------------


@pytest.mark.parametrize("option", ["-o", "--summary-json"])
def test_score_never_writes_onto_the_rule_pack(pack_copy, tmp_path, option):
    target = pack_copy / "rules.yaml"
    before = target.read_bytes()
    args = ["score", str(CORPUS / "good.csv"), "--rules", str(pack_copy), "-q", option, str(target)]
    if option != "-o":
        args += ["-o", str(tmp_path / "out.csv")]
    one_error(iop_in_process(*args), "is an input of this command")
    assert target.read_bytes() == before


def test_rules_doc_never_writes_onto_the_pack(pack_copy):
    target = pack_copy / "pack.yaml"
    before = target.read_bytes()
    one_error(iop_in_process("rules", "doc", str(pack_copy), "-o", str(target)), "is an input of this command")
    assert target.read_bytes() == before


def test_a_link_to_the_input_is_the_input(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text((CORPUS / "good.csv").read_text())
    os.link(source, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(source)
    for other in ("hard.csv", "soft.csv"):
        one_error(
            iop_in_process("score", str(source), "-o", str(tmp_path / other), "-q"), "is an input of this command"
        )
    assert source.read_text() == (CORPUS / "good.csv").read_text()


# -- 5. special outputs and inputs ---------------------------------------------------------------------------------


def test_output_to_a_device_writes_through_and_keeps_the_device():
    result = iop_in_process("score", str(CORPUS / "good.csv"), "-o", os.devnull, "-q")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_output_to_a_fifo_streams_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(fifo), "-q")
    received = reader.communicate(timeout=30)[0].decode()
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not a regular file of PHI
    assert len(rows(received)) == 2 and rows(received)[1][rows(received)[0].index("status")] == "ok"


@pytest.mark.skipif(not Path("/bin/bash").exists(), reason="process substitution needs bash")
def test_process_substitution_for_input_and_output(tmp_path):
    good = CORPUS / "good.csv"
    command = " ".join(iop_command())
    script = f"{command} score <(cat {good}) -q -o >(cat > {tmp_path / 'got.csv'}); echo rc=$?; sleep 0.5"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert "rc=0" in result.stdout, result.stderr
    time.sleep(0.5)
    assert len(rows((tmp_path / "got.csv").read_text())) == 2


# -- 6. no PHI left behind -------------------------------------------------------------------------------------------


def _big(tmp_path: Path, n: int = 400_000) -> Path:
    source = tmp_path / "big.csv"
    source.write_text(HEADER + "\n" + (ROW + "\n") * n)
    return source


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_removes_the_temporary_output(tmp_path, sig):
    source = _big(tmp_path)
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [*iop_command(), "score", "-", "-o", str(tmp_path / "out.csv"), "-q"],
        stdin=source.open("rb"),
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.time() + 20
    while not leftovers(tmp_path) and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert leftovers(tmp_path), "the run ended before it could be stopped"
    process.send_signal(sig)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert not leftovers(tmp_path) and not (tmp_path / "out.csv").exists()


def test_stdin_is_streamed_and_nothing_goes_to_disk(tmp_path, monkeypatch):
    """Stdin is read as it comes, never copied to a file (a SIGKILL cannot leave a copy in $TMPDIR), and memory
    holds about one batch of it, not the whole input."""
    from iop_cli import files

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(batch_read, "CHUNK_BYTES", 1 << 16)
    rows = b"".join(b"%d,%s\n" % (n, b"x" * (n % 50)) for n in range(200_000))  # about 6 MB
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,b\n" + rows)))
    with files.InputFile("-") as source:
        header, start = batch_read.read_header(source)
        assert header == ["a", "b"] and os.listdir(tmp_path) == []
        seen, most = [], 0
        for _, chunk in batch_read.read_chunks(source, start=start):
            seen.append(chunk)
            most = max(most, source.held)
        assert b"".join(seen) == rows and len(seen) > 20
        assert most <= (1 << 20) + (1 << 17) < len(rows) / 4  # one read ahead (1 MiB at least) and a batch
        with pytest.raises(RuntimeError):
            source.read_at(0, 10)  # released: a streamed input cannot go back


def test_stdin_redirected_from_a_file_is_that_file(tmp_path):
    """`iop score - < file` reads the file in place, from where stdin stands, and counts it as an input: an output
    onto it is refused, as for its path."""
    source = tmp_path / "in.csv"
    source.write_bytes((CORPUS / "good.csv").read_bytes())
    env = {**os.environ, "NO_COLOR": "1"}

    def run(*args: str, skip_first_line: bool = False):
        with source.open("rb") as stdin:
            if skip_first_line:
                stdin.readline()  # stdin now stands on the second line: that is where reading starts
                os.lseek(stdin.fileno(), stdin.tell(), os.SEEK_SET)
            return subprocess.run(
                [*iop_command(), "score", "-", "-q", *args], stdin=stdin, capture_output=True, env=env
            )

    by_path = subprocess.run([*iop_command(), "score", str(source), "-q"], capture_output=True, env=env)
    assert run().stdout == by_path.stdout != b""
    refused = run("-o", str(source))
    assert refused.returncode == 1 and b"is an input of this command" in refused.stderr
    assert source.read_bytes() == (CORPUS / "good.csv").read_bytes()
    assert b"missing standard columns" in run(skip_first_line=True).stderr  # its first row read as the header


def test_after_sigkill_the_next_run_sweeps_its_own_stale_files(tmp_path):
    source = _big(tmp_path)
    process = subprocess.Popen([*iop_command(), "score", str(source), "-o", str(tmp_path / "out.csv"), "-q"])
    deadline = time.time() + 20
    while not leftovers(tmp_path) and time.time() < deadline:
        time.sleep(0.02)
    process.kill()
    process.wait()
    stale = leftovers(tmp_path)
    assert stale
    foreign = tmp_path / ".iop-tmp-notours.part"  # not our name pattern: never touched
    foreign.write_text("keep")
    result = iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(tmp_path / "next.csv"), "-q")
    assert result.returncode == 0
    assert leftovers(tmp_path) == [foreign.name]


def test_a_live_process_keeps_its_temporary_file(tmp_path):
    from iop_cli import files

    live = tmp_path / f"{files._temp_prefix()}abc.part"  # this very process is alive
    live.write_text("x")
    parent = tmp_path / f".iop-tmp-{files._host_tag()}-{os.getppid()}-abc.part"
    parent.write_text("x")
    files.sweep_stale(tmp_path)
    assert live.exists() and parent.exists()


# -- 7. I/O problems are exit 1 with one line -------------------------------------------------------------------------


def test_output_into_a_missing_folder(tmp_path):
    one_error(
        iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(tmp_path / "no" / "out.csv")), "does not exist"
    )
    one_error(iop_in_process("rules", "doc", "-o", str(tmp_path / "no" / "x.md")), "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    one_error(iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(folder / "out.csv")), "cannot write here")


def test_a_full_disk_is_one_line_naming_the_reason(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    line = one_error(
        iop_in_process("score", str(CORPUS / "good.csv"), "-o", "/dev/full", "-q"), "No space left on device"
    )
    assert "None" not in line


def test_a_failed_write_leaves_nothing_and_says_why(tmp_path, pack, monkeypatch):
    """A disk that fills during the atomic write: the temporary file is removed, and the reason is named."""
    from iop_cli import files

    output = files.Output(str(tmp_path / "out.csv"))
    output.file.write(b"partial")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError) as caught:
        output.commit()
    assert files.reason(caught.value) == "No space left on device"
    assert os.listdir(tmp_path) == []
    assert files.reason(OSError("failed to write (os error 28)")) == os.strerror(28)


def test_summary_json_that_fails_after_the_output_says_what_was_written(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    summary = tmp_path / "s.json"
    summary.mkdir()  # a folder where the summary should go: refused before any work
    one_error(
        iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(out), "--summary-json", str(summary)), "is a folder"
    )
    assert not out.exists()
    # A failure that only shows once the output is in place names both files.
    from iop_cli import files
    from iop_cli.commands import score

    real = files.write_private

    def failing(path, text, protect=()):
        if path == str(summary):
            raise files.ProblemsError([files.Problem(path, "cannot write: No space left on device")])
        return real(path, text, protect)

    monkeypatch.setattr(files, "write_private", failing)
    summary.rmdir()
    code = score.run_score(str(CORPUS / "good.csv"), str(out), None, None, "csv", False, True, str(summary))
    assert code == 1 and out.exists() and not summary.exists()


def test_summary_json_onto_the_output_is_refused(tmp_path):
    out = tmp_path / "out.csv"
    one_error(
        iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(out), "--summary-json", str(out)), "is the output"
    )
    # Both on standard output would mix CSV and JSON in one stream.
    for given in (["-o", "-"], []):
        both = iop_in_process("score", str(CORPUS / "good.csv"), *given, "--summary-json", "-")
        one_error(both, "the scored rows already go to standard output")
        assert both.stdout == ""


def test_an_unreadable_input_is_one_line(tmp_path):
    one_error(iop_in_process("score", str(tmp_path / "nope.csv")), "no such file")
    one_error(iop_in_process("score", str(tmp_path)), "is a folder")


# -- 18-20. privacy in messages, control characters, header formulas ------------------------------------------------


def test_a_huge_cell_is_never_echoed_whole(tmp_path):
    source = tmp_path / "huge.csv"
    source.write_text(HEADER + "\n" + "Z" * 1_000_000 + ROW[3:] + "\n" + '"' + "Y" * 1_000_000 + ROW[3:] + "\n")
    result = iop_in_process("score", str(source), "-q", "-o", str(tmp_path / "out.csv"))
    assert len(result.stderr) < 400 and "YYYY" not in result.stderr
    one_error(result, "huge.csv:3:")


def test_error_lines_show_control_characters(tmp_path):
    name = tmp_path / "evil\x1b]0;owned\x07.csv"
    result = iop_in_process("score", str(name))
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    one_error(result, "\\x1b]0;owned\\x07.csv", "no such file")


def test_header_formulas_are_neutralized_in_csv_and_jsonl(tmp_path):
    source = tmp_path / "f.csv"
    source.write_text(HEADER.replace("client_id", '"=HYPERLINK(""http://x"")"') + ",@cmd\n" + ROW + ",1\n")
    as_csv = iop_in_process("score", str(source), "-q")
    header = rows(as_csv.stdout)[0]
    assert header[0] == '\'=HYPERLINK("http://x")' and header[22] == "'@cmd"
    as_jsonl = iop_in_process("score", str(source), "-q", "-f", "jsonl")
    keys = list(json.loads(as_jsonl.stdout.splitlines()[0]))
    assert keys[0] == '\'=HYPERLINK("http://x")' and "'@cmd" in keys and "=HYPERLINK" not in keys[0][:1]


def test_a_folder_that_refuses_writes_is_one_problem(tmp_path, monkeypatch):
    """What a read-only folder does (root ignores the mode bits, so the refusal is simulated where it happens)."""
    import tempfile

    from iop_cli import files

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(files.ProblemsError) as caught:
        files.Output(str(tmp_path / "out.csv"))
    assert str(caught.value.problems[0]) == (
        f"{tmp_path / 'out.csv'}: cannot write here: Permission denied (check the folder's permissions)"
    )


def test_each_command_starts_with_no_files_read(tmp_path):
    """In one process (the tests run many commands so), a file an earlier command read is not an input of the next."""

    out = tmp_path / "out.csv"
    first = iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(out), "-q")
    assert first.returncode == 0, first.stderr
    again = iop_in_process("score", str(out), "-o", str(tmp_path / "again.csv"), "-q")  # reads out.csv
    assert again.returncode == 0, again.stderr
    third = iop_in_process("score", str(CORPUS / "good.csv"), "-o", str(out), "-q")  # writes out.csv again
    assert third.returncode == 0, third.stderr
