"""The pack's decision as Polars columns: the same checked condition trees as the engine (each compiled by the
Polars back end, `lang.polars`), evaluated column-wise. `value_stages`, `missing_columns` and `decision_stages` then do
what `engine.decide` does, for every row at once: values that apply, missing required answers, the first rule that
holds, the missing-answer guard, and the alerts, as small integer codes that `Outcome` turns into texts.
`tests/test_score_parity.py` holds the two to identical results.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from threading import Lock
from typing import Any

import polars as pl

from iop_cli.decide import policy
from iop_cli.decide.space import Space, profile_space
from iop_cli.decide.values import applicable
from iop_cli.lang.polars import compile_expr, compile_node
from iop_cli.lang.py import Range
from iop_cli.lang.tree import COMPARE, Compare, Lit, Logic, Member, Node, Not, Ref, Sign
from iop_cli.pack.model import Compute, Computed, Pack, Question

# Internal column names, prefixed so they cannot meet a pack's field ids.
VALUE = "__v_{}"
APPLIES = "__applies_{}"
MISSING = "__missing_{}"
DISAGREE = "__disagree_{}"  # a derived question answered, and its derivation gives another value
IGNORED_ONE = "__ignored_{}"  # answered, though the question does not apply
MASK_BITS = 62  # the questions one Int64 `__ignored` mask can name
CONTRADICTS = "__contradicts_{}"  # a follow-up's yes counted for its gate, which was answered no
LEVEL, ALERTS, OUTCOME, IGNORED = "__level", "__alerts", "__outcome", "__ignored"
CODE = "__code"  # the outcome code before this person's grounds are added to it (`GroundsCoder`)
DIGIT = "__digit_{}"  # a field's digit in the grounds number (`GroundsCoder.digit_columns`)
MISSING_MASK = "__missing"  # a bit per required question whose answer is missing
SKIP = "__skip"  # a row with a problem, left undecided: its missing answers are not searched (`decision_columns`)
RANGE_LO, RANGE_HI = "__lo_{}", "__hi_{}"  # the range a partly answered total lies in (`values.ranges`)
SET = "__set_{}"  # the values a missing answer may take, as a bit mask over its members (a map's value set)
REACH_COLUMNS = ("level_min", "level_max", "decided_by")  # for a row with missing answers (`Outcome.reach_texts`)
LEVEL_INDEX = "__level_index"  # the level of a row's outcome, as its index among the pack's levels
COLUMNS = policy.Logic[pl.Expr](operator.and_, operator.or_, operator.invert)  # the policy's logic, per column


def value_col(name: str) -> pl.Expr:
    return pl.col(VALUE.format(name))


_TYPES = {"integer": pl.Int64, "number": pl.Float64, "yesno": pl.Boolean, "choice": pl.String}
SELECTION = pl.List(pl.String)  # a multi-select answer: the choices picked


def _compute(compute: Compute) -> pl.Expr:
    """A computed field's column, of its declared type (as `Compute.evaluate` gives it)."""
    return _computed(compute).cast(_TYPES[compute.type])


def _computed(compute: Compute) -> pl.Expr:
    if compute.expression is not None:
        return compile_expr(compute.expression, value_col)
    chain: Any = None  # pl.when(...).then(...) chains change type as they grow
    for condition, value in compute.cases:
        test = compile_expr(condition, value_col)
        # An undecidable case makes the value unknown, never a later case's value (as Compute.evaluate).
        chain = (pl.when(test.is_null()) if chain is None else chain.when(test.is_null())).then(None)
        chain = chain.when(test).then(pl.lit(value))
    return chain.otherwise(pl.lit(compute.otherwise))


def value_stages(pack: Pack, blank: Collection[str] = ()) -> list[list[pl.Expr]]:
    """Column groups that turn typed answers (`__v_ID`) into the values that apply, computed fields included, with
    `__applies_ID` for each question that has `ask_if`. A field goes in the first group after every field it reads
    (which `ask_if` may have cleared, or which is computed), so a pack needs only a few groups. `blank`: questions
    blank in every row of the batch (`always_blank`): a derivation from those alone gives nothing, and an answer
    that is never given is never ignored, so neither is computed."""
    depth: dict[str, int] = {}  # the group that last writes a field's value
    stages: list[list[pl.Expr]] = []

    def place(question_id: str, reads: tuple[str, ...], exprs: list[pl.Expr]) -> None:
        level = 1 + max((depth.get(name, -1) for name in reads), default=-1)
        while len(stages) <= level:
            stages.append([])
        stages[level].extend(exprs)
        depth[question_id] = level

    for question in pack.questions.values():
        if isinstance(question, Computed):
            place(question.id, question.compute.names, [_compute(question.compute).alias(VALUE.format(question.id))])
            continue
        if question.ask_if is None and question.derive is None and question.type != "multi":
            continue
        exprs: list[pl.Expr] = []
        value, reads = value_col(question.id), question.ask_if.names if question.ask_if else ()
        if question.type == "multi":  # unanswered is the empty selection (as values.applicable)
            value = value.fill_null(pl.lit([], dtype=SELECTION))
        derive = question.derive
        if derive is not None and all(n in blank for n in derive.names) and derive.evaluate({}) is None:
            exprs.append(pl.lit(False).alias(DISAGREE.format(question.id)))
            derive = None
        if derive is not None:  # the answer, else its derivation (as values.applicable)
            derived = _compute(derive)
            exprs.append(
                (value.is_not_null() & derived.is_not_null() & (value != derived)).alias(DISAGREE.format(question.id))
            )
            value, reads = pl.coalesce(value, derived), (*reads, *derive.names)
        if question.ask_if is not None:
            shown = compile_expr(question.ask_if, value_col)
            # Unknown counts as applying (as values.applicable): only a definite "no" removes the answer.
            exprs.append(shown.fill_null(True).alias(APPLIES.format(question.id)))
            given = value_col(question.id).is_not_null()  # the answer as typed, before this stage clears it
            ignored = pl.lit(False) if question.id in blank else (given & shown.eq(False)).fill_null(False)
            exprs.append(ignored.alias(IGNORED_ONE.format(question.id)))
            if derive is not None:
                exprs[0] = (exprs[0] & shown.fill_null(True)).alias(DISAGREE.format(question.id))
            value = pl.when(shown.eq(False)).then(None).otherwise(value)
        place(question.id, reads, [*exprs, value.alias(VALUE.format(question.id))])
    return [stage for stage in stages if stage]


def derived_questions(pack: Pack) -> list[Question]:
    """The asked questions that may also be derived: each has a `DISAGREE` column once `value_stages` ran."""
    return [q for q in pack.asked if q.derive is not None]


def applies(question: Question) -> pl.Expr:
    return pl.lit(True) if question.ask_if is None else pl.col(APPLIES.format(question.id))


def missing_columns(pack: Pack) -> list[pl.Expr]:
    """`__missing_ID` for each required question, and `__ignored`: a bit per answer given to a question that does
    not apply (`Outcome.ignored_text`)."""
    missing = [(applies(q) & value_col(q.id).is_null()).alias(MISSING.format(q.id)) for q in pack.asked if q.required]
    questions = ignorable(pack)
    if len(questions) > MASK_BITS:  # too many for one integer: the ids as text, joined where the row has them
        ids = [pl.when(pl.col(IGNORED_ONE.format(q.id))).then(pl.lit(q.id)) for q in questions]
        return [*missing, pl.concat_str(ids, separator=";", ignore_nulls=True).alias(IGNORED)]
    bits = [
        pl.when(pl.col(IGNORED_ONE.format(q.id))).then(pl.lit(1 << bit, dtype=pl.Int64)).otherwise(0)
        for bit, q in enumerate(questions)
    ]
    return [*missing, reduce(operator.add, bits, pl.lit(0, dtype=pl.Int64)).alias(IGNORED)]


