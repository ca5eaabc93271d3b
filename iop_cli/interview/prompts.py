"""The interview's one terminal adapter: asks the state machine's questions through questionary and saves a draft
after every answer. Everything it decides comes from `interview.Interview`; everything it keeps goes to `store`.

Keys on every prompt: Ctrl-B goes back, `?` shows the question's help, Ctrl-C or Ctrl-D stops (the draft is kept).
Tests run these prompts through prompt_toolkit's pipe input; nothing here reads sys.stdin directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import questionary
from prompt_toolkit.application.current import get_app, get_app_session
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings
from prompt_toolkit.shortcuts import print_formatted_text
from questionary import Choice, Separator

from iop_cli.interview.machine import Instrument, Interview
from iop_cli.pack.answers import BadValue, allowed_text, coerce
from iop_cli.pack.model import Pack, Question
from iop_cli.store.records import MAX_NOTE, PLACEMENT_REASONS, Store

BACK = "\x00back"
HELP = "\x00help"
SKIP = "\x00skip"
SUBMIT = "\x00submit"
KEYS_HINT = "Ctrl-B back · ? help · Ctrl-C pause"
REVIEW_HELP = (
    "Pick an answer and press Enter to change it; questions that stop applying are removed and new ones are asked."
    " Submit shows the recommendation. Ctrl-B goes back to the last question."
)
PLACEMENT_HELP = "Record where the person will actually go. Another level than recommended needs a reason."
URGENT_HELP = (
    "The answers so far already lead to this level, whatever the other questions say. The report shows why. Every"
    " answer is kept: stop after the report and the draft resumes at the next question, or go on now."
)


AT_PLACEMENT = "@placement"  # a draft's cursor when it was paused at the placement (no question id has an @)


class StopForNow(Exception):
    """The counselor chose to stop after an early urgent report; the draft keeps the answers for later."""


class Paused(Exception):
    """The counselor pressed Ctrl-C or Ctrl-D. `record_id` is the draft that keeps their answers (None if none)."""

    def __init__(self, record_id: int | None, chosen: bool = False):
        super().__init__(record_id)
        self.record_id = record_id
        self.chosen = chosen  # the counselor chose to stop (after an urgent report), rather than interrupting


@dataclass
class Placement:
    level: str
    reason: str | None
    note: str | None


def say(text: str, style: str = "") -> None:
    """A line on the prompt's own output (so tests with a dummy output stay quiet), broken at word boundaries to
    the terminal's width."""
    import textwrap

    width = max(get_app_session().output.get_size().columns - 1, 20)
    text = "\n".join(textwrap.fill(line, width, break_on_hyphens=False) if line else "" for line in text.split("\n"))
    print_formatted_text(FormattedText([(style, text)]))


def _with_keys(question: questionary.Question, back: bool) -> questionary.Question:
    """Add the interview's keys to a questionary prompt."""
    keys = KeyBindings()
    # `?` asks for help in a list, or in an entry that is still empty (a `?` inside typed text stays text).
    empty = Condition(lambda: not get_app().current_buffer.text)

    # Help and back take the prompt off the screen as they leave it: it is asked again (or the one before it is),
    # and an unanswered prompt left behind would read as asked twice.
    @keys.add("?", filter=empty)
    def _help(event) -> None:
        event.app.erase_when_done = True
        event.app.exit(result=HELP)

    if back:

        @keys.add("c-b")
        def _back(event) -> None:
            event.app.erase_when_done = True
            event.app.exit(result=BACK)

    @keys.add("c-d")
    def _stop(event) -> None:
        event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    app = question.application
    app.key_bindings = merge_key_bindings([app.key_bindings, keys]) if app.key_bindings else keys
    return question


