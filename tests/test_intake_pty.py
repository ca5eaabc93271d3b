"""End to end: the installed `iop intake` in a pseudo-terminal, from the first question to a saved record."""

from __future__ import annotations

import os

import pexpect
import pytest

from iop_cli.pack.build import load_pack
from iop_cli.store.records import Store

from .conftest import iop_command
from .test_interview import CANDIDATE, V1

DOWN = "\x1b[B"


@pytest.fixture(scope="module")
def pack():
    return load_pack(V1)


def spawn(db, *args):
    command = iop_command()
    # The pty answers no cursor-position requests; without this prompt_toolkit waits for each reply.
    env = {**os.environ, "IOP_DB": str(db), "NO_COLOR": "1", "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    env["IOP_RULES"] = str(V1)  # the keys below are the version-1 interview's (test_interview)
    return pexpect.spawn(
        command[0], [*command[1:], "intake", *args], env=env, dimensions=(40, 120), timeout=20, encoding="utf-8"
    )


def answer(child, pack, name, value):
    question = pack.questions[name]
    child.expect_exact(question.label)
    if question.type in ("yesno", "choice"):
        options = [True, False] if question.type == "yesno" else list(question.choice_values)
        child.send(DOWN * options.index(value) + "\r")
    else:
        child.send(f"{value}\r")


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals need POSIX")
def test_installed_intake_from_first_question_to_saved_record(tmp_path, pack):
    db = tmp_path / "intakes.sqlite3"
    child = spawn(db)
    child.expect_exact("Question 1 of about")
    for question in pack.asked:
        if question.id in CANDIDATE:
            answer(child, pack, question.id, CANDIDATE[question.id])
    child.expect_exact("Review the answers")
    child.send("\r")
    child.expect_exact("Intensive outpatient program (IOP)")
    child.expect_exact("supports clinical judgment")
    child.expect_exact("Placement: where will this person actually go?")
    child.send("\r")
    child.expect(r"Saved as record (\d+)")
    record_id = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    with Store.open(db) as store:
        record = store.get(record_id)
    assert record.status == "complete" and record.answers == CANDIDATE
    assert record.actual_level == "iop"


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals need POSIX")
def test_installed_intake_ctrl_c_exits_130_and_resumes(tmp_path, pack):
    db = tmp_path / "intakes.sqlite3"
    child = spawn(db)
    answer(child, pack, "client_id", "E2E-9")
    answer(child, pack, "age", 29)
    child.expect_exact(pack.questions["primary_substance"].label)
    child.send("\x03")
    child.expect_exact("iop intake --resume 1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130

    child = spawn(db, "--resume")
    child.expect_exact("Resuming intake 1: 2 answers kept.")
    child.expect_exact(pack.questions["primary_substance"].label)
    child.send("\x03")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