def partly_answerable(pack: Pack, absent: Collection[str] = ()) -> list[str]:
    """The instrument totals that a batch can answer partly: those with an item some column answers (`absent`:
    the questions no column answers). Only these get range columns and range tests."""
    return [total for total, items in pack.sums.items() if any(item not in absent for item, _, _ in items)]


def range_columns(pack: Pack, totals: Collection[str]) -> list[pl.Expr]:
    """`__lo_ID` and `__hi_ID` for each instrument total among `totals`: the range its answered items fix where
    only some are answered (as `values.ranges`), null otherwise."""
    columns = []
    for total, items in pack.sums.items():
        if total not in totals:
            continue
        given = reduce(operator.or_, [value_col(item).is_not_null() for item, _, _ in items])
        partial = value_col(total).is_null() & applies(pack.questions[total]) & given
        for name, end in ((RANGE_LO, 1), (RANGE_HI, 2)):
            summed = reduce(operator.add, [value_col(item[0]).fill_null(item[end]) for item in items])
            columns.append(pl.when(partial).then(summed).alias(name.format(total)))
    return columns


def range_tests(pack: Pack, totals: Collection[str]) -> Callable[[Node], pl.Expr | None]:
    """A `special` for `lang.polars.compile_node`: tests of an instrument total that decide over the range a partly
    answered one lies in, as `lang.py` does (`Range`): an order test where both ends of the range agree, `==`
    where the range is one value or misses it, `in` where the range lies inside or outside the values."""
    sums = set(totals)

    def total_of(node: Node) -> str | None:
        if isinstance(node, Sign) and not node.negative:
            node = node.operand
        return node.name if isinstance(node, Ref) and node.name in sums else None

    def over(op: str, name: str, other: pl.Expr) -> pl.Expr:
        lo, hi = pl.col(RANGE_LO.format(name)), pl.col(RANGE_HI.format(name))
        if op in ("==", "!="):
            equal = pl.when((lo == other) & (hi == other)).then(True).when((other < lo) | (other > hi)).then(False)
            return equal.otherwise(None) if op == "==" else ~equal.otherwise(None)
        at_lo, at_hi = COMPARE[op](lo, other), COMPARE[op](hi, other)
        return pl.when(at_lo == at_hi).then(at_lo).otherwise(None)

    def special(node: Node) -> pl.Expr | None:
        match node:
            case Compare(op=op, left=left, right=right) if total_of(left) or total_of(right):
                plain = compile_node(node, value_col)
                flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
                verdicts = [plain]
                if (name := total_of(left)) is not None:
                    verdicts.append(over(op, name, compile_node(right, value_col)))
                if (name := total_of(right)) is not None:
                    verdicts.append(over(flipped, name, compile_node(left, value_col)))
                return pl.coalesce(verdicts)
            case Member(operand=operand, values=listed, negate=negate) if (name := total_of(operand)) is not None:
                lo, hi = pl.col(RANGE_LO.format(name)), pl.col(RANGE_HI.format(name))
                whole = {
                    int(x) for x in listed if isinstance(x, (int, float)) and not isinstance(x, bool) and x == int(x)
                }
                inside = reduce(
                    operator.add, [((lo <= x) & (x <= hi)).cast(pl.Int64) for x in sorted(whole)], pl.lit(0)
                )
                verdict = (
                    pl.when(lo.is_null())
                    .then(None)
                    .when(inside == 0)
                    .then(False)
                    .when(inside == hi - lo + 1)
                    .then(True)
                ).otherwise(None)
                return pl.coalesce(compile_node(node, value_col), ~verdict if negate else verdict)
        return None

    return special


def ignorable(pack: Pack) -> list[Question]:
    """The asked questions whose answer may be ignored (they have an ask_if), in pack order: the bits of `__ignored`."""
    return [q for q in pack.asked if q.ask_if is not None]


WORD = 62  # rules per Int64 bit mask of blocked rules
MEMO_LIMIT = 100_000  # cases and searches remembered per pack (a file repeats them)


def decision_stages(
    pack: Pack, partly: Collection[str], value_sets: Mapping[str, Sequence[Any]] | None = None, skip: bool = False
) -> list[list[pl.Expr]]:
    """What engine.decide does, as column stages: each rule's verdict, the first that holds, the rules before it
    that a missing answer leaves open, whether that settles the level (`policy.settled`) or the missing answers
    must be searched (`MissingSettler`, once per distinct case), then the alerts (which may read the level).
    Verdicts are materialized once so the later stages only read small columns."""
    required = [q.id for q in pack.asked if q.required]
    rules = pack.rules
    n = len(rules)
    verdict = [pl.col(f"__r{i}") for i in range(n)]
    ranged = range_tests(pack, partly)
    stage_verdicts = [compile_expr(rule.when, value_col, ranged).alias(f"__r{i}") for i, rule in enumerate(rules)]

    missing_mask = reduce(
        operator.add,
        [pl.col(MISSING.format(s)).cast(pl.Int64) * (1 << bit) for bit, s in enumerate(required)],
        pl.lit(0, dtype=pl.Int64),
    )
    stage_fired = [first_true(verdict).alias("__fired"), missing_mask.alias(MISSING_MASK)]
    at = pl.col("__fired").fill_null(n).cast(pl.Int64)  # n: `otherwise`
    # A row with a required answer missing goes to the settler, which settles most at once (`policy.settled`) and
    # searches the rest; a complete row's level is the rule that fired, with no more work.
    settler = MissingSettler(pack, partly, value_sets or {}, skip)
    searched = settler.bundle().map_batches(settler, return_dtype=pl.Int64)
    # Small integer codes instead of strings: the caller turns each distinct code into its text once (`Outcome`).
    # __outcome: the index of the rule that fired, n for `otherwise`, or a code `MissingSettler` gave (see there).
    outcome = pl.when(pl.col(MISSING_MASK) == 0).then(at).otherwise(searched)
    grounds = GroundsCoder(pack)
    # Each field's digit for the grounds, once per row, beside the code: every rule's grounds number reads them.
    stage_outcome = [outcome.alias(CODE), *grounds.digit_columns(partly)]
    alerts = policy.in_alert_order(pack.alerts, lambda a: a.severity)

    # The level of a row, for alerts that read it, follows from its outcome code.
    level_ids = list(pack.levels)
    rule_levels = [rule.level for rule in rules] + [pack.otherwise.level]
    code = pl.col(CODE)
    level_index = (
        pl.when(code >= 0)
        .then(code.clip(0, n).replace_strict(list(range(n + 1)), [level_ids.index(x) for x in rule_levels]))
        .otherwise((-1 - code) % len(level_ids))
    )
    reads_level = any("level" in a.when.names for a in pack.alerts)
    reads_level_column = []

    def alert_column(name: str) -> pl.Expr:
        if name == "level":
            reads_level_column.append(name)
            return pl.col(LEVEL)
        return value_col(name)

    def level_test(node: Node) -> pl.Expr | None:
        """`level == 'x'`, `!=`, `in` and `not in` as a test of the outcome code, with no level column; tests of a
        partly answered total (`range_tests`)."""
        match node:
            case (
                Compare(op="==" | "!=" as op, left=Ref(name="level"), right=Lit(value=value))
                | Compare(op="==" | "!=" as op, left=Lit(value=value), right=Ref(name="level"))
            ):
                wanted, negate = [value], op == "!="
            case Member(operand=Ref(name="level"), values=values, negate=negate):
                wanted = list(values)
            case _:
                return ranged(node)
        inside = pl.col(LEVEL_INDEX).is_in([level_ids.index(x) for x in wanted if x in level_ids])
        return ~inside if negate else inside

    bits_ = [
        pl.when(compile_expr(a.when, alert_column, level_test)).then(pl.lit(1 << bit, dtype=pl.Int64)).otherwise(0)
        for bit, a in enumerate(alerts)
    ]
    # Any other use of the level reads it as a column: an Enum, so comparisons with level ids compare small codes.
    level_of = pl.col(LEVEL_INDEX).replace_strict(
        list(range(len(level_ids))), level_ids, return_dtype=pl.Enum(level_ids)
    )
    stage_level = [level_of.alias(LEVEL)] if reads_level_column else []
    stage_index = [level_index.alias(LEVEL_INDEX)] if reads_level else []
    stage_alerts = [reduce(operator.add, bits_, pl.lit(0, dtype=pl.Int64)).alias(ALERTS)]
    # The outcome code with this person's grounds (`GroundsCoder`), once alerts no longer need the plain one.
    stage_alerts.append(grounds.code(code, partly).alias(OUTCOME))
    stages = (stage_verdicts, stage_fired, stage_outcome, stage_index, stage_level, stage_alerts)
    return [stage for stage in stages if stage]


