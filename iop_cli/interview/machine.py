"""The interview as a pure state machine: which question comes next, going back, the review screen, resuming.

No terminal here. `interview.prompts` asks through questionary; this module only decides what to ask. The state is the
answers so far and a cursor (the question on screen, or None for the review screen), which is all a draft needs to
resume exactly where it stopped.

An answer of None means "skipped on purpose" (optional questions only); a question with no key is not yet answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iop_cli.decide.engine import applicable
from iop_cli.pack.answers import BadValue, coerce
from iop_cli.pack.model import Pack, Question


@dataclass
class Interview:
    pack: Pack
    answers: dict[str, Any] = field(default_factory=dict)
    cursor: str | None = None  # the question being asked; None once every question on the path has an answer
    returning: bool = False  # True while answering a change made from the review screen

    @classmethod
    def start(cls, pack: Pack) -> Interview:
        interview = cls(pack)
        interview.cursor = interview._first_unanswered()
        return interview

    @classmethod
    def resume(cls, pack: Pack, answers: dict[str, Any], cursor: str | None) -> tuple[Interview, list[str]]:
        """Continue a draft. Answers the pack no longer accepts (it may have changed) are dropped and named."""
        kept: dict[str, Any] = {}
        dropped: list[str] = []
        for name, value in answers.items():
            question = pack.questions.get(name)
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
        dropped += interview._prune()
        on_path = {q.id for q in interview.path()}
        if cursor in on_path:
            interview.cursor = cursor
        else:
            interview.cursor = interview._first_unanswered()
        return interview, dropped

    # -- where we are --------------------------------------------------------------------------------------------

    def path(self) -> list[Question]:
        """The questions that apply with the answers so far. A question whose condition is still unknown is asked:
        leaving it out could hide a need."""
        _, applies, _ = applicable(self.pack, self._given())
        return [q for q in self.pack.asked if applies.get(q.id) is not False]

    @property
    def current(self) -> Question | None:
        return self.pack.questions[self.cursor] if self.cursor else None

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

    def final_answers(self) -> dict[str, Any]:
        return self._given()

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

    def _given(self) -> dict[str, Any]:
        return {k: v for k, v in self.answers.items() if v is not None}

    def _first_unanswered(self) -> str | None:
        return next((q.id for q in self.path() if q.id not in self.answers), None)

    def _prune(self) -> list[str]:
        """Drop answers to questions that no longer apply (say housing became homeless), until nothing changes."""
        dropped: list[str] = []
        while True:
            _, applies, _ = applicable(self.pack, self._given())
            gone = [name for name in self.answers if applies.get(name) is False]
            if not gone:
                return dropped
            for name in gone:
                del self.answers[name]
            dropped += gone
