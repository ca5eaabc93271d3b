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
    send(child, question, value)


def send(child, question, value) -> None:
    """The keys that answer a fresh prompt: y or n for yes/no (it starts on no answer), arrows for a choice."""
    if question.type == "yesno":
        child.send("y" if value else "n")
    elif question.type == "choice":
        child.send(DOWN * list(question.choice_values).index(value) + "\r")
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


class Screen:
    """What a person sees: the child's output fed to a terminal emulator of the same size."""

    def __init__(self, columns: int, lines: int):
        import pyte

        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.Stream(self.screen)

    def write(self, text: str) -> None:
        self.stream.feed(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.screen.display)


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals need POSIX")
def test_at_80x24_the_level_its_reason_and_the_safety_lines_stay_in_view_at_placement(tmp_path, pack):
    """A PHP case with a safety alert: its report is longer than the screen, yet when "where will this person
    actually go?" is asked, the level, the start of its reason and the safety alert are on screen above the menu."""
    from iop_cli.decide.engine import decide

    answers = {**CANDIDATE, "primary_substance": "opioids", "cows": 15, "home_supportive": False}
    answers["suicidal_ideation"] = "passive"
    del answers["ciwa_ar"]
    decision = decide(pack, answers)
    assert decision.level.id == "php" and any(a.severity == "safety" for a in decision.alerts)
    child = spawn(tmp_path / "intakes.sqlite3")
    child.setwinsize(24, 80)
    screen = Screen(80, 24)
    child.logfile_read = screen
    for question in pack.asked:  # at 80 columns a long label wraps: wait for each question's counter instead
        if question.id in answers:
            child.expect(r"Question \d+ of about")
            send(child, question, answers[question.id])
    child.expect_exact("Review the answers")
    child.send("\r")
    child.expect_exact("Placement: where will")
    child.expect_exact("Partial hospitalization")  # the menu's last lines drawn
    shown = screen.text()
    assert "Recommended: Partial hospitalization" in shown
    assert "Why: " + decision.reason[:40] in " ".join(shown.split())
    assert "⚠ Complete a full suicide risk assessment" in shown
    assert shown.index("Recommended:") < shown.index("Placement: where will this person actually go?")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