class GroundsCoder:
    """This person's reason in batch (`decide.explain`): the grounds of a rule depend only on the values of the
    fields it reads, so each row placed by an explainable rule that holds gets a number for the combination of
    those values (a digit per field: no answer, each answer, each range of a partly answered total), and the
    outcome code becomes `rule + (rules + 1) * (1 + number)`; `reason` states each distinct one once."""

    def __init__(self, pack: Pack):
        from iop_cli.decide.explain import digit_size, explainable, rule_fields

        self.pack = pack
        self.fields = {i: rule_fields(r) for i, r in enumerate(pack.rules) if explainable(pack, r)}
        self.sizes = {name: digit_size(pack, pack.questions[name]) or 1 for f in self.fields.values() for name in f}
        self.texts: dict[tuple[int, int], str] = {}
        most = max((math.prod(self.sizes[n] for n in f) for f in self.fields.values()), default=0)
        self.code_bits = ((len(pack.rules) + 1) * (most + 1)).bit_length()  # the largest code's bits

    def code(self, rule_code: pl.Expr, partly: Collection[str]) -> pl.Expr:
        """The outcome code with the grounds' number, from the rule's code (`__code`), its verdict (`__rI`) and the
        fields' digits (`digit_columns`, a stage before). Only the fields that decided are numbered (the others count as unanswered): a file has far fewer distinct
        grounds than combinations of a rule's fields, and each is stated once. The reason is the same, since the
        part of the condition that decided still holds first with the other fields unknown."""
        chain: Any = None
        tests = range_tests(self.pack, partly)
        for index, fields in self.fields.items():
            holds = (rule_code == index) & pl.col(f"__r{index}").fill_null(False)
            deciding: dict[str, pl.Expr] = {}
            self._deciding(self.pack.rules[index].when.root, True, True, tests, deciding)
            key, stride = pl.lit(1, dtype=pl.Int64), 1
            for name in fields:
                if name in deciding:
                    digit = pl.col(DIGIT.format(name))
                    key = (
                        key
                        + (digit if deciding[name] is True else pl.when(deciding[name]).then(digit).otherwise(0))
                        * stride
                    )
                stride *= self.sizes[name]
            chain = (pl.when(holds) if chain is None else chain.when(holds)).then(key)
        if chain is None:
            return rule_code
        return rule_code + (len(self.pack.rules) + 1) * chain.otherwise(0)

    def _deciding(self, node: Node, want: bool, active: Any, tests, found: dict[str, Any]) -> None:
        """Where each field decides (`explain.deciding_fields`, per row): `found[field]` is True (always, where
        the rule holds) or a boolean column. `active`: whether this node is on the deciding path."""
        from iop_cli.decide.explain import refs

        match node:
            case Logic(op=op, parts=parts) if (op == "and") == want:
                for part in parts:
                    self._deciding(part, want, active, tests, found)
                return
            case Logic(parts=parts):
                earlier: Any = None  # an earlier part already gave `want`
                for part in parts:
                    verdict = compile_node(part, value_col, tests)
                    gives = verdict.eq(want).fill_null(False)
                    here = gives if earlier is None else gives & ~earlier
                    self._deciding(part, want, here if active is True else active & here, tests, found)
                    earlier = gives if earlier is None else earlier | gives
                return
            case Not(operand=operand):
                self._deciding(operand, not want, active, tests, found)
                return
        for name in refs(node):
            previous = found.get(name)
            if previous is True or active is True:
                found[name] = True
            else:
                found[name] = active if previous is None else previous | active

    def digit_columns(self, partly: Collection[str]) -> list[pl.Expr]:
        """`__digit_ID` for each field some rule's grounds number reads (`code` reads these columns)."""
        names = sorted({name for fields in self.fields.values() for name in fields})
        return [self._digit(name, partly).alias(DIGIT.format(name)) for name in names]

    def _digit(self, name: str, partly: Collection[str]) -> pl.Expr:
        question, value = self.pack.questions[name], value_col(name)
        if question.type == "yesno":
            return value.cast(pl.Int64).add(1).fill_null(0)
        if question.type == "choice":
            return choice_code(value, question.choice_values)
        if question.type == "multi":
            bits = [
                value.list.contains(c).fill_null(False).cast(pl.Int64) * (1 << i)
                for i, c in enumerate(question.choice_values)
            ]
            return reduce(operator.add, bits, pl.lit(0, dtype=pl.Int64))
        low, span = int(question.min or 0), int(question.max or 0) - int(question.min or 0) + 1
        digit = (value - low + 1).fill_null(0)
        if name in partly:
            lo, hi = pl.col(RANGE_LO.format(name)), pl.col(RANGE_HI.format(name))
            digit = pl.when(lo.is_not_null()).then(1 + span + (lo - low) * span + (hi - low)).otherwise(digit)
        return digit

    def reason(self, index: int, variant: int) -> str:
        """The reason of rule `index` for the grounds number `variant` (0: the rule's `because` alone)."""
        from iop_cli.decide.explain import grounds
        from iop_cli.decide.explain import reason as explained

        rule = self.pack.rules[index]
        if variant == 0:
            return rule.because
        if (index, variant) not in self.texts:
            values: dict[str, Any] = {}
            key = variant - 1
            for name in self.fields[index]:
                key, digit = divmod(key, self.sizes[name])
                values[name] = self._answer(name, digit)
            self.texts[index, variant] = explained(rule.because, grounds(self.pack, rule, values))
        return self.texts[index, variant]

    def _answer(self, name: str, digit: int) -> Any:
        question = self.pack.questions[name]
        if question.type == "multi":
            return tuple(c for i, c in enumerate(question.choice_values) if digit >> i & 1)
        if digit == 0:
            return None
        if question.type == "yesno":
            return digit == 2
        if question.type == "choice":
            return question.choice_values[digit - 1]
        low, span = int(question.min or 0), int(question.max or 0) - int(question.min or 0) + 1
        if digit <= span:
            return low + digit - 1
        lo, hi = divmod(digit - 1 - span, span)
        return Range(low + lo, low + hi)