def _with_answer_keys(question: questionary.Question, yesno: bool, hold_enter: bool) -> questionary.Question:
    """`y` and `n` answer a yes/no question at once; with `hold_enter`, Enter does nothing while the pointer is
    still on the placeholder it starts on (see `_prompt`)."""
    from questionary.prompts.common import InquirerControl

    app = question.application
    control = next(c for c in app.layout.find_all_controls() if isinstance(c, InquirerControl))
    if hold_enter:
        control.pointed_at = 0  # the placeholder (questionary takes only an answer as its default)
    start = control.pointed_at
    keys = KeyBindings()
    if yesno:
        for key, value in (("y", True), ("Y", True), ("n", False), ("N", False)):

            def answer(event, value: bool = value) -> None:
                control.is_answered = True
                control.pointed_at = next(
                    i for i, c in enumerate(control.choices) if isinstance(c, Choice) and c.value is value
                )
                event.app.exit(result=value)

            keys.add(key, eager=True)(answer)
    if hold_enter:

        @keys.add("enter", eager=True, filter=Condition(lambda: control.pointed_at == start))
        def _hold(event) -> None:
            """A stray Enter before any answer is picked: nothing happens."""

    app.key_bindings = merge_key_bindings([app.key_bindings, keys]) if app.key_bindings else keys
    return question


def _shown(question: Question, value: Any) -> str:
    if value is None:
        return "(skipped)"
    if question.type == "yesno":
        return "Yes" if value else "No"
    if question.type == "choice":
        return question.choice_label(value)
    if question.type == "multi":
        return ", ".join(question.choice_label(v) for v in value) or "None"
    if question.scores:
        return f"{value} ({question.choice_label(value)})"
    return str(value)


def looks_like_identity(text: str) -> bool:
    """Whether a client id looks like a name or a birth date ("John Smith", "DOB 03/04/1980", "1980-03-04"): the
    tool collects neither."""
    import re

    dates = (r"(?<!\d)\d{1,2}[/.-]\d{1,2}[/.-](\d{2}|\d{4})(?!\d)", r"(?<!\d)(19|20)\d\d-\d\d-\d\d(?!\d)")
    name = r"\b[A-Z][a-z]+,?\s+[A-Z][a-z]+\b"
    found = any(re.search(date, text) for date in dates) or re.search(r"\b(dob|born)\b", text, re.I)
    return bool(found or re.search(name, text))


def _answerable(option: Any) -> bool:
    """A choice an answer can show (a Separator is a questionary Choice too, but never an answer)."""
    return isinstance(option, Choice) and not isinstance(option, Separator) and isinstance(option.title, str)


def _fit(message: str, instruction: str, answer: int = 12) -> tuple[str, str]:
    """A prompt's message and instruction broken at word boundaries to the terminal's width (the terminal itself
    would split a word at its edge): later lines indented under the message, the instruction on its own line when
    it does not fit after it. Once answered, the prompt shows the answer (up to `answer` characters) after the
    message: where it would not fit there, it goes to a line of its own."""
    import textwrap

    width = max(get_app_session().output.get_size().columns - 1, 20)
    lines = textwrap.wrap(message, width - 2, subsequent_indent="  ", break_on_hyphens=False) or [message]
    last = len(lines[-1]) + (2 if len(lines) == 1 else 0)
    if last + 1 + min(answer, width - 4) > width:
        lines.append(" ")  # the answer (and the instruction) start a line
        last = 1
    if last + 1 + len(instruction) > width:
        parts = textwrap.wrap(instruction, width - 2, break_on_hyphens=False) or [instruction]
        instruction = "\n  " + "\n  ".join(parts)
    return "\n".join(lines), instruction


