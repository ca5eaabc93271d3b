"""The JSON Schema of rule-pack files, for editors (the YAML language server) and `iop rules schema`.

It mirrors what the loader in `pack.py` accepts: the same keys and required keys. The loader still does the checks a
schema cannot (conditions, references between ids, rule order); a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from iop_cli.pack.model import LEVEL_KEYS, LINT_CODES, QUESTION_KEYS, QUESTION_TYPES, RULE_KEYS, SEVERITIES, TOP_KEYS

SCHEMA_ID = "urn:iop-cli:rule-pack:1"


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def pack_schema() -> dict[str, Any]:
    ident = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "A word of letters, digits, _"}
    text = {"type": "string"}
    lines = {"type": "array", "items": {"type": "string"}}
    condition = {
        "type": "string",
        "description": "A condition over field ids: ==, !=, <, <=, >, >=, and, or, not, in [...], is missing, + and -.",
    }
    scalar = {"type": ["string", "number", "boolean", "null"]}
    answers = {"type": "object", "additionalProperties": scalar, "description": "field id: answer"}
    compute = {
        "description": "A computed field: one expression, or a list of `when`/`value` cases and a final `otherwise`.",
        "oneOf": [
            condition,
            {
                "type": "array",
                "items": {
                    "oneOf": [
                        _object({"when": condition, "value": scalar}, ("when", "value")),
                        _object({"otherwise": scalar}, ("otherwise",)),
                    ]
                },
            },
        ],
    }
    question_properties = {
        "id": ident,
        "type": {"enum": list(QUESTION_TYPES)},
        "label": text,
        "help": text,
        "choices": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": ["string", "number"]},
                    _object({"value": {"type": ["string", "number"]}, "label": text}, ("value",)),
                ]
            },
        },
        "min": {"type": "number"},
        "max": {"type": "number"},
        "required": {"type": "boolean"},
        "ask_if": condition,
        "compute": compute,
        "aliases": lines,
        "section": ident,
    }
    assert set(question_properties) == set(QUESTION_KEYS)
    level_properties = {
        "id": ident,
        "name": text,
        "code": text,
        "intensity": text,
        "rank": {"type": "integer"},
        "urgent": {"type": "boolean", "description": "Recommended even while other answers are missing."},
        "summary": text,
        "involves": lines,
        "next_steps": lines,
    }
    assert set(level_properties) == set(LEVEL_KEYS)
    rule_properties = {
        "id": ident,
        "when": condition,
        "level": ident,
        "alert": {"type": "string", "description": "An alert's message (a rule has `level` or `alert`)."},
        "severity": {"enum": list(SEVERITIES)},
        "because": text,
    }
    assert set(rule_properties) == set(RULE_KEYS)
    properties = {
        "pack": _object({"name": text, "version": text, "description": text}, ("name", "version")),
        "sections": {"type": "array", "items": _object({"id": ident, "title": text, "help": text}, ("id", "title"))},
        "questions": {"type": "array", "items": _object(question_properties, ("id", "type", "label"))},
        "levels": {"type": "array", "items": _object(level_properties, ("id", "name"))},
        "rules": {
            "type": "array",
            "description": "In order: the first level rule that holds decides; every alert that holds is shown.",
            "items": _object(rule_properties, ("id", "when", "because")),
        },
        "otherwise": _object({"level": ident, "because": text}, ("level", "because")),
        "fixtures": {"type": "object", "additionalProperties": answers},
        "tests": {
            "type": "array",
            "items": _object(
                {
                    "name": text,
                    "base": ident,
                    "given": answers,
                    "expect": _object(
                        {"level": ident, "rule": {"type": ["string", "null"]}, "alerts": lines, "missing": lines}
                    ),
                },
                ("name", "expect"),
            ),
        },
        "lint": _object(
            {
                "allow": {
                    "type": "array",
                    "items": _object(
                        {
                            "finding": {
                                "type": "string",
                                "pattern": "^(" + "|".join(LINT_CODES) + ")(:[A-Za-z_][A-Za-z0-9_]*)?$",
                            },
                            "because": text,
                            "when": {**condition, "description": "For `gap`: the answers the allowance covers."},
                        },
                        ("finding", "because"),
                    ),
                }
            }
        ),
    }
    assert set(properties) == set(TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "iop-cli rule pack file",
        "description": "One YAML file of an iop-cli rule pack; a pack is a folder of such files.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
