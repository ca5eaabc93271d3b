"""Batch scoring for `iop score`: read a CSV in batches that end at record boundaries, map and check its columns,
decide every row with the pack compiled to Polars expressions, and write the result to a private temporary file
that replaces the output only when everything went well. Reading and writing run in threads beside the scoring;
memory is bounded by the batch size, not by the file.

One output row per input row, in input order: a bad value makes its row `status=error`, never a lost row.
"""

from __future__ import annotations

import io
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import polars as pl

from iop_cli.batch import read as batch_read
from iop_cli.batch.cells import Converter, text_answer
from iop_cli.batch.columns import Source, derived_column, field_label, joined_column, output_names, plan_sources
from iop_cli.batch.mapping import Mapping, OneOf
from iop_cli.batch.pipeline import SCORING_THREADS, Pipeline
from iop_cli.batch.read import read_chunks, read_header, unreadable
from iop_cli.batch.render import (
    FORMULA,
    SPREADSHEET_FORMULA,
    CsvFormat,
    JsonFormat,
    OutputFormat,
    csv_line,
    csv_quote,
    neutral,
)
from iop_cli.batch.sinks import TABLE_FORMATS, ParquetSink, TextSink, XlsxSink
from iop_cli.batch.summary import ERROR_ROWS_SHOWN, Summary, Tally
from iop_cli.batch.tables import PROBLEM, open_table
from iop_cli.decide import frame as pr
from iop_cli.decide import policy
from iop_cli.files import InputFile
from iop_cli.output.contracts import SCORE_COLUMNS, score_columns
from iop_cli.pack.answers import MAX_TEXT, disagreement
from iop_cli.pack.model import Pack, Question
from iop_cli.problems import Problem, ProblemsError

RATINGS_PER_TABLE = 6  # profile ratings looked up together as text: a table of 6**6 texts
KEY_BITS = 62  # an (outcome, alerts) pair is one integer when both codes fit in this many bits (`Decided.keyed`)
OUTCOME_CELLS = SCORE_COLUMNS[:6]  # level, rule, reason, alerts, status, error
KIND_SEPARATOR = "\x1f"  # between a row's problems while they are counted (no problem's text holds it)


@dataclass
class Cells:
    """What the cells stage hands on: the typed answers (`__v_ID`), each row's problems (null when none), their
    kinds (for the summary) and a test of whether a row has each (cheaper than the text, which only the rows with a
    problem need), and the columns rendering keeps of the input."""

    typed: list[pl.Expr]
    problems: list[pl.Expr]
    kinds: list[pl.Expr]
    shown: list[pl.Expr]
    failing: list[pl.Expr]


@dataclass
class Decided:
    """What the decision stage hands on: the batch with `__outcome`, `__alerts`, `__error` and `__why` (the problems
    without their cells) (and `__key`, the two
    codes as one integer, when `keyed`), and each distinct (outcome, alerts) pair with its count."""

    done: pl.DataFrame
    pairs: list[tuple[int | None, int | None, int]]
    keyed: bool
    width: int  # the number of alerts: the bits of the alert mask

    @property
    def outcomes(self) -> list[int]:
        return sorted({code for code, _, _ in self.pairs if code is not None})

    @property
    def masks(self) -> list[int]:
        return sorted({mask for _, mask, _ in self.pairs if mask is not None})