def _prompt(question: Question, default: Any, back: bool) -> questionary.Question:
    """The right questionary prompt for a question's type, its earlier answer pre-selected."""
    label = question.label
    if question.type == "multi":
        picked = set(default or ())
        boxes = [Choice(c.label, value=c.value, checked=c.value in picked) for c in question.choices]
        label, hint = _fit(label, "(Space picks, Enter when done; none is fine)", len("done (9 selections)"))
        prompt = questionary.checkbox(label, boxes, instruction=hint)
        return _with_keys(prompt, back)
    if question.type in ("choice", "yesno") or question.scores:
        yesno = question.type == "yesno"
        if yesno:
            options: list[Any] = [Choice("Yes", value=True), Choice("No", value=False)]
        elif question.scores:  # an instrument's item: its anchors, each with the score it adds
            options = [Choice(f"{c.score}  {c.label}", value=c.score) for c in question.choices]
        else:
            options = [Choice(c.label, value=c.value) for c in question.choices]
        if not question.required:
            options.append(Choice("Skip (not answered)", value=SKIP))
        if back:
            options += [Separator(), Choice("← Back", value=BACK)]
        chosen = next((o for o in options if isinstance(o, Choice) and o.value == default), None)
        waiting = None
        if chosen is None and (yesno or not question.confirm_enter):
            # A yes/no question, or a safety question, asked with no earlier answer: the pointer starts on no
            # answer, so a stray Enter records nothing ("yes" to a housemate who drinks would change the level);
            # y/n or the arrows pick one.
            waiting = Separator("(nothing picked yet: " + ("y or n, or " if yesno else "") + "↑↓ then Enter)")
            options.insert(0, waiting)
        longest = max(len(c.title) for c in options if _answerable(c))
        label, instruction = _fit(label, "(y/n, or ↑↓ Enter)" if yesno else "(↑↓ Enter)", longest)
        prompt = _with_keys(questionary.select(label, options, default=chosen, instruction=instruction), back)
        return _with_answer_keys(prompt, yesno, waiting is not None)

    def check(text: str) -> bool | str:
        if not text.strip():
            return True if not question.required else "An answer is required."
        try:
            coerce(question, text)
        except BadValue as exc:
            return f"The answer {exc.message}: enter {exc.allowed}."
        if question.id == "client_id" and looks_like_identity(text):
            return "That looks like a name or a birth date: use the program's own id (words joined with a dash)."
        return True

    allowed = allowed_text(question)
    skip = ", Enter to skip" if not question.required else ""
    label, instruction = _fit(label, f"({allowed}{skip})")
    return _with_keys(
        questionary.text(
            label,
            default="" if default in (None, SKIP) else str(default),
            validate=check,
            instruction=instruction,
        ),
        back,
    )


def _ask(make, help_text: str) -> Any:
    """Ask `make()`'s prompt; on `?` show the help and ask again."""
    while True:
        reply = make().unsafe_ask()
        if reply != HELP:
            return reply
        say(help_text, "italic")


def ask_current(interview: Interview) -> str | None:
    """Ask the current question until it is answered or the counselor goes back. Returns BACK or None."""
    question = interview.current
    assert question is not None
    number, total = interview.progress()
    say(f"Question {number} of about {total} · {KEYS_HINT}", "fg:ansibrightblack")
    help_text = question.help or _item_help(interview, question) or "No further help for this question."
    # An earlier "skip" is offered again as the skip choice, not as the first option.
    default = SKIP if question.id in interview.answers and interview.default() is None else interview.default()
    if question.id in interview.unconfirmed and not question.confirm_enter:
        # A reassessment's earlier answer to a safety question is shown, never pre-selected: it is asked anew.
        say(f"Last time: {_shown(question, default) if default != SKIP else '(skipped)'}", "fg:ansibrightblack")
        default = None
    reply = _ask(lambda: _prompt(question, default, interview.can_go_back()), help_text)
    if reply == BACK:
        say("← back to the question before", "fg:ansibrightblack")
        return BACK
    dropped = interview.answer(None if reply == SKIP else reply)
    if dropped:
        names = ", ".join(interview.question(d).label for d in dropped)
        say(f"No longer applies, removed: {names}", "fg:ansiyellow")
    if question.id in interview.item_of:
        say(_running_total(interview, interview.item_of[question.id]), "fg:ansicyan")
    return None


def _item_help(interview: Interview, question: Question) -> str:
    """An instrument's scored item: how it counts (the pack gives its anchors as the choices)."""
    instrument = interview.item_of.get(question.id)
    if instrument is None or not question.scores:
        return ""
    return (
        f"One item of the {instrument.total.label}: pick the description that fits best."
        " The number before it is the score it adds to the total, shown after each item."
    )


