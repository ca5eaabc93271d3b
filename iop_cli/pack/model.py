"""The rule pack: its model and its YAML loader.

A pack is a folder of YAML files. Each file is a mapping whose top-level keys are among `pack`, `sections`,
`questions`, `levels`, `rules`, `otherwise`, `fixtures` and `tests`. Loading checks everything once, reports every
problem with file:line:col, and keeps positions so later errors can point back at the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from iop_cli.lang import expr
from iop_cli.problems import Mark

# Batch scoring carries a row's missing answers and its alerts as the bits of one 64-bit integer each. The loader
# holds every pack to these limits, so that no command accepts a pack another refuses.
MAX_REQUIRED = 62
MAX_ALERTS = 62


@dataclass(frozen=True)
class Choice:
    """One answer of a menu. An integer question's choices carry scores (an instrument's item): its answer is the
    score, and the choice's `value` word is another way to write it."""

    value: str
    label: str
    score: int | None = None


@dataclass
class Compute:
    """How a computed field gets its value: one expression, or cases tried in order."""

    expression: expr.Expr | None = None
    cases: tuple[tuple[expr.Expr, Any], ...] = ()
    otherwise: Any = None
    type: str = ""  # the field's declared type: a `number` is a float in every back end, however it was computed

    def evaluate(self, values) -> Any:
        if self.expression is not None:
            value = self.expression.evaluate(values)
            return float(value) if self.type == "number" and value is not None else value
        for condition, value in self.cases:
            result = condition.evaluate(values)
            if result is None:
                return None  # an undecidable case makes the value unknown, never a later case's value
            if result:
                return value
        return self.otherwise

    @property
    def names(self) -> tuple[str, ...]:
        if self.expression is not None:
            return self.expression.names
        return tuple(dict.fromkeys(n for condition, _ in self.cases for n in condition.names))


@dataclass
class Question:
    """A field of the pack: asked in the interview (`Asked`) or computed from other answers (`Computed`)."""

    id: str
    type: str
    label: str
    mark: Mark
    help: str = ""
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    aliases: tuple[str, ...] = ()
    section: str | None = None
    # How a decision's reason states this person's answer (`decide.explain`): for yes/no, the text of each
    # answer; for any other, a text where `{answer}` stands for it. Empty: "LABEL: ANSWER".
    says: dict[str, str] = field(default_factory=dict)
    # A number's named bands, from their lowest value up: (from, name) ("moderate withdrawal" from 13).
    bands: tuple[tuple[float, str], ...] = ()
    # A plan can change this answer (housing, home, readiness), unlike a fact of the person (age, history): what
    # would change a placement (`decide.changes`) marks the difference.
    can_change: bool = False
    confirm_enter: bool = True  # False: Enter alone never takes a pre-selected answer (no earlier answer)

    @property
    def computed(self) -> bool:
        return isinstance(self, Computed)

    @property
    def required(self) -> bool:
        """Whether a missing answer blocks a placement (only an asked question can be required)."""
        return False

    @property
    def ask_if(self) -> expr.Expr | None:
        """When the interview asks it (only an asked question has a condition); None is always."""
        return None

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    @property
    def scores(self) -> tuple[int, ...]:
        """The scores an item may take (an integer question with choices); () for any other question."""
        return tuple(c.score for c in self.choices if c.score is not None)

    @property
    def derive(self) -> Compute | None:
        """How an asked question is also derived from other answers (an instrument's total from its items); None
        when it is only asked."""
        return None

    @property
    def field_type(self) -> expr.FieldType:
        return expr.FieldType(self.type, self.choice_values, self.min, self.max)

    def choice_label(self, value: Any) -> str:
        if self.scores:
            return next((c.label for c in self.choices if c.score == value), str(value))
        return next((c.label for c in self.choices if c.value == value), value)


@dataclass
class Asked(Question):
    """A question the interview asks (when its `ask_if` holds) and an intake file answers."""

    required: bool = True
    ask_if: expr.Expr | None = None
    # Given directly, or derived from earlier answers when those decide it; both given and disagreeing is an error.
    derive: Compute | None = None
    # A yes/no follow-up asked after a yes to `implies` (its gate): a yes here counts as a yes there too, even when
    # the gate was answered no, and the contradiction is listed (a stated plan is never ignored).
    implies: str | None = None


@dataclass
class Computed(Question):
    """A field computed from earlier answers: never asked, never required."""

    compute: Compute = field(default_factory=Compute)  # the loader sets it once its conditions are checked


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    help: str = ""


@dataclass
class Level:
    id: str
    name: str
    mark: Mark
    code: str = ""
    intensity: str = ""
    rank: int = 0
    urgent: bool = False
    summary: str = ""
    involves: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()