class BatchScorer:
    """Scores one batch of raw rows at a time: distinct cells checked in Python (once per run), the pack's rules as
    Polars expressions, and texts looked up once per distinct outcome. Also keeps the run's summary."""

    def __init__(
        self,
        pack: Pack,
        sources: dict[str, Source],
        mapping: Mapping | None,
        header: list[str],
        fmt: str = "csv",
        reason: bool = True,
    ):
        self.pack = pack
        self.written = set(score_columns(pack, reason))  # the output columns this run writes
        self.csv = fmt == "csv"
        self.table = fmt in TABLE_FORMATS  # Parquet or Excel: written from columns, the outcome decoded from JSON
        self.converter = Converter(pack, sources, mapping)
        self.outcome = pr.Outcome(pack)
        self.tally = Tally(pack, self.outcome, not_in_file=[f for f, s in sources.items() if s.kind == "absent"])
        self.format: OutputFormat = CsvFormat() if self.csv else JsonFormat()
        self.pair_texts: dict[tuple[int, int], str] = {}  # `_pair_text`
        self.texts_made: dict[tuple, str] = {}  # `_remembered`
        self.levels_of: dict[int, str] = {}  # `_level`
        # The input columns' names in JSON lines, Parquet and Excel.
        named_as = "parquet" if fmt == "parquet" else "jsonl"
        self.keys = output_names(header, named_as, score_columns(pack, reason))[: len(header)]
        ratings = {d.id for d in pack.profile}
        self.output_schema = pl.Schema(
            {name: pl.Int8 if name in ratings else pl.String for name in score_columns(pack, reason)}
        )
        self.inputs = [f"c{i}" for i in range(len(header))]
        self.full_row = b",".join([b'""'] * len(header)) + b"\n"
        self.absent: list[pl.Expr] = []
        self.texts: list[tuple[Question, str, str]] = []  # free-text fields, checked in Polars
        self.coded: dict[str, list[str]] = {}  # column -> the fields it answers
        self.derived: list[pl.Expr] = []
        self.labels = {f: field_label(f, s) for f, s in sources.items() if s.kind != "absent"}
        for question in pack.asked:
            source = sources[question.id]
            if source.kind == "absent":
                self.absent.append(
                    pl.lit(None, dtype=pr.VALUE_TYPES[question.type]).alias(pr.VALUE.format(question.id))
                )
            elif source.kind == "column" and question.type == "text" and not self.converter.recodes(question.id):
                self.texts.append((question, f"c{source.index}", self.labels[question.id]))
            elif source.kind == "column":
                self.coded.setdefault(f"c{source.index}", []).append(question.id)
            elif source.kind == "joined":
                column = f"__f_{question.id}"
                self.derived.append(joined_column(source).alias(column))
                self.coded[column] = [question.id]
            else:
                assert source.derived is not None  # a derive source always carries its cases
                column = f"__f_{question.id}"
                self.derived.append(derived_column(source.derived, header).alias(column))
                self.coded[column] = [question.id]
        absent = [f for f, s in sources.items() if s.kind == "absent"]
        # Fields whose codes may name a set of values (`mapping.OneOf`): each row's set, for the settler.
        self.value_sets = {
            q.id: self.converter.mapping.members(q.id)
            for q in pack.asked
            if sources[q.id].kind == "column" and self.converter.mapping.members(q.id)
        }
        # A row with a problem is left undecided: its missing answers are not searched for an outcome not written.
        self.stages = pr.decision_columns(pack, absent, self.value_sets, skip=True)
        self.settling = pr.settling_stage(self.stages)
        self.profile = pr.ProfileRater(pack, absent=absent)
        self.profile_keys = self.profile.key_columns()
        self.rating_texts: dict[tuple[str, ...], pl.Series] = {}  # each set of ratings as text (`_ratings_text`)
        # A derived answer that differs from its derivation is the row's error (as in `iop check`), naming both.
        self.disagreements = [
            pl.when(pl.col(pr.DISAGREE.format(q.id))).then(
                pl.lit(f"{self.labels.get(q.id, q.id)}: {disagreement(pack, q.id).message}")
            )
            for q in pr.derived_questions(pack)
        ]
        self.missing = [pl.col(pr.MISSING.format(q.id)) for q in pack.asked if q.required]
        # Read after the value stages, where an unanswered multi-select has become the empty selection.
        self.unanswered = pl.all_horizontal(
            [
                pl.col(pr.VALUE.format(q.id)).list.len().fill_null(0) == 0
                if q.type == "multi"
                else pl.col(pr.VALUE.format(q.id)).is_null()
                for q in pack.asked
            ]
        )
        self.blank = pl.all_horizontal([pl.col(c).is_null() for c in self.inputs])
        # A row's input cells written anew: neutralized, quoted where needed (see _input_text).
        self.rewrite = pl.concat_str([csv_quote(neutral(pl.col(c))).fill_null("") for c in self.inputs], separator=",")

    def score_bytes(self, chunk: bytes) -> pl.DataFrame:
        """Parse one batch of CSV records (no header) and score it. For CSV output the batch is also read as plain
        lines, so each row's input cells can be copied to the output as they were, without writing them anew."""
        raw = self.parse(chunk)
        lines = None
        if self.csv and b"\x00" not in chunk:
            lines = pl.read_csv(
                io.BytesIO(chunk),
                has_header=False,
                new_columns=["__line"],
                infer_schema=False,
                separator="\x00",  # a byte the batch does not hold: one field per line
                quote_char=None,
            ).to_series()
            if lines.len() != raw.height:  # a quoted line break: lines are not rows
                lines = None
        return self.score(raw, lines)

    def parse(self, chunk: bytes) -> pl.DataFrame:
        """One batch of CSV records (no header) as text columns `c0`, `c1`, ..."""
        # Polars takes the number of fields from the first row it sees, so a full-width row of empty cells goes
        # first and is dropped: a short, blank or whitespace-only row then reads the same at the start as anywhere.
        return pl.read_csv(
            io.BytesIO(self.full_row + chunk), has_header=False, new_columns=self.inputs, infer_schema=False
        ).slice(1)

    def outcome_codes(self, raw: pl.DataFrame, distinct: dict[str, list[str]] | None = None) -> pl.Series:
        """Each row's outcome code (null for a row with a problem) and nothing else: what `rules diff --on` compares.
        `distinct` holds the distinct cells of input columns already found (by another pack's scorer on the same
        batch), and gets the ones found here."""
        if self.derived:
            raw = raw.with_columns(self.derived)
        cells = self._cells(raw, distinct)
        frame, failed = self._decision_frame(raw, cells)
        code = pl.when(failed).then(None).otherwise(pl.col(pr.OUTCOME))
        return frame.select(code.alias(pr.OUTCOME)).collect(engine="in-memory").to_series()

    def score(
        self, raw: pl.DataFrame, lines: pl.Series | None = None, original: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """The batch scored, in the same row order. CSV: `__line` (the input cells as CSV text) and `__suffix` (the
        output cells as CSV text); JSON lines: the same two pieces as JSON; Parquet and Excel: the input columns as
        read (`original`, else `raw`) and the output columns; each with `__error`."""
        if self.derived:
            raw = raw.with_columns(self.derived)
        cells = self._cells(raw)
        decided = self._decide(raw, cells)
        if self.table:
            return self._render_table(raw if original is None else original, decided)
        if not self.csv:
            return self._render_jsonl(decided)
        return self._render_csv(raw, decided, lines)

    def _cells(self, raw: pl.DataFrame, known: dict[str, list[str]] | None = None) -> Cells:
        """Stage 2: each coded column's distinct cells checked once, the typed answers, each row's problems, and
        what rendering needs to know of the input cells (formula cells; JSON lines: the neutralized inputs)."""
        columns = list(self.coded)
        distinct = self._distinct(raw, columns, {} if known is None else known)
        typed, errors, kinds, failing = list(self.absent), [], [], []
        shown: list[pl.Expr] = []  # JSON lines: the input columns, formula cells neutralized
        formula: list[pl.Expr] = []  # CSV: whether a row has a cell to neutralize
        for column, found in zip(columns, distinct, strict=True):
            if not column.startswith("__f_"):
                risky = [text for text in found if FORMULA.match(text)]
                if self.csv and risky:
                    formula.append(pl.col(column).is_in(risky))
                elif not self.csv and not self.table:
                    shown.append((neutral(pl.col(column)) if risky else pl.col(column)).alias(column))
            for fid in self.coded[column]:
                value, error, kind, bad = self.converter.column(
                    self.pack.questions[fid], pl.col(column), found, self.labels[fid]
                )
                typed.append(value.alias(pr.VALUE.format(fid)))
                if fid in self.value_sets:
                    question = self.pack.questions[fid]
                    typed.append(self.converter.value_sets(question, pl.col(column), found).alias(pr.SET.format(fid)))
                if error is not None:
                    errors.append(error)
                    kinds.append(kind)
                    failing.append(bad)
        for question, column, label in self.texts:
            value, error, kind, bad = text_answer(question, pl.col(column), label)
            typed.append(value.alias(pr.VALUE.format(question.id)))
            longest: Any = raw[column].str.len_bytes().max()
            if (longest or 0) > MAX_TEXT:  # bytes >= characters: a quick, safe test
                errors.append(error)
                kinds.append(kind)
                failing.append(bad)
        coded_inputs = {c for c in columns if not c.startswith("__f_")}
        for column in (c for c in self.inputs if c not in coded_inputs):
            if self.csv:
                formula.append(pl.col(column).str.contains(SPREADSHEET_FORMULA).fill_null(False))
            elif not self.table:
                shown.append(neutral(pl.col(column)).alias(column))
        if self.csv:  # the input cells stay in `raw`; only rows that need writing anew read them (_input_text)
            shown = [
                pl.col(self.inputs[-1]).is_null().alias("__open_end"),
                (pl.any_horizontal(formula) if formula else pl.lit(False)).alias("__formula"),
            ]
        if self._every_row_answers(raw, columns, distinct):
            row_problem = pl.lit(None, dtype=pl.String)  # no blank row, no row without answers: skip both tests
        else:
            row_problem = (
                pl.when(self.blank)
                .then(pl.lit("blank row"))
                .when(self.unanswered)
                .then(pl.lit("no intake answers in this row"))
            )
        if PROBLEM in raw.columns:  # a row's own problem, found before its cells (tables.FhirInput): it alone
            own = pl.col(PROBLEM)
            row_problem = pl.when(own.is_null()).then(row_problem).otherwise(own)
            kind = (
                pl.when(own.is_null()).then(row_problem).otherwise(pl.lit("a FHIR response that does not fit the pack"))
            )
            return Cells(typed, [row_problem, *errors], [kind, *kinds], shown, [row_problem.is_not_null(), *failing])
        return Cells(typed, [row_problem, *errors], [row_problem, *kinds], shown, [row_problem.is_not_null(), *failing])

    @staticmethod
    def _distinct(raw: pl.DataFrame, columns: list[str], known: dict[str, list[str]]) -> list[list[str]]:
        """Each column's distinct non-empty cells, in one pass over the columns not in `known`; input columns found
        here are added to `known` (a derived column `__f_*` is this pack's own)."""
        wanted = [c for c in columns if c not in known]
        found: dict[str, list[str]] = {}
        if wanted:
            cells = raw.select(pl.col(c).unique().drop_nulls().implode() for c in wanted).row(0)
            found = dict(zip(wanted, cells, strict=True))
        known.update((c, cells) for c, cells in found.items() if not c.startswith("__f_"))
        return [known[c] if c in known else found[c] for c in columns]

    def _decision_frame(self, raw: pl.DataFrame, cells: Cells) -> tuple[pl.LazyFrame, pl.Expr]:
        """The batch with the typed answers and every decision stage (`decide.frame.decision_columns`, as
        `score_frame` uses), and whether a row has a problem (then it is left undecided)."""
        frame = raw.lazy().with_columns(cells.typed)
        failed = pl.any_horizontal([*cells.failing, *(piece.is_not_null() for piece in self.disagreements)])
        for index, stage in enumerate(self.stages):
            if index == self.settling:
                frame = frame.with_columns(failed.alias(pr.SKIP))
            frame = frame.with_columns(stage)
        return frame, pl.col(pr.SKIP)

    def _decide(self, raw: pl.DataFrame, cells: Cells) -> Decided:
        """Stage 3: the pack's decision for every row, a row with a problem left undecided, and the problems joined
        into `__error`; the summary counts the batch."""
        frame, failed = self._decision_frame(raw, cells)
        # Problems stay separate, mostly-null columns here; their text is joined only if a row in the batch has one.
        pieces, kinds = [*cells.problems, *self.disagreements], [*cells.kinds, *self.disagreements]
        width = len(self.pack.alerts)
        # An (outcome, alerts) pair as one integer key, when both fit in 63 bits (as in every pack so far).
        keyed = len(self.outcome.required) + width < KEY_BITS - 2 and self.outcome.grounds.code_bits + width < KEY_BITS
        main = frame.select(
            *cells.shown,
            pl.when(failed).then(None).otherwise(pl.col(pr.OUTCOME)).alias(pr.OUTCOME),
            pl.when(failed).then(None).otherwise(pl.col(pr.ALERTS)).alias(pr.ALERTS),
            pl.when(failed).then(None).otherwise(pl.col(pr.IGNORED)).alias(pr.IGNORED),
            pl.when(failed).then(0).otherwise(pl.col(pr.MISSING_MASK)).alias(pr.MISSING_MASK),
            *self.missing,
            *self.profile_keys,
        )
        # The problems of the rows that have one (a few in most batches), joined into one text: the decision is
        # computed once for both queries (a common subplan), and no mostly-empty column per problem is kept.
        joined = [
            pl.concat_str(pieces, separator="; ", ignore_nulls=True).alias("__error"),
            # Apart by a byte no problem's text holds, so each is counted whole (a text may hold "; " itself).
            pl.concat_str(kinds, separator=KIND_SEPARATOR, ignore_nulls=True).alias("__kinds"),
        ]
        problems = frame.with_row_index("__row").filter(failed).select("__row", *joined)
        done, bad = pl.collect_all([main, problems], engine="in-memory")
        if keyed:
            done = done.with_columns((pl.col(pr.OUTCOME) * (1 << width) + pl.col(pr.ALERTS)).alias("__key"))
        kinds_found: list[tuple[str, int]] = []
        error = pl.repeat(None, done.height, dtype=pl.String, eager=True).alias("__error")
        # The problems without the cells they quote: what stderr may show (`--strict`).
        why = pl.repeat(None, done.height, dtype=pl.String, eager=True).alias("__why")
        if bad.height:
            error = error.scatter(bad["__row"], bad["__error"])
            why = why.scatter(bad["__row"], bad["__kinds"].str.replace_all(KIND_SEPARATOR, "; ", literal=True))
            found_kinds = bad.select(pl.col("__kinds").str.split(KIND_SEPARATOR).explode().value_counts())
            kinds_found = [tuple(item.values()) for item in found_kinds.to_series().to_list()]
        done = done.with_columns(error, why)
        if self.pack.profile:
            done = done.with_columns(self.profile.ratings(done, done["__error"].is_not_null()))
        # Each distinct (outcome, alerts) pair with its count, in one pass; texts are made once per pair.
        if keyed:
            low = (1 << width) - 1
            pairs = [
                (None, None, n) if k is None else (k >> width, k & low, n)
                for k, n in done["__key"].value_counts().rows()
            ]
        else:
            pairs = done.group_by(pr.OUTCOME, pr.ALERTS).len().rows()
        self.tally.add(pairs, kinds_found, done[pr.MISSING_MASK].value_counts().rows())
        return Decided(done, pairs, keyed, width)

    def _spread(self, decided: Decided) -> Callable[..., pl.Expr]:
        outcomes = decided.outcomes
        code = pl.col(pr.OUTCOME)

        def spread(values: list, default: str | None = None) -> pl.Expr:
            return code.replace_strict(outcomes, values, default=default, return_dtype=pl.String)

        return spread

    def _render_jsonl(self, decided: Decided) -> pl.DataFrame:
        """Stage 4, JSON lines: each row as one JSON object, the input members encoded by Polars and the output
        members from the same per-outcome text cache as CSV (`_outcome_text`)."""
        inputs = pl.struct([pl.col(c).alias(k) for c, k in zip(self.inputs, self.keys, strict=True)])
        # Written as two pieces joined by a comma, as CSV is: the object's input members, then the others.
        return decided.done.select(
            inputs.struct.json_encode().str.head(-1).alias("__line"),  # without its "}": no copy of the text
            self._outcome_text(decided, end="}").alias("__suffix"),
            "__error",
            "__why",
        )

    def _render_table(self, original: pl.DataFrame, decided: Decided) -> pl.DataFrame:
        """Stage 4, Parquet and Excel: `__inputs`, the input columns as read under their JSON lines names, and
        `__outputs`, the output columns decoded from the same per-outcome JSON text as JSON lines (one home for the
        output's values); `TABLE_COLUMNS` as the sinks take them. Each distinct text is decoded once: rows share
        them, and Polars' JSON reader needs about ten times the text's size (200 MB for a batch of 50,000 rows)."""
        members = pl.concat_str([pl.lit("{"), self._outcome_text(decided, end="}")]).alias("__members")
        inputs = original.select(
            pl.struct(pl.col(c).alias(k) for c, k in zip(self.inputs, self.keys, strict=True)).alias("__inputs")
        )
        texts = decided.done.select(members, "__error", "__why")
        decoded = texts.select(pl.col("__members").unique()).with_columns(
            pl.col("__members").str.json_decode(pl.Struct(self.output_schema)).alias("__outputs")
        )
        outputs = texts.join(decoded, on="__members", how="left", maintain_order="left")
        return pl.concat([inputs, outputs.select("__outputs", "__error", "__why")], how="horizontal")

    def _render_csv(self, raw: pl.DataFrame, decided: Decided, lines: pl.Series | None) -> pl.DataFrame:
        """Stage 4, CSV: the input cells are the input line as it was, where it can be (`_input_text`), and the
        output cells are ready text (`_outcome_text`), so the file is written without Polars quoting each cell."""
        scored = decided.done.select(self._outcome_text(decided).alias("__suffix"), "__error", "__why")
        return scored.insert_column(0, self._input_text(raw, decided.done, lines).alias("__line"))

    def _outcome_text(self, decided: Decided, end: str = "") -> pl.Expr:
        """Each row's output cells as text in the output's format. The cells of the outcome (level, rule, reason,
        alerts, status) depend only on the row's outcome code and alert mask, so they are rendered once per distinct
        pair (and remembered across batches); the other cells once per distinct mask or rating."""
        fmt, done, pairs, width = self.format, decided.done, decided.pairs, decided.width
        outcomes, masks, spread = decided.outcomes, decided.masks, self._spread(decided)
        head = OUTCOME_CELLS[:5]
        if decided.keyed:
            # One lookup per row.
            present = [(o, m) for o, m, _ in pairs if o is not None and m is not None]
            rendered = pl.col("__key").replace_strict(
                [(o << width) + m for o, m in present],
                [self._pair_text(o, m) for o, m in present],
                default=None,
                return_dtype=pl.String,
            )
        else:
            statuses = sorted({self.outcome.status(o, m) for o, m, _ in pairs if o is not None and m is not None})
            rendered = pl.concat_str(
                [
                    spread([self._remembered(OUTCOME_CELLS[:3], c, self.outcome.texts) for c in outcomes]),
                    pl.col(pr.ALERTS).replace_strict(
                        masks,
                        [self._remembered(OUTCOME_CELLS[3], m, lambda m: [self.outcome.alert_text(m)]) for m in masks],
                        default=None,
                        return_dtype=pl.String,
                    ),
                    self._status_column(decided).replace_strict(
                        statuses,
                        [self._remembered(OUTCOME_CELLS[4:6], s, lambda s: [s, None]) for s in statuses],
                        default=None,  # a row with a problem: its cells come from `failed_row`
                    ),
                ],
                separator=",",
            )
        failed_row = pl.concat_str(
            [
                pl.lit(self._written_cells(head, [None] * 4 + ["error"]) + ","),
                fmt.column("error", neutral(pl.col("__error"))),
            ]
        )
        ignored_masks = done[pr.IGNORED].drop_nulls().unique().to_list()
        ignored = pl.col(pr.IGNORED).replace_strict(
            ignored_masks,
            [self._remembered("ignored", m, lambda m: [self.outcome.ignored_text(m)]) for m in ignored_masks],
            default=fmt.cells(["ignored"], [None]),
            return_dtype=pl.String,
        )
        missing_masks = done[pr.MISSING_MASK].unique().to_list()
        missing = pl.col(pr.MISSING_MASK).replace_strict(
            missing_masks,
            [self._remembered("missing", m, lambda m: [self.outcome.missing_text(m)]) for m in missing_masks],
            return_dtype=pl.String,
        )
        reach = spread([self._remembered(pr.REACH_COLUMNS, c, self.outcome.reach_texts) for c in outcomes])
        gaps = pl.concat_str([pl.lit(","), missing, pl.lit(","), reach])
        no_gaps = "," + fmt.cells(["missing", *pr.REACH_COLUMNS], [None] * 4)
        gaps = pl.when(pl.col(pr.MISSING_MASK) == 0).then(pl.lit(no_gaps)).otherwise(gaps)
        ratings = self._ratings_text()
        return pl.concat_str([pl.coalesce(failed_row, rendered), pl.lit(","), ignored, gaps, *ratings, pl.lit(end)])

    def _every_row_answers(self, raw: pl.DataFrame, columns: list[str], distinct: Sequence[Any]) -> bool:
        """Whether one column alone shows that every row of the batch has an answer: it has no empty cell, every
        distinct cell in it is a valid answer, and its question is always asked. Then no row is blank or without
        answers, and those two row tests are skipped."""
        for column, found in zip(columns, distinct, strict=True):
            if column.startswith("__f_") or raw[column].null_count():
                continue
            for fid in self.coded[column]:
                question = self.pack.questions[fid]
                if question.ask_if is None and all(_answered(self.converter.answer(question, c)[0]) for c in found):
                    return True
        return False

    def _ratings_text(self) -> list[pl.Expr]:
        """The profile's cells of each row as text (`,2,,1,...` in CSV; empty: not rated), looked up rather than
        written: each run of up to six dimensions' ratings is one number in base 6 (5 for none), the index of its
        text in a table made once."""
        pieces = []
        fmt, dimensions = self.format, self.pack.profile
        for start in range(0, len(dimensions), RATINGS_PER_TABLE):
            group = dimensions[start : start + RATINGS_PER_TABLE]
            names = tuple(d.id for d in group)
            if names not in self.rating_texts:
                code = pl.int_range(6 ** len(group), dtype=pl.Int32)
                digits = [code // 6**i % 6 for i in range(len(group))]
                cells = [
                    pl.when(d == 5)
                    .then(pl.lit(f",{fmt.key(n)}{fmt.null}"))
                    .otherwise(pl.format(f",{fmt.key(n)}{{}}", d))
                    for n, d in zip(names, digits, strict=True)
                ]
                self.rating_texts[names] = pl.select(pl.concat_str(cells)).to_series()
            code = reduce(
                operator.add,
                [pl.col(pr.RATING.format(d.id)).fill_null(5).cast(pl.Int32) * 6**i for i, d in enumerate(group)],
            )
            pieces.append(pl.lit(self.rating_texts[names]).gather(code))
        return pieces

    def _status_column(self, decided: Decided) -> pl.Expr:
        """Each row's status from its outcome code and alert mask (`error` for a row with a problem)."""
        spread = self._spread(decided)
        texts = [self.outcome.texts(c)[0] for c in decided.outcomes]
        plain = spread([policy.status(self.pack, level) for level in texts], "error")
        if not self.outcome.provisional_mask:
            return plain
        provisional = spread([policy.status(self.pack, level, True) for level in texts])
        return pl.when((pl.col(pr.ALERTS) & self.outcome.provisional_mask) != 0).then(provisional).otherwise(plain)

    def _written_cells(self, names: Sequence[str], values: Sequence[str | int | None]) -> str:
        """`format.cells` for the columns this run writes (`--columns no-reason` leaves the reason out)."""
        kept = [(n, v) for n, v in zip(names, values, strict=True) if n in self.written]
        return self.format.cells([n for n, _ in kept], [v for _, v in kept])

    def _remembered(self, names: str | tuple[str, ...], code: Any, values: Callable[[Any], Sequence[Any]]) -> str:
        """The cells `names` (one column's name, or several) of a code or mask, as text in the output's format: made
        once per run (batches repeat them; rows with missing answers bring many)."""
        key = names, code
        if key not in self.texts_made:
            self.texts_made[key] = self._written_cells([names] if isinstance(names, str) else names, values(code))
        return self.texts_made[key]

    def _pair_text(self, outcome: int, mask: int) -> str:
        """The outcome cells (level, rule, reason, alerts, status, an empty error) of an outcome code and alert mask
        as text in the output's format, put together from the parts each code, mask and status has made once
        (`_remembered`): a file holds many more pairs than codes or masks."""
        key = outcome, mask
        if key not in self.pair_texts:
            level = self._level(outcome)
            status = policy.status(self.pack, level, self.outcome.provisional(mask))
            self.pair_texts[key] = ",".join(
                [
                    self._remembered(OUTCOME_CELLS[:3], outcome, self.outcome.texts),
                    self._remembered(OUTCOME_CELLS[3], mask, lambda m: [self.outcome.alert_text(m)]),
                    self._remembered(OUTCOME_CELLS[4:6], status, lambda s: [s, None]),
                ]
            )
        return self.pair_texts[key]

    def _level(self, outcome: int) -> str:
        if outcome not in self.levels_of:
            self.levels_of[outcome] = self.outcome.texts(outcome)[0]
        return self.levels_of[outcome]

    def _input_text(self, raw: pl.DataFrame, done: pl.DataFrame, lines: pl.Series | None) -> pl.Series:
        """Each row's input cells as CSV text: its input line as it was, except that a row with a cell to neutralize,
        a row with fewer cells than the header, or every row of a batch whose lines are not its rows, is written
        anew from its cells (neutralized, and quoted where needed)."""
        cells = self.rewrite
        if lines is None:
            return raw.select(cells).to_series()
        rows = done["__formula"].arg_true()
        # A full row reaches the last column; a row whose last cell is empty may be short: count its commas outside
        # quotes.
        open_end = done["__open_end"].arg_true()
        if open_end.len():
            outside = lines.gather(open_end).str.replace_all('"[^"]*"', "")
            commas = outside.str.count_matches(",", literal=True)
            short = open_end.filter((commas != len(self.inputs) - 1).fill_null(True))
            rows = pl.concat([rows, short]).unique().sort()
        if rows.len():
            lines = lines.scatter(rows, raw[rows].select(cells).to_series())
        return lines


def _answered(value: Any) -> bool:
    """An answer a row holds: not blank, and not a value set (which leaves the answer open)."""
    return value is not None and not isinstance(value, OneOf)


class StrictStop(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def score_file(
    source: InputFile | str,
    out,
    pack: Pack,
    mapping: Mapping | None,
    fmt: str = "csv",
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    reason: bool = True,
    input_format: str = "csv",
    sheet: str | None = None,
) -> Summary:
    """Score `source` (an open input, or a path; CSV, or an Excel sheet or a Parquet file as `input_format` says)
    into the open binary file `out`, batch by batch; return the summary. Raises ProblemsError for input that cannot
    be scored and StrictStop for the first bad row under --strict."""
    if isinstance(source, str):
        with InputFile(source) as opened:
            return score_file(opened, out, pack, mapping, fmt, strict, progress, reason, input_format, sheet)
    name = source.name
    started = time.perf_counter()
    table = None
    if input_format == "csv":
        header, start = read_header(source)
    else:
        table = open_table(source, input_format, sheet, pack)
        header = table.header
    sources = plan_sources(pack, header, mapping, name)
    scorer = BatchScorer(pack, sources, mapping, header, fmt, reason)
    names = output_names(header, fmt if fmt in ("csv", "parquet") else "jsonl", score_columns(pack, reason))
    sink: TextSink | ParquetSink | XlsxSink
    if fmt == "csv":
        out.write(csv_line(names).encode("utf-8"))
        out.flush()
    if fmt == "parquet":
        empty = [(n, pl.String) for n in names[: len(header)]] + list(scorer.output_schema.items())
        sink = ParquetSink(out, pl.Schema(empty))  # the schema of a file without rows
    elif fmt == "xlsx":
        sink = XlsxSink(out, names, name)
    else:
        # Each row is ready text in two pieces: the input cells and the output cells (JSON: the object's members).
        sink = TextSink(out, ["__line", "__suffix"])
    if table is not None:
        batches = table.batches()
        counted_as = table.row_word
    else:
        # A JSON line carries its keys, about twice a CSV row's bytes: its batches are half as long, for the same
        # memory.
        batches = read_chunks(source, None if fmt == "csv" else batch_read.CHUNK_BYTES // 2, start=start)
        counted_as = "line"
    pipeline = Pipeline(batches, sink)
    done_rows = 0
    error_rows: list[int] = []  # where the first rows with a problem are, for the summary

    def hand_over(scored: pl.DataFrame, where: Callable[[list[int]], list[int]]) -> None:
        nonlocal done_rows
        if scored["__error"].null_count() < scored.height:
            bad = scored["__error"].is_not_null().arg_true()
            if strict:
                at = where(bad.head(1).to_list())[0]
                problem = scored["__why"][bad[0]]  # the problem, never the cell it quotes
                raise StrictStop(Problem(f"{name}: {counted_as} {at}", problem, "fix it, or drop --strict"))
            if len(error_rows) < ERROR_ROWS_SHOWN:
                error_rows.extend(where(bad.head(ERROR_ROWS_SHOWN - len(error_rows)).to_list()))
        pipeline.put(scored)
        done_rows += scored.height
        if progress:
            progress(scored.height)

    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def read_batch(item: tuple) -> tuple[pl.DataFrame, Callable[[list[int]], list[int]]]:
        if table is not None:
            first, original, text = item
            return scorer.score(text, None, original), lambda rows: [first + r for r in rows]
        line, chunk = item
        try:
            scored = scorer.score_bytes(chunk)
        except pl.exceptions.PolarsError:  # its message quotes the cells: say where instead, in our own words
            raise ProblemsError([unreadable(chunk, line, name, len(header))]) from None
        return scored, lambda rows: batch_read.record_lines(chunk, line, rows)

    pending: deque = deque()
    try:
        # Two batches are scored at a time (Polars releases the GIL), and handed over in input order.
        with ThreadPoolExecutor(max_workers=SCORING_THREADS) as pool:
            for item in pipeline.batches():
                pending.append(pool.submit(read_batch, item))
                if len(pending) >= SCORING_THREADS:
                    hand_over(*pending.popleft().result())
            while pending:
                hand_over(*pending.popleft().result())
        pipeline.close()
    finally:
        for future in pending:
            future.cancel()
        pipeline.abort()
    summary = scorer.tally.finish()
    summary.error_rows = error_rows
    summary.counted_as = counted_as
    summary.seconds = time.perf_counter() - started
    return summary