def _running_total(interview: Interview, instrument: Instrument) -> str:
    total, answered, shown = interview.running_total(instrument)
    name = instrument.total.label
    if answered == shown and total is not None:
        return f"{name}: {_shown(instrument.total, total)}"
    if total is None:
        return f"{name}: not known yet ({answered} answered)"
    return f"{name}: {total} so far ({answered} of {shown} items)"


def _review_row(question: Question, value: Any, width: int) -> str:
    """`label: answer` on one line: a long label is shortened so the answer always shows."""
    answer = _shown(question, value)
    room = max(width - len(answer) - 8, 16)
    label = question.label if len(question.label) <= room else question.label[: room - 1].rstrip() + "…"
    return f"{label}: {answer}"


def review(interview: Interview) -> str:
    """The review screen: every answer, any of which can be changed; returns SUBMIT, BACK, or a question id."""
    options: list[Any] = [Choice("Submit these answers", value=SUBMIT), Separator()]
    width = get_app_session().output.get_size().columns
    totals = interview.derived_totals()
    rows = interview.answered()
    # Answers the instruments decide (the suicide questions from the C-SSRS) are shown, not asked: each after the
    # last answer its derivation reads (an item counts for its instrument's total), or at the end.
    placed_after: dict[int, list[tuple[Question, Any]]] = {}
    for name, value in interview.derived().items():
        question = interview.pack.questions[name]
        reads = set(question.derive.names) if question.derive else set()
        rows_read = [
            i
            for i, (q, _) in enumerate(rows)
            if q.id in reads or (q.id in interview.item_of and interview.item_of[q.id].total.id in reads)
        ]
        placed_after.setdefault(rows_read[-1] if rows_read else len(rows) - 1, []).append((question, value))
    for index, (question, value) in enumerate(rows):
        options.append(Choice(_review_row(question, value, width), value=question.id))
        instrument = interview.item_of.get(question.id)
        following = rows[index + 1][0].id if index + 1 < len(rows) else ""
        if (
            instrument is not None
            and instrument.total.id in totals
            and interview.item_of.get(following) is not instrument
        ):
            # After an instrument's last item: its total, computed from the items (change an item to change it).
            total = totals[instrument.total.id]
            shown = "not all items answered" if total is None else _shown(instrument.total, total)
            options.append(Choice(_review_row(instrument.total, shown, width), disabled="from the items"))
        for derived, answer in placed_after.get(index, []):
            options.append(Choice(_review_row(derived, answer, width), disabled="derived"))

    def prompt() -> questionary.Question:
        hint = "(pick one to change it, or Submit · Ctrl-B back · ? help)"
        return _with_keys(questionary.select("Review the answers", options, instruction=hint), back=True)

    return _ask(prompt, REVIEW_HELP)


def urgent_now(interview: Interview):
    """The decision when the answers so far already make an urgent level certain, whatever the questions still open
    are (the exact missing-answer rule: every way of answering them leads there); else None."""
    from iop_cli.decide.engine import decide
    from iop_cli.decide.policy import urgent_certain

    # A reassessment's earlier answers not asked again yet do not count: they may have changed.
    decision = decide(interview.pack, interview.confirmed_answers())
    return decision if urgent_certain(interview.pack, decision) else None


def offer_urgent_report(interview: Interview, decision) -> bool:
    """The red banner of an urgent level that is already certain, and the offer to see its report now. True: the
    counselor wants the report."""
    level = interview.pack.levels[decision.level.id]
    rule = "━" * 60
    say("")
    say(rule, "fg:ansired bold")
    say(f"⚠ URGENT: {level.name}", "fg:ansiwhite bg:ansired bold")
    say("This is certain whatever the remaining answers are.", "fg:ansired bold")
    say(rule, "fg:ansired bold")
    options = [
        Choice("See the report now (the other questions stay open in the draft)", value=True),
        Choice("Go on with the interview", value=False),
    ]
    return bool(_placement_select("What now?", options, back=False, help_text=URGENT_HELP))