def choice_code(value: pl.Expr, choices: Sequence[str]) -> pl.Expr:
    """A choice as a small integer: 1 + its index among `choices`, 0 for no answer. Tests one choice after another,
    which is faster than a lookup (`replace_strict`) for the few choices of a question (measured: about 2.5x)."""
    chain: Any = None
    for index, choice in enumerate(choices):
        chain = (pl.when(value == choice) if chain is None else chain.when(value == choice)).then(
            pl.lit(index + 1, dtype=pl.Int64)
        )
    return pl.lit(0, dtype=pl.Int64) if chain is None else chain.otherwise(pl.lit(0, dtype=pl.Int64))


FIRST_TRUE_RUN = 10  # flags per run in `first_true`


def first_true(flags: list[pl.Expr]) -> pl.Expr:
    """The index of the first true flag, null when none is (a pack may have no level rules). Many flags are taken in
    runs, each searched only where one of its flags holds: one long when-then chain costs Polars about 2.5x as much
    (71 flags over 40k rows: 14 ms against 5.5)."""
    if not flags:
        return pl.lit(None, dtype=pl.Int32)
    if len(flags) > FIRST_TRUE_RUN:
        runs: Any = None
        for start in range(0, len(flags), FIRST_TRUE_RUN):
            run = flags[start : start + FIRST_TRUE_RUN]
            holds = pl.any_horizontal(run)
            runs = (pl.when(holds) if runs is None else runs.when(holds)).then(first_true(run) + start)
        return runs.otherwise(None)
    chain: Any = pl.when(flags[0]).then(pl.lit(0))
    for index, flag in enumerate(flags[1:], start=1):
        chain = chain.when(flag).then(pl.lit(index))
    return chain.otherwise(None)