@dataclass
class Rule:
    """What placement rules and alerts share: an id, a condition, the reason shown when it holds, and its place."""

    id: str
    when: expr.Expr
    because: str
    mark: Mark


@dataclass
class Placement(Rule):
    """A level rule: the first that holds decides the level."""

    level: str = ""


@dataclass
class Alert(Rule):
    """An alert: every one that holds is shown, whatever the level."""

    alert: str = ""
    severity: str = "info"
    # When it holds, the record is provisional: the level stands, but a safety assessment it rests on is incomplete.
    provisional: bool = False


@dataclass
class Rating(Rule):
    """One cell of a profile dimension: the rating (0 no need .. 4 the most urgent) when its condition holds. Its id
    is `DIMENSION:RATING`; `because` says in words what the cell means."""

    rating: int = 0


@dataclass
class Dimension:
    """A row of the pack's profile: several ratings may hold, the highest wins. It explains the level; it never
    changes the routing."""

    id: str
    name: str
    mark: Mark
    ratings: list[Rating] = field(default_factory=list)  # highest rating first


@dataclass
class Otherwise:
    level: str
    because: str
    mark: Mark | None = None


@dataclass
class TestCase:
    name: str
    given: dict[str, Any]
    expect: dict[str, Any]
    mark: Mark


@dataclass(frozen=True)
class Allowance:
    """A lint finding the pack's authors intend: its key, why, and for gaps the answers it covers."""

    finding: str
    because: str
    when: expr.Expr | None = None


@dataclass
class Pack:
    name: str
    version: str
    description: str
    path: Path
    hash: str
    sections: dict[str, Section]
    questions: dict[str, Question]
    levels: dict[str, Level]
    rules: list[Placement]  # level rules, first match wins
    alerts: list[Alert]  # every alert that applies is shown
    otherwise: Otherwise
    tests: list[TestCase] = field(default_factory=list)
    lint_allow: list[Allowance] = field(default_factory=list)  # lint findings the authors intend
    profile: list[Dimension] = field(default_factory=list)  # the dimensions every decision is rated on

    # Objects other layers derive from the pack once and keep with it (`decide.space.profile_space`).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def steps(self, recommended: str, actual: str) -> int:
        """How many levels of care apart two levels are, in order of intensity (rank): positive when `actual` is
        the more intensive (a step up from the recommendation), negative when it is less. The `otherwise` level
        (clinician review) is no level of care: to or from it, 0."""
        if self.otherwise.level in (recommended, actual):
            return 0
        order = sorted((lv for lv in self.levels if lv != self.otherwise.level), key=lambda lv: -self.levels[lv].rank)
        return order.index(recommended) - order.index(actual)

    @cached_property
    def implied(self) -> list[tuple[str, str]]:
        """(follow-up, gate) for each asked question that `implies` its gate, in pack order (read once loaded)."""
        return [(q.id, q.implies) for q in self.questions.values() if isinstance(q, Asked) and q.implies is not None]

    @cached_property
    def sums(self) -> dict[str, tuple[tuple[str, int, int], ...]]:
        """Asked questions derived as a plain sum of whole-number items that have a range (an instrument's total):
        each item with its lowest and highest score. Partly answered, such a total is known to lie in a range
        (`decide.values.ranges`)."""
        from iop_cli.lang.walk import linear

        found: dict[str, tuple[tuple[str, int, int], ...]] = {}
        for question in self.asked:
            derive = question.derive
            if derive is None or derive.expression is None:
                continue
            form = linear(derive.expression.root)
            if form is None or form[1] != 0 or not form[0] or any(sign != 1 for sign in form[0].values()):
                continue
            items = [self.questions.get(name) for name in form[0]]
            ends = [(i.id, i.min, i.max) for i in items if i is not None and i.type == "integer"]
            if len(ends) == len(items) and all(low is not None and high is not None for _, low, high in ends):
                found[question.id] = tuple((name, int(low or 0), int(high or 0)) for name, low, high in ends)
        return found

    @property
    def asked(self) -> list[Question]:
        return [q for q in self.questions.values() if not q.computed]

    @property
    def computed(self) -> list[Question]:
        return [q for q in self.questions.values() if q.computed]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in [*self.rules, *self.alerts] if r.id == rule_id), None)

    def sources(self, name: str) -> tuple[str, ...]:
        """The asked questions a field rests on: itself, or a computed field's inputs, recursively."""
        question = self.questions.get(name)
        if not isinstance(question, Computed):
            return (name,)
        return tuple(dict.fromkeys(s for n in question.compute.names for s in self.sources(n)))