def run_interview(interview: Interview, save, on_urgent=None) -> dict[str, Any]:
    """Ask until the counselor submits; `save(interview)` is called after every answer and move.
    Returns the final answers. Ctrl-C propagates as KeyboardInterrupt after the last save. `on_urgent(decision)`
    is called once, as soon as an urgent level is certain, when the counselor asks for its report: it shows the
    report and returns whether to go on (else StopForNow)."""
    section = None
    offered = on_urgent is None

    def offer() -> None:
        nonlocal offered
        if not offered and (decision := urgent_now(interview)) is not None:
            offered = True
            if offer_urgent_report(interview, decision) and not on_urgent(decision):
                raise StopForNow

    if interview.answers:
        offer()  # a resumed draft that is already urgent says so before anything else
    while True:
        if interview.in_review:
            reply = review(interview)
            if reply == SUBMIT:
                return interview.final_answers()
            if reply == BACK:
                interview.back()
            else:
                interview.change(reply)
            save(interview)
            section = None
            continue
        question = interview.current
        assert question is not None  # not in review, so a question is current
        if question.section != section and question.section in interview.pack.sections:
            heading = interview.pack.sections[question.section]
            say("")
            say(f"── {heading.title} ──", "bold")
            if heading.help:
                say(heading.help, "italic")
        section = question.section
        if ask_current(interview) == BACK:
            interview.back()
            save(interview)
            continue
        save(interview)
        offer()


SUMMARY_STYLE = {"urgent": "fg:ansiwhite bg:ansired bold", "level": "bold", "why": "", "safety": "fg:ansired bold"}


def show_summary(report: dict[str, Any]) -> None:
    """The report in a few lines right above a menu that decides on it, so that the level, its reason and the
    safety lines stay on screen however long the full report was."""
    from iop_cli.output.report import summary_lines

    width = get_app_session().output.get_size().columns
    say("")
    for kind, line in summary_lines(report, width - 1):
        say(line, SUMMARY_STYLE[kind])


def ask_placement(pack: Pack, recommended: str) -> Placement:
    """The counselor records where the person actually goes: the recommendation, or another level with a reason.
    A placement two or more levels from the recommendation, or any step down from an urgent level, is confirmed
    and needs a note saying why; so does the reason "other". Going back from the reason keeps the chosen level."""
    rec = pack.levels[recommended]
    options: list[Any] = [Choice(f"As recommended: {rec.name}", value=recommended), Separator("── or another level ──")]
    options += [Choice(level.name, value=level.id) for level in pack.levels.values() if level.id != recommended]
    reasons = [Choice(text, value=code) for code, text in PLACEMENT_REASONS.items()]
    chosen = None
    while True:
        default = next((o for o in options if isinstance(o, Choice) and o.value == chosen), None)
        level = _placement_select(
            "Placement: where will this person actually go?", options, back=False, default=default
        )
        chosen = level
        if level == recommended:
            return Placement(recommended, None, None)
        reason = _placement_select("Why a different level than recommended?", reasons, back=True)
        if reason == BACK:
            continue
        steps = pack.steps(recommended, level)
        large = abs(steps) >= 2 or (steps < 0 and rec.urgent)
        if large and not _confirm_override(pack, recommended, level, steps):
            continue
        needs_note = large or reason == "other"
        note = _ask(lambda required=needs_note: _note_prompt(required), PLACEMENT_HELP)
        if note != BACK:
            return Placement(level, reason, (note or "").strip() or None)


def _confirm_override(pack: Pack, recommended: str, level: str, steps: int) -> bool:
    """A large override said in words (how far, which way, from and to), to be confirmed."""
    way = "more" if steps > 0 else "less"
    size = f"{abs(steps)} level{'s' if abs(steps) > 1 else ''} {way} intensive than"
    say(f"⚠ {pack.levels[level].name} is {size} the recommendation ({pack.levels[recommended].name}).", "bold")
    options = [
        Choice("Record it, with a note saying why", value=True),
        Choice("Choose the level again", value=False),
    ]
    return bool(_placement_select("Record this placement?", options, back=False))


