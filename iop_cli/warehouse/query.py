"""The pack's whole decision as one SQL query over an input table (`iop rules sql`, `iop score --engine duckdb`).

The query does what `iop score` does, stage by stage as `decide.frame` lays the stages out, each a common table
expression that adds columns to the one before:

1. the input's columns under names of the query's own (`c0`, `c1`, ...), so no input name can meet an internal one;
2. each answer trimmed, checked against its question (choices, ranges, whole numbers, scores) and typed, with the
   error text of a cell that does not fit (naming the column);
3. follow-ups that imply their gate, then the values that apply (`ask_if`), derived answers and computed fields;
4. the missing required answers, and the range a partly answered instrument's items fix;
5. each rule's verdict, the first rule that holds, and whether missing answers leave the level open
   (`policy.settled`, the same test batch scoring makes before it searches);
6. level, rule and reason, then the alerts (which may read the level) in the order every surface shows them, the
   status and the error.

The one thing SQL does not do is the search over the missing answers (`decide.missing`): a row that needs it (its
level is not settled by `policy.settled`) goes to the pack's `otherwise` level (clinician review) with a reason
naming the missing answers, which never lets a less intensive level through. `iop score --engine duckdb` settles
those rows exactly, with the Python engine, and joins the result back (`search_rows`, `patch`).

SQL NULL is the pack's unknown; each condition is written by the SQL back end of the condition tree (`lang.sql`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from iop_cli.batch.columns import Source, field_label, plan_sources
from iop_cli.batch.mapping import Mapping
from iop_cli.decide import policy
from iop_cli.decide.frame import partly_answerable
from iop_cli.lang import sql as S
from iop_cli.lang.expr import FLOAT_MAX
from iop_cli.lang.tree import Compare, Logic, Member, Node, Not, Ref, Sign
from iop_cli.pack.answers import MAX_NUMBER, MAX_TEXT, MULTI_SEPARATOR, NO, YES, allowed_text, disagreement
from iop_cli.pack.model import Computed, Pack, Question
from iop_cli.problems import Problem, ProblemsError

OUTPUTS = ("level", "rule", "reason", "alerts", "status", "error")
SEARCH = "iop_search"  # the flag of a row whose missing answers must be searched (`--engine duckdb` only)
NOT_A_SCORE = "is not one of the item's scores"
MARK = "\x1f"  # a character no valid cell holds: marks where a separator follows a separator
INT64_EDGE = 9.2e18  # a whole number read as a decimal beyond this does not fit in 64 bits


@dataclass
class Query:
    """The query's parts: `ctes` (name, select) in order, then the final select over the last."""

    dialect: S.Dialect
    ctes: list[tuple[str, str]]
    inputs: list[str]  # the input columns' internal names, c0 ..
    names: list[str]  # the output's column names: the input's, then OUTPUTS
    keys: list[str]  # the trimmed cells an answer is read from: what decides a row (`search_rows`)
    outputs: dict[str, str] = field(default_factory=dict)  # output column -> its internal column

    def with_clause(self) -> str:
        return "WITH\n" + ",\n".join(f"{name} AS (\n  {body}\n)" for name, body in self.ctes)

    def text(
        self,
        flag: bool = False,
        settle: str | None = None,
        neutral: Callable[[str], str] | None = None,
        reason: bool = True,
    ) -> str:
        """The whole query. `flag` adds the `iop_search` column. `settle` names a function (DuckDB, `iop score
        --engine duckdb`) that gives the outcome of a row whose missing answers must be searched, from its `keys`:
        level, rule, reason, alerts, status and error joined by U+001F; it is called for those rows only. `neutral` wraps
        the input cells and the error as CSV output needs (a formula-looking cell neutralized). Without `reason`,
        no reason column (`--columns no-reason`)."""
        q = self.dialect.ident
        ctes, last = list(self.ctes), self.ctes[-1][0]
        outputs = {n: q(self.outputs[n]) for n in OUTPUTS}
        if settle is not None:
            keys = ", ".join(q(k) for k in self.keys)
            ctes.append(
                ("iop_settled", f"SELECT *, CASE WHEN {q(SEARCH)} THEN {settle}({keys}) END AS iop_found FROM {last}")
            )
            last = "iop_settled"
            for index, n in enumerate(OUTPUTS, start=1):
                found = f"NULLIF(split_part(iop_found, chr(31), {index}), '')"
                outputs[n] = f"CASE WHEN {q(SEARCH)} THEN {found} ELSE {outputs[n]} END"
        wrap = neutral or (lambda column: column)
        columns = [f"{wrap(q(c))} AS {q(n)}" for c, n in zip(self.inputs, self.names, strict=False)]
        for n, name in zip(OUTPUTS, self.names[len(self.inputs) :], strict=True):
            if n == "reason" and not reason:
                continue
            columns.append(f"{wrap(outputs[n]) if n == 'error' else outputs[n]} AS {q(name)}")
        if flag:
            columns.append(q(SEARCH))
        body = "WITH\n" + ",\n".join(f"{name} AS (\n  {text}\n)" for name, text in ctes)
        return f"{body}\nSELECT\n  " + ",\n  ".join(columns) + f"\nFROM {last}"


