"""The profile of a decision: each dimension of the pack's `profile:` rated 0 (no need) to 4 (the most urgent need).
It explains the level and never changes it.

A dimension's rating is the highest of its ratings whose condition holds. Where answers it reads are missing
(optional ones too: a skipped pregnancy question, a withdrawal scale not taken, an undetermined C-SSRS), it is rated
only when every way of filling them gives the same rating; otherwise it is "not rated" (None), never 0. The answers
the engine has decide most dimensions at once (three-valued evaluation: a condition that is true or false with
answers missing is so for every filling, since ratings may not test `is missing`); the rest are settled by the
exact search over the pack's answer space (`decide.space`), which tries every answer that can change a
condition. `iop check` and `iop score` both rate through `rate`, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iop_cli.decide.space import Point, Search, profile_space, questions_read
from iop_cli.pack.model import Dimension, Pack, Question


@dataclass(frozen=True)
class DimensionRating:
    id: str
    name: str
    rating: int | None  # None: not rated (some way of filling the missing answers gives another rating)
    because: str = ""  # what the rating means (the pack's words); empty when not rated
    answers: dict[str, Any] = field(default_factory=dict)  # the answers behind the rating, by field id
    open: tuple[str, ...] = ()  # not rated: the missing answers the rating waits on
    highest: bool = False  # rated, and tied for the highest need of the profile


def rate(pack: Pack, values: Mapping[str, Any], applies: Mapping[str, bool | None]) -> tuple[DimensionRating, ...]:
    """Every dimension of the pack rated from the values and applicability the engine computed
    (`values.applicable`), the highest needs marked."""
    rated = [rate_dimension(pack, dimension, values, applies) for dimension in pack.profile]
    top = max((r.rating for r in rated if r.rating is not None), default=None)
    if top is None:
        return tuple(rated)
    return tuple(
        DimensionRating(r.id, r.name, r.rating, r.because, r.answers, r.open, True) if r.rating == top else r
        for r in rated
    )


MEMO_LIMIT = 100_000  # ratings remembered per pack (answers to a dimension's few questions repeat across people)


def rate_dimension(
    pack: Pack, dimension: Dimension, values: Mapping[str, Any], applies: Mapping[str, bool | None]
) -> DimensionRating:
    """One dimension rated, remembered by the answers it depends on (`dimension_key`), which decide it."""
    fields = dimension_key(pack, dimension)
    key = (dimension.id, *((hashable(values.get(q.id)), applies.get(q.id)) for q in fields))
    memo = pack.memo.setdefault("ratings", {})
    if key not in memo:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = _rate(pack, dimension, values, applies)
    rated: DimensionRating = memo[key]
    return rated


def hashable(value: Any) -> Any:
    """An answer as a key: a selection (a list from JSON or Polars) as a tuple."""
    return tuple(value) if isinstance(value, list) else value


def _rate(
    pack: Pack, dimension: Dimension, values: Mapping[str, Any], applies: Mapping[str, bool | None]
) -> DimensionRating:
    results = [cell.when.evaluate(values) for cell in dimension.ratings]
    settled = all(r is not None for r in results) and all(
        applies.get(source) is not None for cell in dimension.ratings for source in _sources(pack, cell.when.names)
    )
    held = [c for c, r in zip(dimension.ratings, results, strict=True) if r is True]
    top = max(held, key=lambda c: c.rating, default=None)
    if settled:
        rating = top.rating if top is not None else None
    elif (
        top is not None
        and all(r is False for c, r in zip(dimension.ratings, results, strict=True) if c.rating > top.rating)
        and all(applies.get(source) is not None for source in _sources(pack, top.when.names))
    ):
        # A rating that holds, with every higher one false: no filling changes it. (Filling a missing answer can
        # make a false condition no more than undecided, and the answers behind this one stay asked.)
        rating = top.rating
    else:
        # Answers that contradict each other (a "low" screen beside an attempt) leave no consistent filling: the
        # rating is then what the answers as given allow, so a rating that already holds is never lost.
        ratings = _search(pack, dimension, values) or _search(pack, dimension, values, consistent=False)
        rating = ratings.pop() if len(ratings) == 1 else None
    if rating is None:
        fields = dimension_fields(pack, dimension, values)
        unknown = [q for q in fields if values.get(q.id) is None and applies.get(q.id) is not False]
        # A screen's items are named by the answers they derive (`suicide_risk`, not its eight questions).
        items = {n for q in fields if q.derive is not None for n in q.derive.names}
        open_ = tuple(q.id for q in unknown if q.id not in items or q.derive is not None)
        return DimensionRating(dimension.id, dimension.name, None, open=open_)
    cell = next(c for c in dimension.ratings if c.rating == rating)
    behind = {s: values[s] for s in _sources(pack, cell.when.names) if values.get(s) is not None}
    return DimensionRating(dimension.id, dimension.name, rating, cell.because, behind)


def _sources(pack: Pack, names: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(s for n in names for s in pack.sources(n)))


def dimension_questions(pack: Pack, dimension: Dimension) -> list[Question]:
    """Every question, asked or computed, whose value a dimension's rating reads, directly or through computed
    fields, ask_if and derivations, in pack order: the values the rating needs, and no others to compute."""
    return questions_read(pack, [n for cell in dimension.ratings for n in cell.when.names])


def dimension_fields(pack: Pack, dimension: Dimension, values: Mapping[str, Any] | None = None) -> list[Question]:
    """The questions the search answers for a dimension (`profile_space`, through the items of a total some of
    whose items `values` give): what its ratings read, and what that depends on (ask_if, derivations). A rating is
    the same for any two answer sets that agree on these."""
    return profile_space(pack, values).depends([n for cell in dimension.ratings for n in cell.when.names])


def dimension_key(pack: Pack, dimension: Dimension) -> list[Question]:
    """The answers batch scoring keys a dimension's rating by: its fields, and the items of each computed total
    among them (which `rate_dimension` searches through where some are given)."""
    memo = f"profile_key:{dimension.id}"
    if memo not in pack.memo:
        fields = dimension_fields(pack, dimension)
        totals = profile_space(pack).totals
        keyed = {q.id for q in fields} | {i for q in fields if q.id in totals for i, _ in totals[q.id]}
        pack.memo[memo] = [q for q in pack.questions.values() if q.id in keyed]
    questions: list[Question] = pack.memo[memo]
    return questions


def _search(pack: Pack, dimension: Dimension, values: Mapping[str, Any], consistent: bool = True) -> set[int | None]:
    """The ratings (None where no rating holds) that the ways of filling the missing answers give; the search stops
    at the second, since then the dimension is not rated. `consistent`: leave out fillings whose items derive
    another value than an answer given."""
    space = profile_space(pack, values)
    fields = dimension_fields(pack, dimension, values)
    fixed = {q.id: values[q.id] for q in fields if values.get(q.id) is not None}
    cells = dimension.ratings
    found: set[int | None] = set()
    # A given answer that the screen's items also derive (`suicidal_ideation` beside the C-SSRS): a filling of the
    # items that derives another value is not a way this person could have answered.
    derived = [q for q in fields if q.derive is not None and q.id in fixed] if consistent else []
    searched = {q.id for q in fields} - set(fixed)  # a total's items are not searched: its total is given

    def verdict(point: Point) -> bool | None:
        if len(found) > 1:
            return False
        pending = False  # a derivation the answers so far leave open: a deeper answer may still contradict
        for question in derived:
            assert question.derive is not None
            value = question.derive.evaluate(point.values)
            if value is not None and value != fixed[question.id]:
                return False
            pending = pending or (
                value is None
                and any(
                    n in searched and n not in point.answers and point.applies.get(n, True) is not False
                    for n in question.derive.names
                )
            )
        held = [c.rating for c, r in zip(cells, point.results, strict=True) if r is True]
        top = held[0] if held else None  # cells are highest first
        above = {
            c.rating for c, r in zip(cells, point.results, strict=True) if r is None and (top is None or c.rating > top)
        }
        if not above:
            if pending:
                return None
            found.add(top)
            return False
        return False if found and above | {top} <= found else None

    search = Search(space, fields, fixed=fixed, blanks=False, questions=dimension_questions(pack, dimension))
    for _ in search.each_by_rules(cells, verdict):
        pass  # the verdict never yields: it records each rating as the search settles it
    return found
