"""The shapes of rule-pack files, declared once: each entry's keys, which are required, and what each holds.

The loader (`pack.build`) checks every file's entries against these declarations (unknown keys, missing keys), and
the JSON Schema that editors use (the YAML language server) and `iop rules schema` prints is generated from them, so
the two cannot drift. The loader still does the checks a schema cannot: conditions, references between ids, rule
order, and test cases against the pack.
"""

from __future__ import annotations

from typing import Any, NamedTuple

SCHEMA_ID = "urn:iop-cli:rule-pack:1"

QUESTION_TYPES = ("yesno", "choice", "multi", "integer", "number", "text")  # multi: several of its choices
SEVERITIES = ("safety", "caution", "info")
# The outcome columns `iop score` writes after the input's, in order (`output.contracts.SCORE_COLUMNS`); a pack's
# profile adds one column per dimension after them, so no dimension may take one of these names.
OUTCOME_COLUMNS = (
    *("level", "rule", "reason", "alerts", "status", "error", "ignored"),
    *("missing", "level_min", "level_max", "decided_by"),  # for a row with required answers missing
)
LINT_CODES = (
    "never-fires",
    "shadowed",
    "skipped-question",
    "gap",
    "unused-question",
    "unused-level",
    "inexact",
    "profile-gap",  # answers to which no rating of a dimension applies
    "profile-never",  # a rating of a dimension that no answers give
    "no-help",  # an asked question with no help: `?` in the interview would say nothing useful
)

# What a key's value may be, as JSON Schema.
IDENT = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "A word of letters, digits, _"}
TEXT = {"type": "string"}
LINES = {"type": "array", "items": {"type": "string"}}
CONDITION = {
    "type": "string",
    "description": "A condition over field ids: ==, !=, <, <=, >, >=, and, or, not, in [...], is missing, + and -.",
}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
ANSWERS = {
    "type": "object",
    "additionalProperties": {"oneOf": [SCALAR, {"type": "array", "items": SCALAR}]},
    "description": "field id: answer (a list for a multi-select)",
}


class Key(NamedTuple):
    name: str
    value: dict[str, Any]  # what it holds, as JSON Schema
    required: bool = False


class Shape(NamedTuple):
    """A mapping in a pack file: its keys in the order documents show them."""

    keys: tuple[Key, ...]
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys if k.required)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k.name: k.value for k in self.keys},
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        if self.description:
            schema["description"] = self.description
        return schema


def listing(shape: Shape) -> dict[str, Any]:
    return {"type": "array", "items": shape.schema()}