class MissingSettler:
    """The rows whose level missing answers leave open, settled exactly (`decide.missing.over_missing`, as the
    engine does). It reads a bundle of columns that already exist (`bundle`), takes the rows not settled, and gives
    each its case: the rule that fired, its missing answers, the rules before that one left open by a missing answer
    (blocked) or by an optional one (undecided), and the answers those rules read. Each distinct case in a batch is
    searched once, and remembered per pack. A case that stands becomes the code of its rule (or `otherwise`); any
    other becomes a negative code, -1 - (entry * L + level) with L the number of levels, whose entry (`entries`)
    holds its texts: the level can be read from the code alone, in Polars, for the alerts that test it."""

    def __init__(
        self,
        pack: Pack,
        partly: Collection[str] = (),
        value_sets: Mapping[str, Sequence[Any]] | None = None,
        skip: bool = False,
    ):
        """`partly`: the instrument totals the batch can answer partly (`partly_answerable`). `value_sets`: the
        fields with a `__set_ID` column (a map's value sets), each with the members its bits index. `skip`: the
        frame has a `__skip` column, true for the rows left undecided, which are not searched."""
        from iop_cli.decide.missing import key_fields, level_space

        self.pack = pack
        self.skip = skip
        self.rules = pack.rules
        self.words = [range(start, min(start + WORD, len(pack.rules))) for start in range(0, len(pack.rules), WORD)]
        self.fields = key_fields(pack, range(len(pack.rules)))
        self.readers: dict[str, list[int]] = {}  # field -> the rules that read it
        for i in range(len(pack.rules)):
            for q in key_fields(pack, [i]):
                self.readers.setdefault(q.id, []).append(i)
        space = level_space(pack)
        # Each answer a case holds, as the class of answers that decide alike (`answer_code`): far fewer cases.
        self.classes = {q.id: answer_code(q, space, pl.col(q.id)) for q in self.fields}
        self.ranged = [q.id for q in self.fields if q.id in partly]  # totals that may be partly answered
        sets = value_sets or {}
        self.value_sets = {q.id: list(sets[q.id]) for q in self.fields if q.id in sets}
        self.required = [q.id for q in pack.asked if q.required]
        # Per rule: the bits of the missing mask for the required questions it rests on (`policy.rule_sources`).
        self.guards = [
            sum(1 << bit for bit, name in enumerate(self.required) if name in policy.rule_sources(pack, rule))
            for rule in pack.rules
        ]
        # ... and those its search answers (what it reads through ask_if and derivations too).
        self.searched = [
            sum(1 << bit for bit, name in enumerate(self.required) if name in {q.id for q in key_fields(pack, [i])})
            for i in range(len(pack.rules))
        ]
        # The questions rules rest on whose applicability waits on other answers, and the required ones it waits on.
        self.unsure = [policy.unsure_sources(pack, rule) for rule in pack.rules]
        self.ask_if_guards = {
            name: sum(1 << bit for bit, r in enumerate(self.required) if r in policy.ask_if_sources(pack, name))
            for found in self.unsure
            for name in found
        }
        # The optional questions the rules rest on: where one is not given, the rules that wait on it are undecided.
        sources = [policy.rule_sources(pack, rule) for rule in pack.rules]
        self.optional = sorted({name for found in sources for name in found} - set(self.required))
        self.optional_sources = [found - set(self.required) for found in sources]
        memo = pack.memo.setdefault(
            "missing_outcomes", {"entries": [], "codes": {}, "searches": {}, "cases": {}, "lock": Lock()}
        )
        self.plan = self.case_plan()  # made once: each batch only runs it
        self.entries: list[Entry] = memo["entries"]
        self.codes: dict[tuple, int] = memo["codes"]
        self.searches: dict[tuple, Any] = memo["searches"]  # a search's key -> its `Reach`
        self.cases: dict[tuple, int] = memo["cases"]  # a whole case -> its code
        self.lock: Lock = memo["lock"]

    def bundle(self) -> pl.Expr:
        """The columns a case is made of, as they are: no work for a complete row."""
        return pl.struct(
            pl.col("__fired").alias("fired"),
            pl.col(MISSING_MASK).alias("missing"),
            *([pl.col(SKIP).alias("skip")] if self.skip else []),
            *(pl.col(f"__r{i}").alias(f"r{i}") for i in range(len(self.rules))),
            *(value_col(q.id).alias(q.id) for q in self.fields),
            *(pl.col(end.format(name)).alias(end.format(name)) for name in self.ranged for end in (RANGE_LO, RANGE_HI)),
            *(pl.col(SET.format(name)).alias(SET.format(name)) for name in self.value_sets),
            *(applies(self.pack.questions[name]).alias(f"applies:{name}") for name in self.optional),
            *(value_col(name).alias(f"optional:{name}") for name in self.optional),
            *(
                compile_expr(ask_if, value_col).is_null().alias(f"unsure:{name}")
                for name in self.ask_if_guards
                if (ask_if := self.pack.questions[name].ask_if) is not None
            ),
        )

    def cases_of(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Each row's case (`case_plan`, built once and run on every batch)."""
        marked, counted, picked, spread = self.plan
        plan = rows.lazy().with_columns(marked).with_columns(counted).select(picked).with_columns(spread)
        # Few rows, a large plan: simplifying its expressions costs more than it saves (about a quarter, measured).
        return plan.collect(engine="in-memory", optimizations=pl.QueryOptFlags(simplify_expression=False))

    def case_plan(self) -> tuple[list[pl.Expr], list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        """The four steps that give each row its case: `fired`, `missing`, `settled` (`policy.settled`: no rule
        before the one that fired is left open by a missing answer and leads elsewhere), `open{w}` and `undecided{w}`
        (bit masks of the rules before the one that fired that a missing answer, or an optional one not given, leaves
        open), `relevant` (the missing answers the open rules rest on), `unanswered` (a bit per optional answer some
        rule rests on that is not given and applies), and each answer an open rule reads (null where none does).
        Each word's masks of unknown and of blocked rules are columns of their own, made once: every test of one
        rule's bit reads the column rather than summing the mask again (that took more than half of the plan's
        time)."""
        rules = self.rules
        n = len(rules)
        # A rule that holds but reads an answer whose question may not apply, waiting on a missing answer, is open
        # (`policy.unsure`): the rule that fired is the first that holds and is not.
        unsure: list[pl.Expr | None] = []
        for found in self.unsure:
            parts = [
                pl.col(f"unsure:{name}") & ((pl.col("missing") & self.ask_if_guards[name]) != 0)
                for name in found
                if self.ask_if_guards[name]
            ]
            unsure.append(reduce(operator.or_, parts) if parts else None)
        certain = [
            pl.col(f"r{j}").fill_null(False) & (~u if u is not None else pl.lit(True)) for j, u in enumerate(unsure)
        ]
        marked = [
            first_true(certain).alias("fired"),
            *(u.alias(f"unsure{j}") for j, u in enumerate(unsure) if u is not None),
        ]
        at = pl.col("fired").fill_null(n)
        columns: list[pl.Expr] = [pl.col("fired"), pl.col("missing")]
        elsewhere, relevant, counted = [], [], []
        for w, word in enumerate(self.words):

            def per_fired(masks: list[int]) -> pl.Expr:
                return at.replace_strict(list(range(n + 1)), masks, return_dtype=pl.Int64)

            before = per_fired([sum(1 << (j - word.start) for j in word if j < i) for i in range(n + 1)])
            other = per_fired(
                [
                    sum(1 << (j - word.start) for j in word if j < i and (i == n or rules[j].level != rules[i].level))
                    for i in range(n + 1)
                ]
            )
            unknown = [pl.col(f"r{j}").is_null().cast(pl.Int64) * (1 << (j - word.start)) for j in word]
            blocked = [
                (
                    (pl.col(f"r{j}").is_null() & ((pl.col("missing") & self.guards[j]) != 0))
                    | (pl.col(f"unsure{j}") if unsure[j] is not None else pl.lit(False))
                ).cast(pl.Int64)
                * (1 << (j - word.start))
                for j in word
                if self.guards[j] or unsure[j] is not None
            ]
            counted.append(reduce(operator.add, unknown, pl.lit(0, dtype=pl.Int64)).alias(f"unknown{w}"))
            counted.append(reduce(operator.add, blocked, pl.lit(0, dtype=pl.Int64)).alias(f"blocked{w}"))
            unknown_bits, blocked_bits = pl.col(f"unknown{w}"), pl.col(f"blocked{w}")
            columns.append((blocked_bits & before).alias(f"open{w}"))
            columns.append((unknown_bits & ~blocked_bits & before).alias(f"undecided{w}"))
            elsewhere.append((blocked_bits & other) != 0)
            relevant += [
                pl.when((pl.col(f"open{w}") & (1 << (j - word.start))) != 0).then(self.searched[j]).otherwise(0)
                for j in word
                if self.searched[j]
            ]
        blocked_elsewhere = reduce(operator.or_, elsewhere, pl.lit(False))
        missing_any = pl.col("missing") != 0
        settled = policy.settled(COLUMNS, missing_any, pl.col("fired").is_null(), blocked_elsewhere)
        unanswered = reduce(
            operator.add,
            [
                (pl.col(f"optional:{name}").is_null() & pl.col(f"applies:{name}")).cast(pl.Int64) * (1 << bit)
                for bit, name in enumerate(self.optional)
            ],
            pl.lit(0, dtype=pl.Int64),
        )
        picked = [
            *columns,
            settled.alias("settled"),
            pl.lit(0, dtype=pl.Int64).alias("relevant"),  # in its place here, read from `open{w}` in the last step
            unanswered.alias("unanswered"),
            *(pl.col(q.id) for q in self.fields),
            *(pl.col(end.format(name)) for name in self.ranged for end in (RANGE_LO, RANGE_HI)),
            *(pl.col(SET.format(name)) for name in self.value_sets),
        ]
        spread = [(pl.col("missing") & reduce(operator.or_, relevant, pl.lit(0, dtype=pl.Int64))).alias("relevant")]
        for question in self.fields:
            reads = []
            for w, word in enumerate(self.words):
                bits = sum(1 << (i - word.start) for i in self.readers.get(question.id, []) if i in word)
                if bits:
                    reads.append((pl.col(f"open{w}") & bits) != 0)
            needed = reduce(operator.or_, reads) if reads else pl.lit(False)
            classed = self.classes[question.id]
            answer = pl.col(question.id) if classed is None else classed.expr
            spread.append(pl.when(needed & ~pl.col("settled")).then(answer).alias(question.id))
            if question.id in self.ranged:  # a partly answered total: the range its items fix (rare: kept as is)
                spread += [
                    pl.when(needed & ~pl.col("settled"))
                    .then(pl.col(end.format(question.id)))
                    .alias(end.format(question.id))
                    for end in (RANGE_LO, RANGE_HI)
                ]
            if question.id in self.value_sets:  # a value set: the members the search may fill it with
                column = SET.format(question.id)
                spread.append(pl.when(needed & ~pl.col("settled")).then(pl.col(column)).alias(column))
        return marked, counted, picked, spread

    def __call__(self, bundle: pl.Series) -> pl.Series:
        frame = bundle.struct.unnest()
        out = pl.repeat(None, len(bundle), dtype=pl.Int64, eager=True).alias(bundle.name)
        pending = frame["missing"] != 0
        if self.skip:
            pending = pending & ~frame["skip"]
            frame = frame.drop("skip")
        if not pending.any():
            return out
        rows = self.cases_of(frame.filter(pending))
        # Settled at once: the rule that fired (or `otherwise`).
        found = rows.select(pl.col("fired").fill_null(len(self.rules)).cast(pl.Int64)).to_series()
        searched = rows.with_row_index("__i").filter(~pl.col("settled")).drop("settled")
        if searched.height:
            columns = [c for c in searched.columns if c != "__i"]
            groups = searched.group_by(columns, maintain_order=True).agg("__i")
            codes = [self.code(case) for case in groups.drop("__i").iter_rows(named=True)]
            sizes = groups.select(pl.col("__i").list.len()).to_series()
            each = pl.Series(codes, dtype=pl.Int64).gather(
                pl.int_range(len(codes), eager=True).repeat_by(sizes).explode()
            )
            found = found.scatter(groups["__i"].explode(), each)
        return out.scatter(pending.arg_true(), found)

    def code(self, case: dict[str, Any]) -> int:
        """The outcome code of a case: its search (`over_missing`) remembered by what decides it (the rule that
        fired, the open rules, the missing answers they rest on and the answers they read), its texts by the rest."""
        from iop_cli.decide.missing import not_ruled_out, outcome_texts, over_missing

        # The bits of a value set index this map's members: a memo shared by other maps must not read them alike.
        whole = (tuple(self.ranged), tuple((n, tuple(m)) for n, m in self.value_sets.items()), *case.values())
        if whole in self.cases:
            return self.cases[whole]

        def indices(prefix: str) -> list[int]:
            return [
                i
                for w, word in enumerate(self.words)
                for i in word
                if (case[f"{prefix}{w}"] or 0) >> (i - word.start) & 1
            ]

        fired = case["fired"]
        opened = indices("open")
        values = {q.id: self._answer(q.id, case[q.id]) for q in self.fields}
        for name in self.ranged:
            if case[RANGE_LO.format(name)] is not None:
                values[name] = Range(case[RANGE_LO.format(name)], case[RANGE_HI.format(name)])
        sets = {
            name: tuple(v for bit, v in enumerate(members) if case[SET.format(name)] >> bit & 1)
            for name, members in self.value_sets.items()
            if case[SET.format(name)] is not None
        }
        key = (fired, tuple(opened), case["relevant"], tuple(values.items()), tuple(sets.items()))
        reach = self.searches.get(key)
        if reach is None:
            relevant = {name for bit, name in enumerate(self.required) if case["relevant"] >> bit & 1}
            reach = over_missing(self.pack, fired, opened, values, relevant, sets)
            with self.lock:
                if len(self.searches) >= MEMO_LIMIT:
                    self.searches.clear()
                self.searches[key] = reach
        n = len(self.rules)
        if reach.stands and reach.rule is not None:
            found = next(i for i, r in enumerate(self.rules) if r.id == reach.rule)
        elif reach.stands and reach.levels[0] == self.pack.otherwise.level:
            found = n
        else:
            missing = tuple(name for bit, name in enumerate(self.required) if case["missing"] >> bit & 1)
            if not reach.stands:
                unanswered = {name for bit, name in enumerate(self.optional) if case["unanswered"] >> bit & 1}
                waiting = {i: self.optional_sources[i] & unanswered for i in indices("undecided")}
                reach = replace(reach, not_ruled_out=not_ruled_out(self.pack, waiting, reach.levels))
            found = self._entry(*outcome_texts(self.pack, missing, reach))
        with self.lock:
            if len(self.cases) >= MEMO_LIMIT:
                self.cases.clear()
            self.cases[whole] = found
        return found

    def _answer(self, name: str, held: Any) -> Any:
        """The answer a case holds for a field: a representative of its class, or the answer itself."""
        classed = self.classes[name]
        if classed is None or held is None:
            return _hashable(held)
        return classed.answer(held)

    def _entry(
        self, level: str, rule: str | None, reason: str, missing: tuple, possible: tuple, deciding: tuple
    ) -> int:
        entry = (level, rule, reason, missing, possible, deciding)
        with self.lock:
            if entry not in self.codes:
                self.entries.append(entry)
                index = len(self.entries) - 1
                self.codes[entry] = -1 - (index * len(self.pack.levels) + list(self.pack.levels).index(level))
            return self.codes[entry]


Entry = tuple[str, str | None, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""A case the search settled: level, rule, reason, missing answers, levels still possible, answers that decide."""


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass
class Outcome:
    """Turns the integer codes of `decision_stages` into the texts of the output, once per distinct code."""

    pack: Pack

    def __post_init__(self) -> None:
        self.grounds = GroundsCoder(self.pack)
        ordered = policy.in_alert_order(self.pack.alerts, lambda a: a.severity)
        self.alerts = [a.id for a in ordered]
        self.provisional_mask = sum(1 << bit for bit, a in enumerate(ordered) if a.provisional)
        self.required = [q.id for q in self.pack.asked if q.required]

    def _entry(self, code: int) -> Entry:
        entries = self.pack.memo["missing_outcomes"]["entries"]
        return entries[(-1 - code) // len(self.pack.levels)]

    def texts(self, code: int) -> tuple[str, str | None, str]:
        """(level, rule, reason) for an __outcome code."""
        rules = self.pack.rules
        if code < 0:
            level, rule_id, reason, *_ = self._entry(code)
            return level, rule_id, reason
        index, variant = divmod(code, len(rules) + 1)[::-1]
        if index == len(rules):
            return self.pack.otherwise.level, None, self.pack.otherwise.because
        rule = rules[index]
        return rule.level, rule.id, self.grounds.reason(index, variant)

    def missing(self, code: int) -> list[str]:
        """The missing required answers of a negative __outcome code (a case the search settled)."""
        return list(self._entry(code)[3])

    def missing_text(self, mask: int) -> str | None:
        """The ids of the missing required answers in a `__missing` mask, joined by `;` (None for none)."""
        return ";".join(name for bit, name in enumerate(self.required) if mask >> bit & 1) or None

    def reach_texts(self, code: int) -> tuple[str, str, str | None]:
        """For a row with missing answers: the least and the most intensive level that some filling of them leads
        to, and the missing answers that would decide (ids joined by `;`, None where the level stands)."""
        if code >= 0:
            level = self.texts(code)[0]
            return level, level, None
        _, _, _, _, possible, deciding = self._entry(code)
        return possible[-1], possible[0], ";".join(deciding) or None

    def provisional(self, mask: int) -> bool:
        """Whether an alert mask holds an alert that makes the decision provisional."""
        return bool(mask & self.provisional_mask)

    def status(self, code: int, mask: int) -> str:
        """The status of an (__outcome, __alerts) pair, as `policy.status` gives it."""
        return policy.status(self.pack, self.texts(code)[0], self.provisional(mask))

    def ignored_text(self, mask: int | str) -> str | None:
        """The ids of the ignored answers in an `__ignored` mask, joined by `;` (None for none). A pack with more
        questions that may be ignored than a mask has bits holds the text itself (`missing_columns`)."""
        if isinstance(mask, str):
            return mask or None
        shown = [q.id for bit, q in enumerate(ignorable(self.pack)) if mask >> bit & 1]
        return ";".join(shown) or None

    def alert_text(self, mask: int) -> str | None:
        shown = [name for bit, name in enumerate(self.alerts) if mask >> bit & 1]
        return ";".join(shown) or None


# The typed column of each kind of answer.
VALUE_TYPES: dict[str, pl.DataType | type[pl.DataType]] = {
    "integer": pl.Int64,
    "number": pl.Float64,
    "yesno": pl.Boolean,
    "choice": pl.String,
    "multi": SELECTION,
    "text": pl.String,
}


def decision_columns(
    pack: Pack, absent: Collection[str] = (), value_sets: Mapping[str, Sequence[Any]] | None = None, skip: bool = False
) -> list[list[pl.Expr]]:
    """Every stage from typed answers (`__v_ID` for each asked question) to `__outcome` and `__alerts`, in order:
    the values that apply, the missing required answers, then the decision. `absent`: the questions no column of
    the batch answers (a partly answered instrument needs one of its items). `value_sets`: the fields with a
    `__set_ID` column, each with its members (`MissingSettler`). `skip`: the caller adds a `__skip` column (the
    rows it leaves undecided, whose outcome is not read) before the stage that holds `__code` (`settling_stage`)."""
    partly = partly_answerable(pack, absent)
    stage_missing = [*missing_columns(pack), *range_columns(pack, partly)]
    values = value_stages(pack, always_blank(pack, absent))
    return [*gate_stages(pack), *values, stage_missing, *decision_stages(pack, partly, value_sets, skip)]


def settling_stage(stages: list[list[pl.Expr]]) -> int:
    """The index of the stage that gives `__code` (where missing answers are settled) among `decision_columns`."""
    return next(i for i, stage in enumerate(stages) if CODE in (e.meta.output_name() for e in stage))


def always_blank(pack: Pack, absent: Collection[str]) -> set[str]:
    """The questions no column answers (`absent`) whose value is blank in every row: not derived from an answer
    that may be there, and not the gate of a follow-up that may be answered."""
    gates = {gate for follow_up, gate in pack.implied if follow_up not in absent}
    blank: set[str] = set()
    for question in pack.asked:  # pack order: a derivation reads earlier questions only
        derive = question.derive
        if question.id in absent and question.id not in gates:
            if derive is None or all(n in blank for n in derive.names):
                blank.add(question.id)
    return blank


def gate_stages(pack: Pack) -> list[list[pl.Expr]]:
    """A yes to a follow-up that `implies` its gate makes the gate yes (as values.gates_implied), before anything
    reads it; `__contradicts_FOLLOWUP` marks the rows where the gate had been answered no."""
    gates: dict[str, list[str]] = {}
    for follow_up, gate in pack.implied:
        gates.setdefault(gate, []).append(follow_up)
    if not gates:
        return []
    stage: list[pl.Expr] = []
    for gate, follow_ups in gates.items():
        said_no = value_col(gate).eq(False).fill_null(False)
        flags = [(said_no & value_col(f).eq(True).fill_null(False)) for f in follow_ups]
        stage += [flag.alias(CONTRADICTS.format(f)) for flag, f in zip(flags, follow_ups, strict=True)]
        stage.append(
            pl.when(reduce(operator.or_, flags)).then(True).otherwise(value_col(gate)).alias(VALUE.format(gate))
        )
    return [stage]


def score_frame(pack: Pack, answers: pl.DataFrame) -> pl.DataFrame:
    """The decision for every row of `answers` (one column per asked question, named by its id, of its type:
    VALUE_TYPES; a column that is absent, or null, is unanswered), as the outcome columns of `iop score`:
    level, rule, reason, alerts, status, error (always null here: the answers are already typed), ignored, missing
    level_min, level_max and decided_by, then
    each profile dimension's rating (null: not rated). Pure: one
    DataFrame in, one out, in the same row order. `iop score` reaches the same codes through `decision_columns`
    and renders them its own faster way; `tests/test_batch_stages.py` holds the two and the engine to one answer."""
    present = set(answers.columns)
    typed = [
        (pl.col(q.id).cast(VALUE_TYPES[q.type]) if q.id in present else pl.lit(None, dtype=VALUE_TYPES[q.type])).alias(
            VALUE.format(q.id)
        )
        for q in pack.asked
    ]
    frame = answers.lazy().select(typed)
    for stage in decision_columns(pack, [q.id for q in pack.asked if q.id not in present]):
        frame = frame.with_columns(stage)
    from iop_cli.pack.answers import disagreement

    problems = [
        pl.when(pl.col(DISAGREE.format(q.id))).then(pl.lit(f"{q.id}: {disagreement(pack, q.id).message}"))
        for q in derived_questions(pack)
    ]
    error = pl.concat_str(problems, separator="; ", ignore_nulls=True) if problems else pl.lit(None, pl.String)
    error = pl.when(error != "").then(error)
    rater = ProfileRater(pack)
    done = frame.with_columns(error.alias("__error"), *rater.key_columns()).collect()
    failed = done["__error"].is_not_null()
    ratings = rater.ratings(done, failed)
    done = done.with_columns(pl.when(~failed).then(pl.col(c)).alias(c) for c in (OUTCOME, ALERTS))
    done = done.with_columns(pl.col(OUTCOME).fill_null(len(pack.rules)), pl.col(ALERTS).fill_null(0))
    outcome = Outcome(pack)
    codes = done[OUTCOME].unique().sort().to_list()
    masks = done[ALERTS].unique().sort().to_list()
    ignored = done[IGNORED].unique().sort().to_list()
    gaps = done[MISSING_MASK].unique().sort().to_list()
    texts = [outcome.texts(code) for code in codes]

    def by_code(values: list, column: str = OUTCOME) -> pl.Expr:
        keys = codes if column == OUTCOME else masks
        return pl.col(column).replace_strict(keys, values, return_dtype=pl.String)

    # A row with an error has no decision: its outcome columns are null and its status is `error`.
    return done.select(
        *(
            pl.when(~pl.col("__error").is_not_null()).then(e)
            for e in (
                by_code([t[0] for t in texts]).alias("level"),
                by_code([t[1] for t in texts]).alias("rule"),
                by_code([t[2] for t in texts]).alias("reason"),
                by_code([outcome.alert_text(m) for m in masks], ALERTS).alias("alerts"),
            )
        ),
        pl.when(pl.col("__error").is_not_null())
        .then(pl.lit("error"))
        .when((pl.col(ALERTS) & outcome.provisional_mask) != 0)
        .then(by_code([policy.status(pack, t[0], True) for t in texts]))
        .otherwise(by_code([policy.status(pack, t[0]) for t in texts]))
        .alias("status"),
        pl.col("__error").alias("error"),
        pl.when(pl.col("__error").is_null())
        .then(
            pl.col(IGNORED).replace_strict(ignored, [outcome.ignored_text(m) for m in ignored], return_dtype=pl.String)
        )
        .alias("ignored"),
        pl.when(pl.col("__error").is_null())
        .then(
            pl.col(MISSING_MASK).replace_strict(gaps, [outcome.missing_text(m) for m in gaps], return_dtype=pl.String)
        )
        .alias("missing"),
        *(
            pl.when(pl.col("__error").is_null() & (pl.col(MISSING_MASK) != 0))
            .then(by_code([outcome.reach_texts(code)[k] for code in codes]))
            .alias(name)
            for k, name in enumerate(REACH_COLUMNS)
        ),
        *(rating.alias(d.id) for rating, d in zip(ratings, pack.profile, strict=True)),
    )


PROFILE_KEY = "__pk_{}"  # a dimension's key: one integer for the answers its rating depends on
TABLE_KEYS = 1 << 22  # a dimension with at most this many keys has a table of their ratings (a byte each)
UNRATED, NOT_RATED = -2, -1  # in such a table: a key not looked at yet; a key whose dimension is not rated
RATING = "__d_{}"  # a dimension's rating (null: not rated, or a row with a problem)


@dataclass
class _Code:
    """How one answer enters a dimension's key: a small integer column (`expr`, 0 .. size - 1), and the answer an
    integer stands for (every answer it stands for rates alike)."""

    expr: pl.Expr
    size: int
    answer: Callable[[int], Any]
    blank: int = 0  # the integer of no answer


def answer_code(question: Question, space: Space, value: pl.Expr) -> _Code | None:
    """An answer as a small integer (`_Code`) that tells apart exactly the answers the searches of `space` tell
    apart (its representatives): a choice, yes/no, the tested choices of a selection, or a number by where it falls
    among the cut points. None for an answer with no such classes (free text, a number tested with another field)."""
    if question.type == "yesno":  # no answer 0, no 1, yes 2
        return _Code(value.cast(pl.Int64).add(1).fill_null(0), 3, [None, False, True].__getitem__)
    if question.type == "choice":
        values = list(question.choice_values)
        return _Code(choice_code(value, values), len(values) + 1, [None, *values].__getitem__)
    if question.type == "multi":
        # Only the choices some condition tests tell selections apart (the search's representatives).
        tested = [c for c in question.choice_values if any(c in s for s in space.domains[question.id])]
        bits = [value.list.contains(c).fill_null(False).cast(pl.Int64) * (1 << i) for i, c in enumerate(tested)]
        code = reduce(operator.add, bits, pl.lit(0, dtype=pl.Int64))
        return _Code(code, 1 << len(tested), lambda k: tuple(c for i, c in enumerate(tested) if k >> i & 1))
    if question.type in ("integer", "number") and question.id in space.domains and question.id not in space.inexact:
        cuts = sorted(v for v in space.domains[question.id] if v is not None)
        # 2j + 1: the cut j itself; 2j: between cut j - 1 and cut j (0: below the first, 2n: above the last).
        code = _between_cuts(question, cuts, value)
        size = 2 * len(cuts) + 2  # and the last for no answer

        def answer(k: int) -> Any:
            if k == size - 1:
                return None
            if k % 2:
                return cuts[k // 2]
            if k == 0:
                return cuts[0] - 1
            if k == size - 2:
                return cuts[-1] + 1
            low, high = cuts[k // 2 - 1], cuts[k // 2]
            return low + 1 if question.type == "integer" else (low + high) / 2

        return _Code(code.fill_null(size - 1), size, answer, blank=size - 1)
    return None


TABLE_LIMIT = 100_000  # the widest range of whole numbers whose codes are looked up in a table


def _between_cuts(question: Question, cuts: list, value: pl.Expr) -> pl.Expr:
    """Where a number falls among the cuts, as `answer_code` numbers it (null stays null). A whole number with a
    range is looked up in a table of its codes (one gather, several times quicker than comparing it with every
    cut); the table reaches one past the range and the cuts on each side, and the value is clipped to it, which
    gives every value beyond it the code of that end."""
    if question.type == "integer" and question.min is not None and question.max is not None and cuts:
        low = int(min(question.min, cuts[0])) - 1
        high = int(max(question.max, cuts[-1])) + 1
        if high - low <= TABLE_LIMIT:
            table = [sum((v > c) + (v >= c) for c in cuts) for v in range(low, high + 1)]
            return pl.lit(pl.Series(table, dtype=pl.Int64)).gather(value.clip(low, high) - low)
    steps = [(value > c).cast(pl.Int64) + (value >= c).cast(pl.Int64) for c in cuts]
    return reduce(operator.add, steps, pl.lit(0, dtype=pl.Int64))


class ProfileRater:
    """The profile's ratings as columns, through `decide.profile.rate_dimension` (what `iop check` uses): a
    dimension's rating depends on a few answers, so each row's answers to those become one integer key (a whole
    number or decimal by where it falls among the cut points of the pack's tests: two answers between the same cuts
    rate alike), each distinct key in a file is rated once in Python, and the ratings are spread to the rows. A
    dimension that reads an answer with no such classes (a decimal tested together with another field) is keyed by
    its answers as they are, row by row."""

    def __init__(self, pack: Pack, absent: Collection[str] = ()):
        """`absent`: questions no column answers (`iop score` knows them from the header): their answers are
        blank in every row unless a derivation or a follow-up's yes gives one, and a blank answer adds a constant
        to the key rather than a column to read."""
        from iop_cli.decide.profile import dimension_key

        self.pack = pack
        self.fields = {d.id: dimension_key(pack, d) for d in pack.profile}
        self.blank = always_blank(pack, set(absent))
        self.codes: dict[str, list[_Code] | None] = {}
        self.tables: dict[str, pl.Series] = {}  # a dimension's rating of each key (`ratings`), where keys are few
        for dimension in pack.profile:
            codes = [self._code(q) for q in self.fields[dimension.id]]
            size = math.prod(c.size for c in codes if c is not None)
            self.codes[dimension.id] = None if None in codes or size >= 1 << 62 else codes  # type: ignore[assignment]
            if self.codes[dimension.id] is not None and size <= TABLE_KEYS:
                self.tables[dimension.id] = pl.repeat(UNRATED, size, dtype=pl.Int8, eager=True)
        # (dimension, key) -> rating, kept across batches: a file repeats its combinations. Batches are scored in
        # two threads; a race only rates a key twice, alike.
        self.known: dict[tuple[str, Any], int | None] = {}
        self.lock = Lock()  # a table is replaced by one thread at a time

    def _code(self, question: Question) -> _Code | None:
        return answer_code(question, profile_space(self.pack), value_col(question.id))

    def key_columns(self) -> list[pl.Expr]:
        """Each dimension's key, read from the value columns (`__v_ID`, after the value stages): one integer, or
        the answers themselves for a dimension that cannot be keyed so."""
        columns = []
        for dimension in self.pack.profile:
            codes = self.codes[dimension.id]
            if codes is None:
                columns.append(
                    pl.struct([value_col(q.id) for q in self.fields[dimension.id]]).alias(
                        PROFILE_KEY.format(dimension.id)
                    )
                )
                continue
            key, stride, constant = pl.lit(0, dtype=pl.Int64), 1, 0
            for question, code in zip(self.fields[dimension.id], codes, strict=True):
                if question.id in self.blank:
                    constant += code.blank * stride
                else:
                    key = key + code.expr.cast(pl.Int64) * stride
                stride *= code.size
            columns.append((key + constant).alias(PROFILE_KEY.format(dimension.id)))
        return columns

    def ratings(self, done: pl.DataFrame, failed: pl.Series | None = None) -> list[pl.Series]:
        """`__d_ID` for each dimension: its rating in each row of `done` (which holds the key columns), null where
        the dimension is not rated or (`failed`) the row has a problem."""
        found = []
        for dimension in self.pack.profile:
            keys = done[PROFILE_KEY.format(dimension.id)]
            name = RATING.format(dimension.id)
            # A row with a problem is not rated: its keys are not looked up (a bad cell reads as a missing answer,
            # whose rating may need a search).
            if dimension.id in self.tables:
                column = self._looked_up(dimension, keys, failed).alias(name)
            elif self.codes[dimension.id] is None:
                bad = [False] * len(keys) if failed is None else failed.to_list()
                rows = zip(keys.to_list(), bad, strict=True)
                column = pl.Series(name, [None if b else self._rating(dimension, k) for k, b in rows], dtype=pl.Int8)
            else:
                distinct = (keys if failed is None else keys.filter(~failed)).unique().to_list()
                ratings = [self._rating(dimension, key) for key in distinct]
                column = keys.replace_strict(distinct, ratings, default=None, return_dtype=pl.Int8).alias(name)
            if failed is not None:
                column = column.set(failed, None)
            found.append(column)
        return found

    def _looked_up(self, dimension, keys: pl.Series, failed: pl.Series | None) -> pl.Series:
        """Each key's rating from the dimension's table (an index per key: no hashing), the keys not rated yet
        rated first (`_rating`) and written into it; null where not rated."""
        table = self.tables[dimension.id]
        found = table.gather(keys)
        new = keys.filter(found == UNRATED) if failed is None else keys.filter((found == UNRATED) & ~failed)
        if new.len():
            distinct = new.unique()
            ratings = [self._rating(dimension, key) for key in distinct.to_list()]
            with self.lock:
                table = (
                    self.tables[dimension.id]
                    .clone()
                    .scatter(distinct, [NOT_RATED if r is None else r for r in ratings])
                )
                self.tables[dimension.id] = table
            found = table.gather(keys)
        return found.set(found < 0, None)

    def _rating(self, dimension, key: Any) -> int | None:
        from iop_cli.decide.profile import dimension_questions, hashable, rate_dimension

        cache_key = (dimension.id, key if isinstance(key, int) else tuple(hashable(v) for v in key.values()))
        if cache_key not in self.known:
            fields = self.fields[dimension.id]
            codes = self.codes[dimension.id]
            if codes is None:
                answers = {q.id: key[VALUE.format(q.id)] for q in fields}
                answers = {k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()}
            else:
                answers = {}
                for question, code in zip(fields, codes, strict=True):
                    answers[question.id] = code.answer(key % code.size)
                    key //= code.size
            given = {k: v for k, v in answers.items() if v is not None}
            totals = profile_space(self.pack).totals  # a computed total in the key is its value, not recomputed
            questions = dimension_questions(self.pack, dimension)
            values, applies, _ = applicable(self.pack, given, given=totals, questions=questions)
            self.known[cache_key] = rate_dimension(self.pack, dimension, values, applies).rating
        return self.known[cache_key]