def _note_prompt(required: bool) -> questionary.Question:
    def check(text: str) -> bool | str:
        if len(text) > MAX_NOTE:
            return f"At most {MAX_NOTE} characters."
        if required and not text.strip():
            return "A note is required here: say why (no names or birth dates)."
        return True

    what = "Note, required (no names or birth dates)" if required else "Note (optional; no names or birth dates)"
    hint = "(Ctrl-B back)" if required else "(Enter to skip · Ctrl-B back)"
    return _with_keys(questionary.text(what, validate=check, instruction=hint), back=True)


def _placement_select(message: str, options: list[Any], back: bool, help_text: str = "", default: Any = None) -> Any:
    """One list of the placement step, with its help on `?` and, where there is a step before it, Ctrl-B."""
    longest = max((len(o.title) for o in options if _answerable(o)), default=0)
    message, instruction = _fit(message, "(↑↓ Enter · Ctrl-B back)" if back else "(↑↓ Enter · ? help)", longest)
    return _ask(
        lambda: _with_keys(questionary.select(message, options, default=default, instruction=instruction), back=back),
        help_text or PLACEMENT_HELP,
    )


class IntakeSession:
    """One intake from first question to stored record, saving a draft after every answer."""

    def __init__(
        self,
        pack: Pack,
        store: Store,
        rules_dir: str | None,
        record_id: int | None = None,
        previous_id: int | None = None,
    ):
        """`previous_id`: the record this intake reassesses (`iop intake --from`), kept with its draft."""
        self.pack = pack
        self.store = store
        self.rules_dir = rules_dir
        self.record_id = record_id
        self.previous_id = previous_id
        self.interview_now: Interview | None = None  # the interview last saved

    def save(self, interview: Interview, cursor: str | None = None) -> None:
        """The draft as the interview stands (`cursor`: where it resumes, if not at the interview's cursor)."""
        self.interview_now = interview
        if not interview.answers and self.record_id is None:
            return  # nothing worth a draft yet
        self.record_id = self.store.save_draft(
            self.record_id,
            self.pack,
            self.rules_dir,
            interview.draft_answers(),
            cursor or interview.cursor,
            self.previous_id,
        )

    def interview(self, interview: Interview, on_urgent=None) -> dict[str, Any]:
        try:
            return run_interview(interview, self.save, on_urgent)
        except (KeyboardInterrupt, EOFError, StopForNow) as stop:
            self.save(interview)
            raise Paused(self.record_id, chosen=isinstance(stop, StopForNow)) from None

    def go_on_after_urgent_report(self, report: dict[str, Any]) -> bool:
        """After an early urgent report: go on with the interview (True), or stop with the draft kept."""
        show_summary(report)
        options = [
            Choice("Stop here: the draft keeps the answers for later", value=False),
            Choice("Go on with the interview", value=True),
        ]
        return bool(_placement_select("The report is above. What now?", options, back=False, help_text=URGENT_HELP))

    def confirm_provisional(self, report: dict[str, Any]) -> bool:
        """Whether the counselor records a provisional placement as it is (True), or goes back to the answers to
        complete the assessment it rests on (False)."""
        show_summary(report)
        options = [
            Choice("Go back to the answers and complete the assessment", value=False),
            Choice("Record it as provisional: the assessment will be completed later", value=True),
        ]
        try:
            return _placement_select("This recommendation is provisional. What now?", options, back=False)
        except (KeyboardInterrupt, EOFError):
            raise Paused(self.record_id) from None

    def place(self, answers: dict[str, Any], report: dict[str, Any]) -> int:
        try:
            show_summary(report)
            placement = ask_placement(self.pack, report["level"]["id"])
        except (KeyboardInterrupt, EOFError):
            if self.interview_now is not None:  # resume at the placement, not at the review
                self.save(self.interview_now, AT_PLACEMENT)
            raise Paused(self.record_id) from None
        return self.store.complete(
            self.record_id,
            self.pack,
            self.rules_dir,
            answers,
            report,
            placement.level,
            placement.reason,
            placement.note,
        )
