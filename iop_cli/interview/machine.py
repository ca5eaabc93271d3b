"""The interview as a pure state machine: which question comes next, going back, the review screen, resuming.

No terminal here. `interview.prompts` asks through questionary; this module only decides what to ask. The state is the
answers so far and a cursor (the question on screen, or None for the review screen), which is all a draft needs to
resume exactly where it stopped.

An answer of None means "skipped on purpose" (optional questions only); a question with no key is not yet answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iop_cli.decide.values import applicable
from iop_cli.pack.answers import BadValue, coerce
from iop_cli.pack.model import Asked, Choice, Pack, Question

# How the counselor takes an instrument: the answer of its "how" step (`how:TOTAL` in the answers and drafts).
ITEMS, TOTAL, NOT_TAKEN = "items", "total", "not_taken"
UNCONFIRMED = "@unconfirmed"  # in a draft's answers: a reassessment's earlier answers not asked again yet
HOW = "how:"


@dataclass(frozen=True)
class Instrument:
    """An asked total that is derived from asked items (a module's scale): the interview asks how to take it."""

    total: Question
    items: tuple[str, ...]
    step: Question  # the "walk through the items, or enter the total?" step, asked before the first item


def instruments(pack: Pack) -> dict[str, Instrument]:
    """The pack's instruments by total id: every asked question whose derivation reads only asked questions that are
    not derived themselves (its items). A question derived from an instrument's result (the suicide questions from
    the C-SSRS) is not one: it is asked only when its derivation leaves it open (`Interview.derived`)."""
    found: dict[str, Instrument] = {}
    for question in pack.asked:
        derive = question.derive
        if derive is None or not derive.names:
            continue
        if not all(name in pack.questions and not pack.questions[name].computed for name in derive.names):
            continue
        if any(pack.questions[name].derive is not None for name in derive.names):
            continue
        items = tuple(q.id for q in pack.asked if q.id in derive.names)  # in the order they are asked
        choices = [Choice(ITEMS, "Item by item"), Choice(TOTAL, "Enter the result")]
        if not question.required:
            choices.append(Choice(NOT_TAKEN, "Not taken"))
        step = Asked(
            HOW + question.id,
            "choice",
            f"{question.label}: item by item, or a result scored elsewhere?",
            question.mark,
            help=f"Item by item, the result ({question.label}) is computed as you go; or enter it if another tool "
            "already scored it.",
            choices=tuple(choices),
            section=pack.questions[items[0]].section,
        )
        found[question.id] = Instrument(question, items, step)
    return found


@dataclass
class Interview:
    pack: Pack
    answers: dict[str, Any] = field(default_factory=dict)
    cursor: str | None = None  # the question being asked; None once every question on the path has an answer
    returning: bool = False  # True while answering a change made from the review screen
    scales: dict[str, Instrument] = field(init=False)

    # A reassessment's answers from the earlier record not asked again yet (`reassess`): the prompts show a safety
    # question's earlier answer without pre-selecting it.
    unconfirmed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.scales = instruments(self.pack)
        self.steps = {i.step.id: i for i in self.scales.values()}
        self.item_of = {item: i for i in self.scales.values() for item in i.items}
        self.first_items = {i.items[0]: i for i in self.scales.values()}

    def question(self, name: str) -> Question:
        """A pack question, or an instrument's "how" step."""
        return self.steps[name].step if name in self.steps else self.pack.questions[name]

    def how(self, instrument: Instrument) -> str | None:
        """How the counselor takes the instrument: items, total, not taken, or None while not yet chosen."""
        return self.answers.get(instrument.step.id)

    @classmethod
    def start(cls, pack: Pack) -> Interview:
        interview = cls(pack)
        interview.cursor = interview._first_unanswered()
        return interview

    @classmethod
    def resume(cls, pack: Pack, answers: dict[str, Any], cursor: str | None) -> tuple[Interview, list[str]]:
        """Continue a draft. Answers the pack no longer accepts (it may have changed) are dropped and named."""
        answers = dict(answers)
        unconfirmed = answers.pop(UNCONFIRMED, None)
        kept: dict[str, Any] = {}
        dropped: list[str] = []
        steps = {i.step.id: i.step for i in instruments(pack).values()}
        for name, value in answers.items():
            question = steps.get(name) or pack.questions.get(name)
            if question is None or question.computed:
                dropped.append(name)
                continue
            try:
                typed = coerce(question, value)
            except BadValue:
                dropped.append(name)
                continue
            if typed is None and question.required:
                dropped.append(name)
                continue
            kept[name] = typed
        interview = cls(pack, kept)
        if isinstance(unconfirmed, list):
            interview.unconfirmed = {name for name in unconfirmed if name in kept}
        dropped += interview._prune()
        on_path = {q.id for q in interview.path()}
        if cursor in on_path:
            interview.cursor = cursor
        else:
            interview.cursor = interview._first_unanswered()
        return interview, dropped

    @classmethod
    def reassess(cls, pack: Pack, answers: dict[str, Any]) -> tuple[Interview, list[str]]:
        """A new interview from a finished record's answers (`iop intake --from`): every question asked again from
        the first, each earlier answer as the default; how each instrument was taken is inferred from what was
        kept (its items, its total, or nothing)."""
        given = dict(answers)
        for instrument in instruments(pack).values():
            if any(answers.get(item) is not None for item in instrument.items):
                given[instrument.step.id] = ITEMS
            elif answers.get(instrument.total.id) is not None:
                given[instrument.step.id] = TOTAL
            elif NOT_TAKEN in instrument.step.choice_values:
                given[instrument.step.id] = NOT_TAKEN
        interview, dropped = cls.resume(pack, given, None)
        interview.cursor = next((q.id for q in interview.path()), None)
        interview.unconfirmed = set(interview.answers)
        return interview, [name for name in dropped if name in answers]  # not the steps inferred here

    # -- where we are --------------------------------------------------------------------------------------------

    def path(self) -> list[Question]:
        """The questions that apply with the answers so far. A question whose condition is still unknown is asked:
        leaving it out could hide a need. An instrument's "how" step comes before its first item; then its items
        (walked through) or its total (entered), or neither (not taken)."""
        _, applies, _ = applicable(self.pack, self._given())
        derived = self.derived()
        path: list[Question] = []
        for question in self.pack.asked:
            if applies.get(question.id) is False or question.id in derived:
                continue
            if question.id in self.first_items:
                path.append(self.first_items[question.id].step)
            if self._on_instrument_path(question.id):
                path.append(question)
        return path

    def _on_instrument_path(self, name: str) -> bool:
        if name in self.item_of:
            return self.how(self.item_of[name]) == ITEMS
        if name in self.scales:
            return self.how(self.scales[name]) == TOTAL
        return True

    @property
    def current(self) -> Question | None:
        return self.question(self.cursor) if self.cursor else None

    @property
    def in_review(self) -> bool:
        return self.cursor is None

    def progress(self) -> tuple[int, int]:
        """(position of the current question, questions on the path now): "question N of about M"."""
        path = [q.id for q in self.path()]
        if self.cursor in path:
            return path.index(self.cursor) + 1, len(path)
        return len(path), len(path)

    def can_go_back(self) -> bool:
        path = [q.id for q in self.path()]
        return self.cursor is None and bool(path) or (self.cursor in path and path.index(self.cursor) > 0)

    def default(self) -> Any:
        """The current question's earlier answer, offered again when the counselor comes back to it."""
        return self.answers.get(self.cursor) if self.cursor else None

    def answered(self) -> list[tuple[Question, Any]]:
        """Every question on the path with its answer (None when skipped), for the review screen."""
        return [(q, self.answers.get(q.id)) for q in self.path() if q.id in self.answers]

    def derived(self) -> dict[str, Any]:
        """The asked questions (not instrument totals) whose answer the answers so far derive, with that answer:
        they are not asked, and the review shows them as derived (the suicide questions once the C-SSRS decides
        them). A direct answer given to one earlier does not count while it is derived."""
        values, _, _ = applicable(self.pack, self._counted())
        found: dict[str, Any] = {}
        for question in self.pack.asked:
            if question.derive is None or question.id in self.scales:
                continue
            value = question.derive.evaluate(values)
            if value is not None:
                found[question.id] = value
        return found

    def derived_totals(self) -> dict[str, Any]:
        """Each instrument walked through item by item: its total as the items give it (None until they all do)."""
        values, _, _ = applicable(self.pack, self._given())
        return {name: values.get(name) for name, i in self.scales.items() if self.how(i) == ITEMS}

    def running_total(self, instrument: Instrument) -> tuple[Any, int, int]:
        """(the total so far, items answered, items on the path): the items' scores added up while they are walked,
        or the total itself once the items decide it (a risk level, say)."""
        values, applies, _ = applicable(self.pack, self._given())
        shown = [n for n in instrument.items if applies.get(n) is not False]
        answered = [n for n in shown if values.get(n) is not None]
        total = values.get(instrument.total.id)
        if total is None and answered and all(self.pack.questions[n].scores for n in answered):
            total = sum(values[n] for n in answered)
        return total, len(answered), len(shown)

    def final_answers(self) -> dict[str, Any]:
        return self._given()

    def confirmed_answers(self) -> dict[str, Any]:
        """The final answers less a reassessment's earlier answers not asked again yet: what is known today."""
        return {k: v for k, v in self._given().items() if k not in self.unconfirmed}

    def draft_answers(self) -> dict[str, Any]:
        """The answers as a draft keeps them: with the reassessment's answers not asked again yet under
        `UNCONFIRMED`, so that a resumed reassessment still asks them anew."""
        if not self.unconfirmed:
            return dict(self.answers)
        return {**self.answers, UNCONFIRMED: sorted(self.unconfirmed)}

    # -- moves ---------------------------------------------------------------------------------------------------

    def answer(self, value: Any) -> list[str]:
        """Record the current question's answer (raw text or a typed value), re-evaluate branching, and move on.
        Raises BadValue when the value does not fit. Returns the answers dropped because they no longer apply."""
        question = self.current
        if question is None:
            raise RuntimeError("no question is being asked")
        typed = coerce(question, value)
        if typed is None and question.required:
            raise BadValue("an answer is required", "")
        self.answers[question.id] = typed
        self.unconfirmed.discard(question.id)
        dropped = self._prune()
        path = [q.id for q in self.path()]
        if self.returning:
            self.cursor = self._first_unanswered()
        else:
            later = path[path.index(question.id) + 1 :] if question.id in path else []
            self.cursor = later[0] if later else self._first_unanswered()
        if self.cursor is None:
            self.returning = False
        return dropped

    def back(self) -> bool:
        """Go to the previous question on the path (from the review screen: the last one). False at the first."""
        path = [q.id for q in self.path()]
        if self.cursor is None:
            if not path:
                return False
            self.cursor = path[-1]
            return True
        if self.cursor not in path or path.index(self.cursor) == 0:
            return False
        self.cursor = path[path.index(self.cursor) - 1]
        return True

    def change(self, question_id: str) -> None:
        """From the review screen, ask one answered question again; afterwards come back to the review."""
        if question_id not in {q.id for q in self.path()}:
            raise KeyError(question_id)
        self.cursor = question_id
        self.returning = True

    # -- internals -----------------------------------------------------------------------------------------------

    def _counted(self) -> dict[str, Any]:
        """The answers that count: not the "how" steps, and of each instrument only the way it was taken (items
        kept from an earlier choice stay in the draft, and come back if the counselor walks the items again)."""
        return {
            k: v
            for k, v in self.answers.items()
            if v is not None and k not in self.steps and self._on_instrument_path(k)
        }

    def _given(self) -> dict[str, Any]:
        """The answers that count, less direct answers to questions the others now derive (`derived`): the
        derivation stands for them, so the two can never disagree."""
        counted = self._counted()
        derived = self.derived()
        return {k: v for k, v in counted.items() if k not in derived}

    def _first_unanswered(self) -> str | None:
        return next((q.id for q in self.path() if q.id not in self.answers), None)

    def _prune(self) -> list[str]:
        """Drop answers to questions that no longer apply (say housing became homeless), until nothing changes."""
        dropped: list[str] = []
        while True:
            _, applies, _ = applicable(self.pack, self._given())
            gone = [
                name
                for name in self.answers
                if applies.get(self.steps[name].total.id if name in self.steps else name) is False
            ]
            if not gone:
                return dropped
            for name in gone:
                del self.answers[name]
            dropped += gone