def build(
    pack: Pack,
    header: Sequence[str],
    table: str,
    dialect: S.Dialect,
    mapping: Mapping | None = None,
    where: str = "the input",
    read_as: Sequence[str] | None = None,
) -> Query:
    """The query for `pack` over `table`, whose columns are `header` (in order; a map, as `iop score --map` takes
    it, names which answers which question; `read_as`: the table's own names for those columns, when they differ,
    such as c0, c1 ... for a file whose header repeats a name). Raises ProblemsError for a required question no column answers, and
    for map features the SQL writer does not take."""
    sources = plan_sources(pack, list(header), mapping, where)
    _refuse_unsupported(mapping, sources, where)
    for question in pack.asked:
        folded = [c.lower() for c in question.choice_values]
        if question.type == "multi" and len(set(folded)) < len(folded):
            raise ProblemsError(
                [
                    Problem(
                        question.id,
                        "has choices that differ only in case, which the SQL writer cannot tell apart in a selection",
                        "give the choices distinct names",
                    )
                ]
            )
    try:
        return _Builder(pack, list(header), sources, dialect).query(table, list(read_as or header))
    except S.UnwritableText:
        raise ProblemsError(
            [
                Problem(
                    where,
                    "a column name, or a word in the pack's conditions or texts, holds a NUL character or an "
                    "unpaired surrogate (a byte that is not UTF-8), which SQL cannot hold",
                    "rename the column, or remove the character from the pack",
                )
            ]
        ) from None


def sql_names(header: Sequence[str]) -> list[str]:
    """The output's column names: the input's, then OUTPUTS. Unique without regard to case (DuckDB, Spark and
    BigQuery read names so): an input column named like an output column becomes `input_NAME`, and a name met
    before, in any case, gets a number (`age_2`)."""
    outputs = {o.casefold() for o in OUTPUTS}
    taken = set(outputs)
    names = []
    for index, title in enumerate(header):
        name = title or f"column_{index + 1}"
        if name.casefold() in outputs:
            name = f"input_{name}"
        base, number = name, 2
        while name.casefold() in taken:
            name, number = f"{base}_{number}", number + 1
        taken.add(name.casefold())
        names.append(name)
    return [*names, *OUTPUTS]


def _refuse_unsupported(mapping: Mapping | None, sources: dict[str, Source], where: str) -> None:
    if mapping is None:
        return
    unsupported = [
        name
        for name, present in (
            ("value codes (values:)", mapping.values),
            ("missing codes (missing:)", mapping.missing),
            ("derived fields (derive:)", mapping.derive),
            ("checkbox columns (checkboxes:)", mapping.checkboxes),
            ("a multi-select read from several columns", [s for s in sources.values() if s.kind == "joined"]),
        )
        if present
    ]
    if unsupported:
        raise ProblemsError(
            [
                Problem(
                    mapping.path or where,
                    "the SQL writer takes a map's column names only, not " + ", ".join(unsupported),
                    "recode those columns in the warehouse first, or score the file with `iop score` without "
                    "--engine duckdb, which reads every map",
                )
            ]
        )


