"""Batch scoring, stage 2: the cells. Each distinct cell of a column is checked and converted once per run (in Python,
with the same rules as an answers file), and the batch's column becomes a typed column by lookup; a cell that does
not fit its question becomes the row's error, never a lost row.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from iop_cli.batch.columns import Source, as_text
from iop_cli.batch.mapping import Mapping, OneOf, code_key
from iop_cli.decide.frame import VALUE_TYPES
from iop_cli.pack.answers import MAX_TEXT, MULTI_SEPARATOR, BadValue, allowed_text, coerce
from iop_cli.pack.model import Pack, Question


class Converter:
    """Raw cells to typed answers. A first pass collects each column's distinct cells; each goes once through the
    mapping and then through `answers.coerce`, the very function `iop check` uses, so batch and engine accept and
    refuse the same values. The scoring pass then spreads the results over the rows with `replace_strict`."""

    def __init__(self, pack: Pack, sources: dict[str, Source], mapping: Mapping | None):
        self.pack = pack
        self.sources = sources
        self.mapping = mapping or Mapping()
        self.seen: dict[str, dict[str, tuple[Any, str | None]]] = {q.id: {} for q in pack.asked}

    def recodes(self, field_id: str) -> bool:
        """Whether the map changes this field's cells (missing codes or a code list)."""
        return bool(self.mapping.missing) or field_id in self.mapping.values

    def answer(self, question: Question, cell: str) -> tuple[Any, str | None]:
        """(typed value, problem) for one distinct cell, after stripping, missing codes and recoding; remembered,
        so each distinct cell is checked once per run."""
        known = self.seen[question.id]
        if cell not in known:
            known[cell] = self._answer(question, cell)
        return known[cell]

    def _answer(self, question: Question, cell: str) -> tuple[Any, str | None]:
        text = cell.strip()
        if not text:
            return None, None
        try:
            if self.sources[question.id].kind in ("column", "joined") and self.recodes(question.id):
                if question.type == "multi":  # each code of a selection on its own (joined columns: one code each)
                    parts = [self._recoded(question, part.strip()) for part in text.split(MULTI_SEPARATOR)]
                    text = MULTI_SEPARATOR.join(part for part in parts if isinstance(part, str) and part)
                    if not text:
                        return None, None  # every code a missing code: unanswered
                else:
                    recoded = self._recoded(question, text)
                    if isinstance(recoded, OneOf) or recoded is None:
                        return recoded, None
                    text = recoded
            return coerce(question, text), None
        except BadValue as exc:
            return None, f"{exc.message} (allowed: {exc.allowed})"

    def _recoded(self, question: Question, text: str) -> str | OneOf | None:
        """One code through the map: None for a missing code or a code mapped to null, a value set as it is. A
        field the map lists codes for takes only those (TEDS-A's age band 13 is no age of 13): BadValue."""
        key = code_key(text)
        if key in self.mapping.missing:
            return None
        codes = self.mapping.values.get(question.id, {})
        if not codes:
            return text
        if key not in codes:
            listed = ", ".join(list(codes)[:12]) + (", ..." if len(codes) > 12 else "")
            missing = ", or a missing code" if self.mapping.missing else ""
            raise BadValue("is not one of the codes the map lists for this field", listed + missing)
        value = codes[key]
        return value if isinstance(value, OneOf) else as_text(value)

    def value_sets(self, question: Question, cells: pl.Expr, distinct: list[str]) -> pl.Expr:
        """Each row's value set (`mapping.OneOf`) as a bit mask over the field's members (`Mapping.members`): null
        where the cell names one answer, or none."""
        members = self.mapping.members(question.id)
        sets = {c: a[0] for c in distinct if isinstance((a := self.answer(question, c))[0], OneOf)}
        masks = [sum(1 << members.index(v) for v in one_of) for one_of in sets.values()]
        return cells.replace_strict(list(sets), masks, default=None, return_dtype=pl.Int64)

    def column(self, question: Question, cells: pl.Expr, distinct: list[str], label: str):
        """(typed value, errors with the cell, errors without it, whether the cell is bad) as expressions; the last
        three are None when no cell of the column is bad. Whether a row is bad is a test of its cell against the
        few bad ones; the errors' texts are looked up only for the rows that have one (`BatchScorer._decide`)."""
        answers = [(None, None) if isinstance(a[0], OneOf) else a for a in (self.answer(question, c) for c in distinct)]
        bad = {c: a[1] for c, a in zip(distinct, answers, strict=True) if a[1]}
        # Fast paths for clean exports, where every good cell is its own value or an empty cell: a bad cell is
        # then only nulled.
        pairs = [
            (c, a[0])
            for c, a in zip(distinct, answers, strict=True)
            if c not in bad and not (c == "" and a == (None, None))
        ]
        blank = "" in distinct and answers[distinct.index("")] == (None, None)  # "" cells (quoted empty) unanswered
        cells_, found_ = [c for c, _ in pairs], [v for _, v in pairs]
        value: pl.Expr | None = None
        if question.type == "choice" and found_ == cells_:
            value = pl.when(cells == "").then(None).otherwise(cells) if blank else cells
        elif question.type == "integer" and all(v is not None and str(v) == c for c, v in pairs):
            value = cells.cast(pl.Int64, strict=False) if blank or bad else cells.cast(pl.Int64)
        elif question.type == "yesno" and set(cells_) <= {"yes", "no"} and found_ == [c == "yes" for c in cells_]:
            value = (
                pl.when(cells == "yes").then(True).when(cells == "no").then(False) if blank or bad else cells == "yes"
            )
        fast = value is not None
        if value is None:  # every distinct cell looked up (a bad one gives null)
            found = [a[0] for a in answers]
            value = cells.replace_strict(distinct, found, default=None, return_dtype=VALUE_TYPES[question.type])
        if not bad:
            return value, None, None, None
        failed = cells.is_in(list(bad)).fill_null(False)  # an empty cell is not a bad one
        if fast:
            value = pl.when(failed).then(None).otherwise(value)
        with_cell = [f"{label}: '{c.strip()[:40]}' {problem}" for c, problem in bad.items()]
        without = [f"{label}: {problem}" for problem in bad.values()]
        return (
            value,
            cells.replace_strict(list(bad), with_cell, default=None, return_dtype=pl.String),
            cells.replace_strict(list(bad), without, default=None, return_dtype=pl.String),
            failed,
        )


def text_answer(question: Question, cells: pl.Expr, label: str) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """A free-text field, checked in Polars (it has too many distinct values for the cache): value, errors, and
    whether the cell is bad."""
    stripped = cells.str.strip_chars()
    too_long = stripped.str.len_chars() > MAX_TEXT
    problem = f"is longer than {MAX_TEXT} characters (allowed: {allowed_text(question)})"
    value = pl.when(too_long | (stripped == "")).then(None).otherwise(stripped)
    with_value = pl.when(too_long).then(
        pl.concat_str([pl.lit(f"{label}: '"), stripped.str.slice(0, 40), pl.lit(f"' {problem}")])
    )
    return value, with_value, pl.when(too_long).then(pl.lit(f"{label}: {problem}")), too_long.fill_null(False)
