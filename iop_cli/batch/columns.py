"""Batch scoring, stage 1: the columns. The header read, and the plan of where each field's answers come from (a
column by name or alias, a derivation from the map, or nowhere), with one clear line for a column that is missing,
duplicated or misspelled.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from iop_cli.batch.mapping import Derived, Mapping
from iop_cli.batch.render import neutral_text
from iop_cli.decide import frame as pr
from iop_cli.lang.expr import CODE_LIMIT, DECIMAL
from iop_cli.output.contracts import SCORE_COLUMNS
from iop_cli.pack.model import Pack
from iop_cli.problems import Problem, ProblemsError


@dataclass
class Source:
    """Where a field's answers come from: an input column (by position), several joined (a multi-select's), a
    derivation, or nowhere."""

    kind: str  # column, joined, derive, absent
    index: int | None = None
    header: str = ""
    derived: Derived | None = None
    indices: tuple[int, ...] = ()  # joined: the columns, each cell one code of the selection
    ticks: tuple[str, ...] = ()  # checkboxes: each column's choice (its cell 1 where ticked, 0 where not)


def _fold(text: str) -> str:
    return text.strip().casefold()


def plan_sources(pack: Pack, header: list[str], mapping: Mapping | None, name: str) -> dict[str, Source]:
    """Decide where each asked field comes from; raise one problem listing every required field with no column."""
    mapping = mapping or Mapping()
    positions: dict[str, list[int]] = {}
    for index, title in enumerate(header):
        positions.setdefault(_fold(title), []).append(index)
    problems: list[Problem] = []

    def find(wanted: list[str], field_id: str) -> Source | None:
        for title in wanted:
            found = positions.get(_fold(title), [])
            if len(found) > 1:
                cols = " and ".join(str(i + 1) for i in found)
                problems.append(
                    Problem(
                        name, f"column `{title}` (for {field_id}) appears more than once (columns {cols})", "rename one"
                    )
                )
                return Source("absent")
            if found:
                return Source("column", found[0], header[found[0]])
        return None

    sources: dict[str, Source] = {}
    missing: list[str] = []
    # Fields some column gives, directly or through a derivation (the suicide questions from the C-SSRS items): a
    # required one of these needs no column of its own; a row whose derivation leaves it open misses it.
    derivable: set[str] = set()
    for question in pack.asked:
        fid = question.id
        derive = getattr(question, "derive", None)
        if derive is not None and derivable & set(derive.names):
            derivable.add(fid)
        if fid in mapping.derive:
            derived = mapping.derive[fid]
            absent = [c for c in derived.columns if _fold(c) not in positions]
            if absent:
                problems.append(
                    Problem(
                        mapping.path,
                        f"derive: {fid} reads columns not in {name}: {', '.join(absent)}",
                        _nearest(absent, header),
                    )
                )
            sources[fid] = Source("derive", derived=derived, header=f"{fid} (derived)")
            derivable.add(fid)
            continue
        if fid in mapping.checkboxes:
            boxes = mapping.checkboxes[fid]
            found_each = [(column, find([column], fid)) for column in boxes.values()]
            for wanted, found in found_each:
                if found is None:
                    where = f"checkboxes: {fid}: no column `{wanted}` in {name}"
                    problems.append(Problem(mapping.path, where, _nearest([wanted], header)))
            if all(found is not None and found.kind == "column" for _, found in found_each):
                indices = tuple(found.index for _, found in found_each if found is not None and found.index is not None)
                label = f"{fid}___*"
                sources[fid] = Source("joined", header=label, indices=indices, ticks=tuple(boxes))
                derivable.add(fid)
            else:
                sources[fid] = Source("absent")
            continue
        if fid in mapping.columns:
            named = mapping.columns[fid]
            found_each = [(wanted, find([wanted], fid)) for wanted in ((named,) if isinstance(named, str) else named)]
            for wanted, found in found_each:
                if found is None:
                    problems.append(
                        Problem(
                            mapping.path, f"columns: {fid}: no column `{wanted}` in {name}", _nearest([wanted], header)
                        )
                    )
            mapped = Source("absent")
            if all(found is not None and found.kind == "column" for _, found in found_each):
                if isinstance(named, str):
                    mapped = found_each[0][1] or mapped
                else:
                    indices = tuple(
                        found.index for _, found in found_each if found is not None and found.index is not None
                    )
                    mapped = Source("joined", header="+".join(header[i].strip() for i in indices), indices=indices)
            sources[fid] = mapped
            if mapped.kind != "absent":
                derivable.add(fid)
            continue
        source = find([fid, *question.aliases], fid)
        if source is not None:
            sources[fid] = source
            derivable.add(fid)
        elif fid in mapping.unanswered or not question.required or fid in derivable:
            sources[fid] = Source("absent")
        else:
            missing.append(fid)
            sources[fid] = Source("absent")
    if missing:
        near = "; ".join(f"{m} ~ {c}" for m in missing if (c := _close(m, pack.questions[m].aliases, header)))
        problems.append(
            Problem(
                name,
                f"missing standard columns: {', '.join(missing)}",
                (f"nearest headers: {near}; " if near else "")
                + "rename them, map them with --map, or list them under `unanswered:` in the map",
            )
        )
    if problems:
        raise ProblemsError(problems)
    return sources


def _close(field_id: str, aliases: tuple[str, ...], header: list[str]) -> str:
    folded = {_fold(h): h for h in header if h.strip()}
    for word in (field_id, *aliases):
        close = difflib.get_close_matches(_fold(word), list(folded), n=1, cutoff=0.5)
        if close:
            return folded[close[0]]
    return ""


def _nearest(wanted: list[str], header: list[str]) -> str:
    folded = {_fold(h): h for h in header if h.strip()}
    close = [folded[c] for w in wanted for c in difflib.get_close_matches(_fold(w), list(folded), n=1, cutoff=0.5)]
    return f"nearest headers: {', '.join(close)}" if close else "check the header row"


def _cell(index: int) -> pl.Expr:
    text = pl.col(f"c{index}").str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_CODE = f"^(?:{DECIMAL.pattern})$"


def derived_column(derived: Derived, header: list[str]) -> pl.Expr:
    """A derived field's answer as text, from its cases over input columns read as numbers."""
    by_name = {_fold(h): i for i, h in reversed(list(enumerate(header)))}

    def column(name: str) -> pl.Expr:
        # A code is a plain decimal within +/-CODE_LIMIT; anything else (text, NaN, inf, `３５`) is unknown here.
        cell = _cell(by_name[_fold(name)])
        number = pl.when(cell.str.contains(_CODE)).then(cell.cast(pl.Float64, strict=False))
        return pl.when(number.abs() <= CODE_LIMIT).then(number)

    chain: Any = None  # pl.when(...).then(...) chains change type as they grow
    for condition, value in derived.cases:
        test = pr.compile_expr(condition, column)
        chain = (pl.when(test.is_null()) if chain is None else chain.when(test.is_null())).then(None)
        chain = chain.when(test).then(pl.lit(as_text(value), dtype=pl.String))
    return chain.otherwise(pl.lit(as_text(derived.otherwise), dtype=pl.String))