class _Builder:
    def __init__(self, pack: Pack, header: list[str], sources: dict[str, Source], dialect: S.Dialect):
        self.pack = pack
        self.header = header
        self.sources = sources
        self.d = dialect
        self.ctes: list[tuple[str, str]] = []
        self.current: dict[str, str] = {}  # field id -> the internal column holding its value now
        self.failing: list[str] = []  # boolean expressions: the row has a problem
        self.errors: list[str] = []  # the problems' texts (NULL where none), in order
        self.keys: list[str] = []

    # -- helpers ---------------------------------------------------------------------------------------------------

    def n(self, prefix: str, field_id: str) -> str:
        """An internal column for a field, named by the field's place in the pack, not by its id: engines that
        read names without regard to case (DuckDB, Spark, BigQuery) would take `Drinks` and `drinks` for one."""
        if not hasattr(self, "places"):
            self.places = {name: index for index, name in enumerate(self.pack.questions)}
        return f"{prefix}{self.places[field_id]}"

    def q(self, name: str) -> str:
        return self.d.ident(name)

    def col(self, name: str) -> str:
        return self.q(self.current[name])

    def lit(self, value: str) -> str:
        return self.d.text(value)

    def add(self, columns: list[tuple[str, str]]) -> None:
        """A new stage: the previous one's columns and `columns` (name, expression)."""
        if not columns:
            return
        before = self.ctes[-1][0]
        body = ", ".join(f"{expression} AS {self.q(name)}" for name, expression in columns)
        self.ctes.append((f"iop_{len(self.ctes)}", f"SELECT *, {body} FROM {before}{self.d.stage_end}"))

    def cond(self, node: Node, special: S.Special | None = None) -> str:
        return S.sql(node, self.col, self.d, special)

    def joined(self, pieces: list[tuple[str, str]], separator: str) -> str:
        """The texts whose test holds, joined by `separator`; NULL when none does."""
        if not pieces:
            return self.null("text")
        parts = " || ".join(
            f"(CASE WHEN {test} THEN {self.lit(separator + text)} ELSE '' END)" for test, text in pieces
        )
        return f"NULLIF(substr({parts}, {len(separator) + 1}), '')"

    # -- the stages ------------------------------------------------------------------------------------------------

    def query(self, table: str, read_as: list[str]) -> Query:
        inputs = [f"c{i}" for i in range(len(self.header))]
        first = ", ".join(f"{self.q(h)} AS {self.q(c)}" for h, c in zip(read_as, inputs, strict=True))
        self.ctes.append(("iop_0", f"SELECT {first} FROM {self.d.table(table)}"))
        self.cells(inputs)
        self.gates()
        self.values()
        self.missing()
        self.decision()
        outputs = sql_names(self.header)
        return Query(
            self.d,
            self.ctes,
            inputs,
            outputs,
            self.keys,
            {n: f"o_{n}" for n in OUTPUTS},
        )

    def cells(self, inputs: list[str]) -> None:
        """Stage 2: trimmed cells, then each answer's problem (NULL when it fits its question), then the typed
        answers and the problems' texts. In separate stages: each expression stays shallow (SQLite's parser has a
        small stack)."""
        used = sorted({s.index for s in self.sources.values() if s.kind == "column" and s.index is not None})
        trimmed = []
        for index in used:
            # Cast first: a warehouse column may be typed (an integer age, a boolean), and is read as its text.
            cell = self.d.cast(self.q(inputs[index]), self.d.string)
            trimmed.append((f"t{index}", f"NULLIF({self.d.trimmed(cell)}, '')"))
            if any(self.decides(f) for f, source in self.sources.items() if source.index == index):
                self.keys.append(f"t{index}")
        self.add(trimmed)
        answered = [
            (q, self.q(f"t{self.sources[q.id].index}")) for q in self.pack.asked if self.sources[q.id].kind != "absent"
        ]
        multi = [(q, cell) for q, cell in answered if q.type == "multi"]
        self.add([(self.n("u", q.id), self.tight(cell)) for q, cell in multi])
        sep = self.lit(MULTI_SEPARATOR)
        doubled = self.lit(MULTI_SEPARATOR * 2)
        self.add(
            [
                (
                    self.n("w", q.id),
                    f"({doubled} || replace({self.q(self.n('u', q.id))}, {sep}, {doubled}) || {doubled})",
                )
                for q, _ in multi
            ]
        )
        self.add([(self.n("p", q.id), self.problem(q, cell)) for q, cell in answered])
        typed: list[tuple[str, str]] = []
        for question in self.pack.asked:
            source = self.sources[question.id]
            name = self.n("v", question.id)
            self.current[question.id] = name
            if source.kind == "absent":
                typed.append((name, self.null(question.type)))
                continue
            cell, problem = self.q(f"t{source.index}"), self.q(self.n("p", question.id))
            typed.append((name, f"CASE WHEN {problem} IS NULL THEN {self.typed(question, cell)} END"))
            label = field_label(question.id, source)
            shown = f"substr({cell}, 1, 40)"
            allowed = f" (allowed: {allowed_text(question)})"
            error = self.n("e", question.id)
            typed.append(
                (
                    error,
                    f"CASE WHEN {problem} IS NOT NULL THEN {self.lit(label + ': ' + chr(39))} || {shown} || "
                    f"{self.lit(chr(39) + ' ')} || {problem} || {self.lit(allowed)} END",
                )
            )
            self.failing.append(f"({self.q(error)} IS NOT NULL)")
            self.errors.append(self.q(error))
        self.add(typed)
        blank = " AND ".join(f"{self.q(c)} IS NULL" for c in inputs) or "TRUE"
        self.row_blank = f"({blank})"

    def decides(self, field_id: str) -> bool:
        """Whether a field's answer can change a row's outcome: any but free text that no condition reads (a client
        id). Only such columns key the rows settled by a search (`Query.keys`)."""
        if "fields_read" not in self.pack.memo:
            conditions = [r.when for r in (*self.pack.rules, *self.pack.alerts)]
            conditions += [r.when for d in self.pack.profile for r in d.ratings]
            names = {n for c in conditions for n in c.names}
            for q in self.pack.questions.values():
                names |= set(q.ask_if.names if q.ask_if else ())
                names |= set(q.derive.names if q.derive else ())
                names |= set(q.compute.names) if isinstance(q, Computed) else set()
            self.pack.memo["fields_read"] = names
        return self.pack.questions[field_id].type != "text" or field_id in self.pack.memo["fields_read"]

    def null(self, kind: str) -> str:
        types = {"integer": self.d.bigint, "number": self.d.double, "yesno": "BOOLEAN"}
        return f"CAST(NULL AS {types.get(kind, self.d.string)})"

    def problem(self, question: Question, cell: str) -> str:
        """Why a trimmed cell does not fit its question, as `answers.coerce` says it (NULL: it fits, or is empty)."""
        kind = question.type
        if kind == "yesno":
            words = ", ".join(self.lit(w) for w in (*sorted(YES), *sorted(NO)))
            return f"CASE WHEN lower({cell}) NOT IN ({words}) THEN 'is not yes or no' END"
        if kind == "choice":
            exact = ", ".join(self.lit(c) for c in question.choice_values)
            folded = ", ".join(self.lit(c.lower()) for c in question.choice_values)
            return f"CASE WHEN {cell} NOT IN ({exact}) AND lower({cell}) NOT IN ({folded}) THEN 'is not one of the choices' END"
        if kind == "multi":
            tight, sep = self.q(self.n("w", question.id)), MULTI_SEPARATOR
            rest = tight
            for choice in dict.fromkeys(c.lower() for c in question.choice_values):
                rest = f"replace({rest}, {self.lit(sep + choice + sep)}, {self.lit(sep + sep)})"
            # The parts that are not empty, as Python counts them: all the parts, less the empty ones (a separator
            # right after a separator, with one before the first part and one after the last).
            one = self.q(self.n("u", question.id))
            marked = f"replace({self.lit(sep)} || {one} || {self.lit(sep)}, {self.lit(sep)}, {self.lit(sep + MARK)})"
            empty = f"((length({marked}) - length(replace({marked}, {self.lit(MARK + sep)}, ''))) / 2)"
            parts = f"(length({one}) - length(replace({one}, {self.lit(sep)}, '')) + 1 - {empty})"
            return (
                f"CASE WHEN {parts} > {len(question.choice_values) * 4} THEN 'lists too many choices' "
                f"WHEN replace({rest}, {self.lit(sep)}, '') <> '' THEN 'holds a value that is not one of the choices' END"
            )
        if kind in ("integer", "number") and question.scores:
            return self.score_problem(question, cell)
        if kind in ("integer", "number"):
            return self.number_problem(question, cell)
        return f"CASE WHEN {self.d.char_length.format(text=cell)} > {MAX_TEXT} THEN {self.lit(f'is longer than {MAX_TEXT} characters')} END"

    def typed(self, question: Question, cell: str) -> str:
        """A cell that fits its question (its problem is NULL) as the question's typed value."""
        kind = question.type
        if kind == "yesno":
            words = ", ".join(self.lit(w) for w in sorted(YES))
            return f"lower({cell}) IN ({words})"
        if kind == "choice":
            # As written, else as written in another case (the last choice of that spelling, as Python's folded
            # lookup keeps it).
            exact = [f"WHEN {cell} = {self.lit(c)} THEN {self.lit(c)}" for c in question.choice_values]
            folded = {c.lower(): c for c in question.choice_values}
            loose = [f"WHEN lower({cell}) = {self.lit(k)} THEN {self.lit(c)}" for k, c in folded.items()]
            return "CASE " + " ".join(exact + loose) + " END"
        if kind == "multi":  # each choice picked, in the pack's order, as `;a;` (`lang.sql.selection_text`)
            tight = self.q(self.n("w", question.id))
            return (
                "("
                + " || ".join(
                    f"(CASE WHEN {self.d.contains.format(hay=tight, needle=self.lit(f';{c.lower()};'))} "
                    f"THEN {self.lit(S.selection_text([c]))} ELSE '' END)"
                    for c in question.choice_values
                )
                + ")"
            )
        if kind in ("integer", "number") and question.scores:
            scored: dict[str, int] = {}
            for choice in question.choices:
                scored.setdefault(choice.value.lower(), int(choice.score or 0))
            by_word = " ".join(f"WHEN lower({cell}) = {self.lit(w)} THEN {s}" for w, s in scored.items())
            number = self.d.cast(self.parsed(cell), self.d.bigint)
            return f"CASE WHEN {S.decimal_test(cell, self.d)} THEN {number} ELSE (CASE {by_word} END) END"
        if kind == "integer":
            plain = f"NOT ({cell} LIKE '%.%' OR lower({cell}) LIKE '%e%')"
            whole = self.d.cast(cell, self.d.bigint, safe=True)
            return f"CASE WHEN {plain} THEN {whole} ELSE {self.d.cast(self.parsed(cell), self.d.bigint)} END"
        if kind == "number":
            return self.d.cast(self.parsed(cell), self.d.double)
        return cell

    def tight(self, cell: str) -> str:
        """A multi-select cell in lower case, with the blanks around its separators taken out. Doubled (the `w`
        column: `;;a;;;;b;;`), each choice picked appears as `;choice;`, and taking every choice out leaves only
        separators."""
        sep = MULTI_SEPARATOR
        low = f"lower({cell})"
        if self.d.replace_pattern is not None:
            spaces = "[" + "".join(ch for ch in S.WHITESPACE if ch not in "]\\^-") + "]*"
            return self.d.replace_pattern.format(text=low, pattern=self.lit(spaces + sep + spaces), by=self.lit(sep))
        tight = low  # SQLite: spaces and tabs around the separators, up to two of each on a side
        for _ in range(2):
            for blank in (" ", "\t"):
                tight = f"replace(replace({tight}, {self.lit(blank + sep)}, {self.lit(sep)}), {self.lit(sep + blank)}, {self.lit(sep)})"
        return tight

    def parsed(self, cell: str) -> str:
        """A checked decimal cell as a number, whatever its size: NULL or infinity where it is too large for a
        double, never an error that would stop the query."""
        if self.d.name == "postgres":
            # NUMERIC holds any 30-character decimal but a huge exponent (1e200000), which gives NULL here, and a
            # tiny one, 0; below the smallest normal double (which PostgreSQL will not cast), 0 as well.
            exponent = f"COALESCE(CAST(substring({cell} from '[eE]([+-]?[0-9]+)$') AS NUMERIC), 0)"
            value = f"(CASE WHEN {exponent} > 1000 THEN NULL WHEN {exponent} < -1000 THEN 0 ELSE CAST({cell} AS NUMERIC) END)"
            return f"(CASE WHEN abs({value}) < 1e-307 THEN 0 ELSE {value} END)"
        return self.d.cast(cell, self.d.double, safe=True)

    def finite(self, number: str) -> str:
        return f"({number} BETWEEN {-FLOAT_MAX!r} AND {FLOAT_MAX!r})"

    def number_problem(self, question: Question, cell: str) -> str:
        whole = question.type == "integer"
        kind = "a whole number" if whole else "a number"
        number = self.parsed(cell)
        bounds = []
        if question.min is not None:
            bounds.append(f"{number} >= {self.d.number(question.min)}")
        if question.max is not None:
            bounds.append(f"{number} <= {self.d.number(question.max)}")
        checks = [
            (f"{self.d.char_length.format(text=cell)} > {MAX_NUMBER}", f"is too long to be {kind}"),
            (f"NOT {S.decimal_test(cell, self.d)}", f"is not {kind}"),
            # A decimal a safe cast could not hold gives NULL (BigQuery, Snowflake), or infinity: too large.
            (f"{number} IS NULL OR NOT {self.finite(number)}", f"is too large to be {kind}"),
        ]
        if whole:
            checks.append((f"{number} <> floor({number})", "is not a whole number"))
        if bounds:
            checks.append((f"NOT ({' AND '.join(bounds)})", "is outside the allowed range"))
        if whole:
            checks.append(
                (
                    f"NOT ({number} BETWEEN {-INT64_EDGE!r} AND {INT64_EDGE!r})",
                    "is too large: whole numbers must fit in 64 bits",
                )
            )
        return "CASE " + " ".join(f"WHEN {test} THEN {self.lit(text)}" for test, text in checks) + " END"

    def score_problem(self, question: Question, cell: str) -> str:
        """An item: one of its scores, as the number or as its choice's word (`answers._score`)."""
        number = self.parsed(cell)
        words = ", ".join(self.lit(w) for w in dict.fromkeys(c.value.lower() for c in question.choices))
        scores = ", ".join(str(s) for s in question.scores)
        length = self.d.char_length.format(text=cell)
        return (
            f"CASE WHEN NOT {S.decimal_test(cell, self.d)} THEN "
            f"(CASE WHEN lower({cell}) NOT IN ({words}) THEN 'is not one of the choices' END) "
            f"WHEN {length} > {MAX_NUMBER} THEN 'is too long to be a whole number' "
            f"WHEN {number} IS NULL OR NOT {self.finite(number)} THEN 'is too large to be a whole number' "
            f"WHEN {number} <> floor({number}) THEN 'is not a whole number' "
            f"WHEN {number} NOT IN ({scores}) THEN {self.lit(NOT_A_SCORE)} END"
        )

    def gates(self) -> None:
        """A yes to a follow-up that implies its gate makes the gate yes (`frame.gate_stages`)."""
        gates: dict[str, list[str]] = {}
        for follow_up, gate in self.pack.implied:
            gates.setdefault(gate, []).append(follow_up)
        columns = []
        for gate, follow_ups in gates.items():
            said_no = f"COALESCE({self.col(gate)} = FALSE, FALSE)"
            flags = [f"({said_no} AND COALESCE({self.col(f)} = TRUE, FALSE))" for f in follow_ups]
            columns.append((self.n("g", gate), f"CASE WHEN {' OR '.join(flags)} THEN TRUE ELSE {self.col(gate)} END"))
        self.add(columns)
        for gate in gates:
            self.current[gate] = self.n("g", gate)

    def compute(self, compute) -> str:
        """A computed field's value, of its declared type (`frame._compute`)."""
        types = {"integer": self.d.bigint, "number": self.d.double, "yesno": "BOOLEAN"}
        if compute.expression is not None:
            value = self.cond(compute.expression.root)
        else:
            chain = []
            for condition, result in compute.cases:
                test = self.cond(condition.root)
                chain.append(f"WHEN ({test}) IS NULL THEN NULL WHEN {test} THEN {self.value(result)}")
            value = f"CASE {' '.join(chain)} ELSE {self.value(compute.otherwise)} END"
        return self.d.cast(value, types[compute.type]) if compute.type in types else value

    def value(self, value) -> str:
        return "NULL" if value is None else S.literal(value, self.d)

    def values(self) -> None:
        """Values that apply, derived answers and computed fields, in stages (`frame.value_stages`)."""
        depth: dict[str, int] = {}
        stages: list[list[tuple[str, str]]] = []
        renames: list[list[tuple[str, str]]] = []

        def place(question_id: str, reads: tuple[str, ...], columns: list[tuple[str, str]], final: str) -> None:
            level = 1 + max((depth.get(name, -1) for name in reads), default=-1)
            while len(stages) <= level:
                stages.append([])
                renames.append([])
            stages[level].extend(columns)
            renames[level].append((question_id, final))
            depth[question_id] = level

        # Each expression reads the columns as they stand before its stage: compiled with `current` as it is when
        # the question is reached (pack order), then the question's new column becomes current.
        for question in self.pack.questions.values():
            if isinstance(question, Computed):
                name = self.n("s", question.id)
                place(question.id, question.compute.names, [(name, self.compute(question.compute))], name)
                self.current[question.id] = name
                continue
            if question.ask_if is None and question.derive is None and question.type != "multi":
                continue
            value, reads = self.col(question.id), question.ask_if.names if question.ask_if else ()
            columns: list[tuple[str, str]] = []
            if question.type == "multi":
                value = f"COALESCE({value}, '')"
            derive = question.derive
            disagree = None
            if derive is not None:
                derived = self.compute(derive)
                disagree = f"({self.col(question.id)} IS NOT NULL AND ({derived}) IS NOT NULL AND {self.col(question.id)} <> ({derived}))"
                value, reads = f"COALESCE({value}, {derived})", (*reads, *derive.names)
            if question.ask_if is not None:
                shown = self.cond(question.ask_if.root)
                columns.append((self.n("a", question.id), f"COALESCE({shown}, TRUE)"))
                columns.append(
                    (
                        self.n("i", question.id),
                        f"COALESCE({self.col(question.id)} IS NOT NULL AND ({shown}) = FALSE, FALSE)",
                    )
                )
                if disagree is not None:
                    disagree = f"({disagree} AND COALESCE({shown}, TRUE))"
                value = f"CASE WHEN ({shown}) = FALSE THEN NULL ELSE {value} END"
            if disagree is not None:
                columns.append((self.n("d", question.id), f"COALESCE({disagree}, FALSE)"))
            name = self.n("s", question.id)
            columns.append((name, value))
            place(question.id, reads, columns, name)
            self.current[question.id] = name
        for stage in stages:
            self.add(stage)
        for question in self.pack.asked:
            if question.derive is not None:
                label = field_label(question.id, self.sources[question.id])
                text = f"{label}: {disagreement(self.pack, question.id).message}"
                self.failing.append(self.q(self.n("d", question.id)))
                flag = self.q(self.n("d", question.id))
                self.errors.append(f"CASE WHEN {flag} THEN {self.lit(text)} END")

    def applies(self, question: Question) -> str:
        return "TRUE" if question.ask_if is None else self.q(self.n("a", question.id))

    def missing(self) -> None:
        """Stage 4: each missing required answer, the range of each partly answered total, and the row's own
        problems (a blank row, a row without answers)."""
        required = [q for q in self.pack.asked if q.required]
        columns = [(self.n("m", q.id), f"({self.applies(q)} AND {self.col(q.id)} IS NULL)") for q in required]
        absent = [f for f, s in self.sources.items() if s.kind == "absent"]
        self.partly = partly_answerable(self.pack, absent)
        for total in self.partly:
            items = self.pack.sums[total]
            given = " OR ".join(f"{self.col(item)} IS NOT NULL" for item, _, _ in items)
            partial = f"({self.col(total)} IS NULL AND {self.applies(self.pack.questions[total])} AND ({given}))"
            for name, end in (("lo", 1), ("hi", 2)):
                summed = " + ".join(f"COALESCE({self.col(item[0])}, {item[end]})" for item in items)
                columns.append((self.n(name, total), f"CASE WHEN {partial} THEN {summed} END"))
        unanswered = " AND ".join(
            f"COALESCE({self.col(q.id)}, '') = ''" if q.type == "multi" else f"{self.col(q.id)} IS NULL"
            for q in self.pack.asked
        )
        row = (
            f"CASE WHEN {self.row_blank} THEN 'blank row' WHEN ({unanswered}) THEN 'no intake answers in this row' END"
        )
        columns.append(("row_problem", row))
        self.add(columns)
        self.failing.insert(0, f"({self.q('row_problem')} IS NOT NULL)")
        self.errors.insert(0, self.q("row_problem"))

    def ranged(self) -> S.Special:
        """Tests of a partly answered total, decided over the range its items fix (`frame.range_tests`)."""
        totals = set(self.partly)

        def total_of(node: Node) -> str | None:
            if isinstance(node, Sign) and not node.negative:
                node = node.operand
            return node.name if isinstance(node, Ref) and node.name in totals else None

        def over(op: str, name: str, other: str) -> str:
            lo, hi = self.q(self.n("lo", name)), self.q(self.n("hi", name))
            if op in ("==", "!="):
                equal = f"(CASE WHEN {lo} = {other} AND {hi} = {other} THEN TRUE WHEN {other} < {lo} OR {other} > {hi} THEN FALSE END)"
                return equal if op == "==" else f"(NOT {equal})"
            sql_op = S._OPS[op]
            at_lo, at_hi = f"({lo} {sql_op} {other})", f"({hi} {sql_op} {other})"
            return f"(CASE WHEN {at_lo} = {at_hi} THEN {at_lo} END)"

        def special(node: Node) -> str | None:
            match node:
                case Compare(op=op, left=left, right=right) if total_of(left) or total_of(right):
                    plain = S.sql(node, self.col, self.d)
                    flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
                    verdicts = [plain]
                    if (name := total_of(left)) is not None:
                        verdicts.append(over(op, name, S.sql(right, self.col, self.d)))
                    if (name := total_of(right)) is not None:
                        verdicts.append(over(flipped, name, S.sql(left, self.col, self.d)))
                    return f"COALESCE({', '.join(verdicts)})"
                case Member(operand=operand, values=listed, negate=negate) if (name := total_of(operand)) is not None:
                    lo, hi = self.q(self.n("lo", name)), self.q(self.n("hi", name))
                    whole = sorted(
                        {
                            int(x)
                            for x in listed
                            if isinstance(x, (int, float)) and not isinstance(x, bool) and x == int(x)
                        }
                    )
                    inside = (
                        " + ".join(f"(CASE WHEN {lo} <= {x} AND {x} <= {hi} THEN 1 ELSE 0 END)" for x in whole) or "0"
                    )
                    verdict = (
                        f"(CASE WHEN {lo} IS NULL THEN NULL WHEN ({inside}) = 0 THEN FALSE "
                        f"WHEN ({inside}) = {hi} - {lo} + 1 THEN TRUE END)"
                    )
                    return f"COALESCE({S.sql(node, self.col, self.d)}, {f'(NOT {verdict})' if negate else verdict})"
            return None

        return special

    def reason(self, index: int) -> str:
        """Rule `index`'s reason for this person, as `decide.explain` states it: the answers that decided it (the
        parts of its condition that held), each in the pack's words with the person's answer, then its `because`.
        A rule whose fields cannot be stated so keeps its `because` alone, as in every command."""
        from iop_cli.decide.explain import explainable, rule_fields

        rule = self.pack.rules[index]
        because = self.lit(rule.because)
        if not explainable(self.pack, rule):
            return because
        deciding: dict[str, str | bool] = {}
        self.deciding(rule.when.root, True, True, deciding)
        facts = " || ".join(
            f"'; ' || {self.say(name)}"
            if deciding[name] is True
            else f"(CASE WHEN {deciding[name]} THEN '; ' || {self.say(name)} ELSE '' END)"
            for name in rule_fields(rule)
            if name in deciding
        )
        if not facts:
            return because
        facts = f"({facts})"
        return (
            f"(CASE WHEN {facts} = '' THEN {because} ELSE upper(substr({facts}, 3, 1)) || substr({facts}, 4) || "
            f"'. ' || {because} END)"
        )

    def deciding(self, node: Node, want: bool, active: str | bool, found: dict[str, str | bool]) -> None:
        """Where each field decides (`explain.deciding_fields`, per row): `found[field]` is True (wherever the rule
        holds) or a SQL test. `active`: whether this node is on the deciding path (`frame.GroundsCoder._deciding`)."""
        from iop_cli.decide.explain import refs

        match node:
            case Logic(op=op, parts=parts) if (op == "and") == want:
                for part in parts:
                    self.deciding(part, want, active, found)
                return
            case Logic(parts=parts):
                earlier: str | None = None  # an earlier part already gave `want`
                for part in parts:
                    gives = f"COALESCE(({self.cond(part, self.ranged())}) = {'TRUE' if want else 'FALSE'}, FALSE)"
                    here = gives if earlier is None else f"({gives} AND NOT {earlier})"
                    self.deciding(part, want, here if active is True else f"({active} AND {here})", found)
                    earlier = gives if earlier is None else f"({earlier} OR {gives})"
                return
            case Not(operand=operand):
                self.deciding(operand, not want, active, found)
                return
        for name in refs(node):
            previous = found.get(name)
            if previous is True or active is True:
                found[name] = True
            else:
                found[name] = active if previous is None else f"({previous} OR {active})"

    def say(self, name: str) -> str:
        """One answer in words, as `explain.say` gives it: the question's `says` text, or "label: answer"; a number
        with its band; a partly answered total as the least it can be; "label: not answered"."""
        from iop_cli.decide.explain import mid_sentence, say

        question = self.pack.questions[name]
        value = self.col(name)
        unanswered = self.lit(say(question, None))
        if question.type in ("yesno", "choice"):
            values = [True, False] if question.type == "yesno" else list(question.choice_values)
            cases = " ".join(f"WHEN {value} = {S.literal(v, self.d)} THEN {self.lit(say(question, v))}" for v in values)
            return f"(CASE {cases} ELSE {unanswered} END)"
        template = question.says.get("") or f"{mid_sentence(question.label)}: {{answer}}"
        pieces = template.split("{answer}")  # every `{answer}` in it is the answer, as `explain.say` replaces it

        def with_answer(answer: str) -> str:
            return f" || ({answer}) || ".join(self.lit(piece) for piece in pieces)

        if question.type == "multi":
            picked = " || ".join(
                f"(CASE WHEN {self.d.contains.format(hay=value, needle=self.lit(S.selection_text([c.value])))} "
                f"THEN {self.lit(', ' + mid_sentence(question.choice_label(c.value)))} ELSE '' END)"
                for c in question.choices
            )
            answer = f"COALESCE(NULLIF(substr({picked}, 3), ''), 'none')"
        else:
            answer = f"CAST({value} AS {self.d.string}) || {self.band(question, value)}"
        said = with_answer(answer)
        if name in self.partly:  # a partly answered total: the range its items fix
            lowest = self.q(self.n("lo", name))
            low = f"CAST({lowest} AS {self.d.string})"
            ranged = with_answer(f"'at least ' || {low} || ' (partly answered)'")
            return f"(CASE WHEN {value} IS NOT NULL THEN {said} WHEN {lowest} IS NOT NULL THEN {ranged} ELSE {unanswered} END)"
        return f"(CASE WHEN {value} IS NOT NULL THEN {said} ELSE {unanswered} END)"

    def band(self, question: Question, value: str) -> str:
        """ " (NAME, FROM-TO)" for the band a whole number falls in (`explain.band_text`); '' when none."""
        from iop_cli.decide.explain import band_text

        if not question.bands:
            return "''"
        cases = " ".join(
            f"WHEN {value} >= {self.d.number(start)} THEN {self.lit(band_text(question, start))}"
            for start, _ in reversed(question.bands)
        )
        return f"(CASE {cases} ELSE '' END)"

    def decision(self) -> None:
        """Stages 5 and 6: verdicts, the first rule that holds, whether the level is settled, the outcome, alerts,
        status and error."""
        pack, rules = self.pack, self.pack.rules
        n = len(rules)
        special = self.ranged()
        self.add([(f"r{i}", self.cond(rule.when.root, special)) for i, rule in enumerate(rules)])
        required = [q.id for q in pack.asked if q.required]
        missing_any = " OR ".join(self.q(self.n("m", r)) for r in required) or "FALSE"

        def missing_of(names: Collection[str]) -> str | None:
            found = [self.q(self.n("m", r)) for r in required if r in names]
            return "(" + " OR ".join(found) + ")" if found else None

        # A rule that holds but reads an answer whose question may not apply, waiting on a missing answer, is open
        # (`policy.unsure`), as batch scoring's settler has it.
        unsure: list[str | None] = []
        for rule in rules:
            parts = []
            for name in policy.unsure_sources(pack, rule):
                guard = missing_of(policy.ask_if_sources(pack, name))
                ask_if = pack.questions[name].ask_if
                if guard is not None and ask_if is not None:
                    parts.append(f"(({self.cond(ask_if.root)}) IS NULL AND {guard})")
            unsure.append(" OR ".join(parts) if parts else None)
        certain = [
            f"(COALESCE({self.q(f'r{j}')}, FALSE){f' AND NOT ({u})' if u else ''})" for j, u in enumerate(unsure)
        ]
        fired = "CASE " + " ".join(f"WHEN {c} THEN {j}" for j, c in enumerate(certain)) + " END" if certain else "NULL"
        self.add([("fired", fired), ("missing_any", f"({missing_any})")])
        blocked = []
        for j, rule in enumerate(rules):
            guard = missing_of(policy.rule_sources(pack, rule))
            pieces = [f"({self.q(f'r{j}')} IS NULL AND {guard})"] if guard else []
            if unsure[j]:
                pieces.append(f"({unsure[j]})")
            if not pieces:
                continue
            later = [i for i in range(j + 1, n) if rules[i].level != rule.level]
            fired_elsewhere = f"{self.q('fired')} IS NULL" + (
                f" OR {self.q('fired')} IN ({', '.join(map(str, later))})" if later else ""
            )
            blocked.append(f"(({' OR '.join(pieces)}) AND ({fired_elsewhere}))")
        blocked_elsewhere = " OR ".join(blocked) or "FALSE"
        failed = " OR ".join(self.failing) or "FALSE"
        settled = f"(NOT {self.q('missing_any')} OR ({self.q('fired')} IS NOT NULL AND NOT ({blocked_elsewhere})))"
        self.add(
            [
                ("failed", f"({failed})"),
                ("settled", settled),
            ]
        )
        code = f"CASE WHEN {self.q('failed')} THEN NULL WHEN {self.q('settled')} THEN COALESCE({self.q('fired')}, {n}) ELSE -1 END"
        self.add([("code", code), (SEARCH, f"(NOT {self.q('failed')} AND NOT {self.q('settled')})")])
        other = pack.otherwise
        levels = [r.level for r in rules] + [other.level, other.level]
        rule_ids: list[str | None] = [r.id for r in rules] + [None, None]
        missing_list = self.joined([(self.q(self.n("m", r)), r) for r in required], ", ")
        review = (
            f"{self.lit('Required answers are missing: ')} || {missing_list} || "
            f"{self.lit('. A clinician decides until they are given.')}"
        )
        reasons = [self.reason(i) for i in range(n)] + [self.lit(other.because), review]
        codes = [*range(n + 1), -1]
        kc = self.q("code")

        def by_code(values: Sequence[str]) -> str:
            return "CASE " + " ".join(f"WHEN {kc} = {c} THEN {v}" for c, v in zip(codes, values, strict=True)) + " END"

        self.add(
            [
                ("o_level", by_code([self.lit(v) for v in levels])),
                ("o_rule", by_code([self.value(v) for v in rule_ids])),
                ("o_reason", by_code(reasons)),
            ]
        )
        ordered = policy.in_alert_order(pack.alerts, lambda a: a.severity)

        def alert_column(name: str) -> str:
            return self.q("o_level") if name == "level" else self.col(name)

        verdicts = [
            (f"COALESCE({S.sql(a.when.root, alert_column, self.d, special)}, FALSE)", a.id, a.provisional)
            for a in ordered
        ]
        self.add([(f"x{i}", v) for i, (v, _, _) in enumerate(verdicts)])
        flags = [(self.q(f"x{i}"), alert_id) for i, (_, alert_id, _) in enumerate(verdicts)]
        provisional = " OR ".join(self.q(f"x{i}") for i, (_, _, p) in enumerate(verdicts) if p) or "FALSE"
        error = " || ".join(f"COALESCE({self.lit('; ')} || {e}, '')" for e in self.errors)
        self.add(
            [
                ("o_alerts", f"CASE WHEN NOT {self.q('failed')} THEN {self.joined(flags, ';')} END"),
                (
                    "o_status",
                    f"CASE WHEN {self.q('failed')} THEN 'error' "
                    f"WHEN {self.q('o_level')} = {self.lit(other.level)} THEN 'review' "
                    f"WHEN {provisional} THEN 'provisional' ELSE 'ok' END",
                ),
                (
                    "o_error",
                    f"CASE WHEN {self.q('failed')} THEN NULLIF(substr({error}, 3), '') END" if error else "NULL",
                ),
            ]
        )