PACK = Shape((Key("name", TEXT, True), Key("version", TEXT, True), Key("description", TEXT)))
MODULE = Shape(
    (Key("name", TEXT, True), Key("version", TEXT, True), Key("description", TEXT)),
    "A module file (an instrument) that packs include from their `questions:` list.",
)
SECTION = Shape((Key("id", IDENT, True), Key("title", TEXT, True), Key("help", TEXT)))
CHOICE = Shape(
    (
        Key("value", {"type": ["string", "number"]}),  # required, except for a scored choice
        Key("label", TEXT),
        Key("score", {"type": "integer", "description": "An integer question's item score; its answer is the score."}),
    )
)
COMPUTE_CASE = Shape((Key("when", CONDITION, True), Key("value", SCALAR, True)))
COMPUTE_OTHERWISE = Shape((Key("otherwise", SCALAR, True),))
COMPUTE = {
    "description": "A computed field: one expression, or a list of `when`/`value` cases and a final `otherwise`.",
    "oneOf": [
        CONDITION,
        {"type": "array", "items": {"oneOf": [COMPUTE_CASE.schema(), COMPUTE_OTHERWISE.schema()]}},
    ],
}
QUESTION = Shape(
    (
        Key("id", IDENT, True),
        Key("type", {"enum": list(QUESTION_TYPES)}, True),
        Key("label", TEXT, True),
        Key("help", TEXT),
        Key("choices", {"type": "array", "items": {"oneOf": [{"type": ["string", "number"]}, CHOICE.schema()]}}),
        Key("min", {"type": "number"}),
        Key("max", {"type": "number"}),
        Key("required", {"type": "boolean"}),  # asked questions only; true unless written false
        Key("ask_if", CONDITION),  # asked only when this holds
        Key("compute", COMPUTE),  # a computed field: never asked
        Key(
            "derive",
            {
                **COMPUTE,
                "description": "Asked, and also derived from earlier answers (an instrument's total from its items): "
                "the answer may be given directly or come from them; both given and disagreeing is an error.",
            },
        ),
        Key(
            "implies",
            {
                **IDENT,
                "description": "A yes/no follow-up asked only after a yes to this earlier yes/no question (its gate, "
                "read by its ask_if): a yes here counts as a yes there, even when the gate was answered no.",
            },
        ),
        Key("aliases", LINES),  # other names its column may have in an intake file
        Key("section", IDENT),
        Key(
            "says",
            {
                "description": "How a decision's reason states this person's answer: for yes/no, `{yes: TEXT, no: "
                "TEXT}`; for a choice, a text per choice value or one text; for any other type, a text where {answer} "
                'stands for the answer ("COWS {answer}").',
                "oneOf": [
                    {"type": "string", "pattern": "\\{answer\\}"},
                    {"type": "object", "additionalProperties": {"type": "string"}},
                ],
            },
        ),
        Key(
            "can_change",
            {
                "type": "boolean",
                "description": "A plan can change this answer (housing, home, readiness), unlike a fact of the "
                "person (age, history); what would change a placement marks the difference.",
            },
        ),
        Key(
            "confirm_enter",
            {
                "type": "boolean",
                "description": "false: in the interview, Enter alone never takes a pre-selected answer to this question "
                "when it has no earlier answer (a safety question): the counselor picks one with the keys (y/n) or the "
                "arrows first. Default true.",
            },
        ),
        Key(
            "bands",
            {
                "description": "A number's named ranges, from the lowest up; a reason names the band of the answer "
                '("COWS 15 (moderate withdrawal, 13-24)").',
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"from": {"type": "number"}, "name": {"type": "string"}},
                    "required": ["from", "name"],
                    "additionalProperties": False,
                },
            },
        ),
    )
)
INCLUDE = Shape(
    (
        Key(
            "include", {"type": "string", "description": "A module file (an instrument), relative to this file."}, True
        ),
        Key("ask_if", {**CONDITION, "description": "Every question of the module is asked only when this holds."}),
    ),
    "The questions of a module file, placed here.",
)
# What a module file may hold: questions (and their sections) with their own tests, so any pack can include it.
MODULE_KEYS = ("module", "sections", "questions", "fixtures", "tests")
LEVEL = Shape(
    (
        Key("id", IDENT, True),
        Key("name", TEXT, True),
        Key("code", TEXT),
        Key("intensity", TEXT),
        Key("rank", {"type": "integer"}),  # how intensive: higher is more
        Key(
            "urgent",
            {"type": "boolean", "description": "Its rules come first: no rule to another level may shadow one."},
        ),
        Key("summary", TEXT),
        Key("involves", LINES),
        Key("next_steps", LINES),
    )
)
RULE = Shape(
    (
        Key("id", IDENT, True),
        Key("when", CONDITION, True),
        Key("level", IDENT),  # a placement rule names a level; an alert rule has `alert` instead
        Key("alert", {"type": "string", "description": "An alert's message (a rule has `level` or `alert`)."}),
        Key("severity", {"enum": list(SEVERITIES)}),
        Key(
            "provisional",
            {
                "type": "boolean",
                "description": "An alert only: when it holds, the record's status is `provisional` (the level stands, "
                "but a safety assessment it rests on is incomplete).",
            },
        ),
        Key("because", TEXT, True),
    )
)
OTHERWISE = Shape((Key("level", IDENT, True), Key("because", TEXT, True)))
RATINGS = (0, 1, 2, 3, 4)  # a profile dimension's ratings: 0 no need .. 4 the most urgent need
RATING = Shape(
    (
        Key("rating", {"enum": list(RATINGS)}, True),
        Key("when", CONDITION, True),
        Key("because", {"type": "string", "description": "What this rating means, in words."}, True),
    )
)
DIMENSION = Shape(
    (
        Key("id", IDENT, True),
        Key("name", TEXT, True),
        Key(
            "ratings",
            {
                "type": "array",
                "description": "Each rating at most once; when several hold, the highest wins.",
                "items": RATING.schema(),
            },
            True,
        ),
    )
)
PROFILE_EXPECT = {
    "type": "object",
    "additionalProperties": {"enum": [*RATINGS, None]},
    "description": "dimension id: its rating (null: not rated)",
}
EXPECT = Shape(
    (
        Key("level", IDENT),
        Key("rule", {"type": ["string", "null"]}),
        Key("status", {"enum": ["ok", "provisional", "review"]}),
        Key("alerts", LINES),
        Key("missing", LINES),
        Key("possible", {**LINES, "description": "the levels some filling of the missing answers leads to"}),
        Key("values", {**ANSWERS, "description": "field id: the value it must have (computed and derived included)"}),
        Key("profile", PROFILE_EXPECT),
    )
)
TEST = Shape((Key("name", TEXT, True), Key("base", IDENT), Key("given", ANSWERS), Key("expect", EXPECT.schema(), True)))
ALLOWANCE = Shape(
    (
        Key(
            "finding", {"type": "string", "pattern": "^(" + "|".join(LINT_CODES) + ")(:[A-Za-z_][A-Za-z0-9_]*)?$"}, True
        ),
        Key("because", TEXT, True),
        Key("when", {**CONDITION, "description": "For `gap`: the answers the allowance covers."}),
    )
)
LINT = Shape((Key("allow", listing(ALLOWANCE)),))
FILE = Shape(
    (
        Key("pack", PACK.schema()),
        Key("module", MODULE.schema()),
        Key("sections", listing(SECTION)),
        Key("questions", {"type": "array", "items": {"oneOf": [QUESTION.schema(), INCLUDE.schema()]}}),
        Key("levels", listing(LEVEL)),
        Key(
            "rules",
            {
                "type": "array",
                "description": "In order: the first level rule that holds decides; every alert that holds is shown.",
                "items": RULE.schema(),
            },
        ),
        Key("otherwise", OTHERWISE.schema()),
        Key(
            "profile",
            {
                "type": "array",
                "description": "The dimensions every decision is rated on (0-4, the highest need marked); they explain "
                "the level and never change it.",
                "items": DIMENSION.schema(),
            },
        ),
        Key("fixtures", {"type": "object", "additionalProperties": ANSWERS}),
        Key("tests", listing(TEST)),
        Key("lint", LINT.schema()),
    )
)
SINGLE_KEYS = ("pack", "rules", "otherwise", "lint", "profile")  # their order or identity must come from one place


def pack_schema() -> dict[str, Any]:
    """The JSON Schema of one pack file, generated from the declarations above."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "iop-cli rule pack file",
        "description": "One YAML file of an iop-cli rule pack; a pack is a folder of such files.",
        "type": "object",
        "properties": FILE.schema()["properties"],
        "additionalProperties": False,
    }