def joined_column(source: Source) -> pl.Expr:
    """The cells of a multi-select's joined columns as one `a;b` cell (null where every cell is empty). A checkbox
    column adds its choice where it holds 1 and nothing where 0 (or blank); any other cell is kept as it is, so the
    answer check refuses it."""
    if source.ticks:
        cells = [
            pl.when(_cell(i) == "1").then(pl.lit(tick)).when(_cell(i) == "0").then(None).otherwise(_cell(i))
            for i, tick in zip(source.indices, source.ticks, strict=True)
        ]
    else:
        cells = [_cell(i) for i in source.indices]
    return pl.concat_str(cells, separator=";", ignore_nulls=True)


def field_label(fid: str, source: Source) -> str:
    if source.kind == "joined":
        return f"{source.header} ({fid})"
    if source.kind == "column" and _fold(source.header) != fid:
        return f"{source.header.strip() or f'column {(source.index or 0) + 1}'} ({fid})"
    return fid if source.kind == "column" else source.header


def output_names(header: list[str], fmt: str, outputs: Sequence[str] = SCORE_COLUMNS) -> list[str]:
    """Column names as written: the input's, then `outputs` (`contracts.score_columns`: the outcome and the
    profile). In every format an input column named like an output column (a file scored before) is kept as
    `input_NAME` (numbered where that name is taken too), so no output column is written twice. Otherwise CSV keeps
    the input header as it is, except that a name a spreadsheet would run as a formula gets a leading apostrophe (as
    cells do); JSON keys must be unique, so a repeated or empty input name gets a suffix. Parquet names are unique
    as JSON keys are, and nothing in them is neutralized (Parquet is read by programs)."""
    if fmt != "parquet":
        header = [neutral_text(title) for title in header]
    csv = fmt == "csv"
    names: list[str] = []
    # CSV: only a renamed column must stay clear of the other names; JSON: every name must.
    seen: set[str] = set(outputs) | (set(header) if csv else set())
    for index, title in enumerate(header):
        name = title if csv else title or f"column_{index + 1}"
        if name in outputs:
            name = f"input_{name}"
        elif csv:
            names.append(name)
            continue
        base, n = name, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return [*names, *outputs]
