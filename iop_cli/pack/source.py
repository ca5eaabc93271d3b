"""YAML read into values that remember where they came from, so errors can point at file:line:col."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from iop_cli.problems import AnswersError, Mark, Problem, ProblemsError


@dataclass
class Src:
    """A YAML value with its position. Mappings hold Src values; `keys` holds the position of each key."""

    value: Any
    mark: Mark
    keys: dict[str, Mark] = field(default_factory=dict)
    block: bool = False  # a literal or folded block scalar (| or >)
    quoted: bool = False

    def plain(self) -> Any:
        """The value with positions stripped, recursively."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value

    def at(self, offset_line: int = 0, col: int | None = None) -> Mark:
        return Mark(self.mark.file, self.mark.line + offset_line, self.mark.col if col is None else col)


# Bounds on what one YAML file may hold. An answers file has about 25 keys and a rule pack a few thousand values,
# so these only stop input built to exhaust memory or time (a 1M-key file, deep nesting) before any work is done.
MAX_CHARS = 10_000_000
MAX_NODES = 100_000
MAX_DEPTH = 50
MAX_DIGITS = 100  # a longer run of digits stays text: Python refuses to turn 4,301 or more digits into an int

# Plain (unquoted) scalars are resolved here rather than by PyYAML, whose YAML 1.1 rules read `0x22` as 34, `0b11`
# as 3, `010` as 8, `3_5` as 35 and `1:30` as 90. Only plain ASCII decimal becomes a number; every other spelling
# stays the text as written, so the reader that expects a number refuses it with its own message and position.
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})
_FALSE = frozenset({"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})
_SPECIAL = {
    **{
        f"{sign}.{word}": sign_value * math.inf
        for sign, sign_value in (("", 1), ("+", 1), ("-", -1))
        for word in ("inf", "Inf", "INF")
    },
    **{f".{word}": math.nan for word in ("nan", "NaN", "NAN")},
}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_STR_TAGS = frozenset({"!", "tag:yaml.org,2002:str"})
_MAP_TAGS = frozenset({"tag:yaml.org,2002:map"})
_SEQ_TAGS = frozenset({"tag:yaml.org,2002:seq"})

ALIAS_MESSAGE = "YAML anchors and aliases (&name / *name) are not allowed here"


def _mark(file: str, yaml_mark) -> Mark:
    return Mark(file, yaml_mark.line + 1, yaml_mark.column + 1)


def plain_scalar(text: str) -> Any:
    """The value of an unquoted YAML scalar: null, a yes/no word, a plain ASCII decimal number, or the text itself."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text):
        return int(text) if len(text.lstrip("+-")) <= MAX_DIGITS else text
    if _FLOAT.fullmatch(text):
        return float(text)
    return _SPECIAL.get(text, text)


class _Stop(Exception):
    """A problem that ends reading the file at once (an alias, too deep, too many values)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def load(text: str, file: str) -> Src | None:
    """Parse one YAML document with the C parser (falling back to the pure one); None for an empty file.

    The document is built from the parser's events, not from PyYAML's composer and constructor: anchors and aliases
    are refused (they allow a few hundred bytes to expand to gigabytes, or to refer to themselves), nesting depth and
    the number of values are bounded, and scalars are resolved by `plain_scalar`."""
    import yaml

    if len(text) > MAX_CHARS:
        raise ProblemsError(
            [
                Problem(
                    file,
                    f"the file is too large ({len(text):,} characters; at most {MAX_CHARS:,})",
                    "an answers file, a mapping or a rule pack file is a few kilobytes; check it is the right file",
                )
            ]
        )
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    problems: list[Problem] = []
    try:
        src = _Builder(loader, file, problems).document()
    except _Stop as stop:
        raise ProblemsError([stop.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = str(_mark(file, mark)) if mark else file
        message = exc.problem or exc.context or "not valid YAML"
        raise ProblemsError(
            [Problem(where, f"YAML syntax error: {message}", "check indentation, colons and quotes")]
        ) from None
    except yaml.YAMLError as exc:
        raise ProblemsError([Problem(file, f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise ProblemsError(problems)
    return src


_SKIP = object()  # the key of a mapping entry that was refused: its value is read and dropped


class _Builder:
    """Src values from the parser's event stream, without recursion (the depth is bounded and checked)."""

    def __init__(self, loader, file: str, problems: list[Problem]):
        self.loader = loader
        self.file = file
        self.problems = problems
        self.nodes = 0

    def document(self) -> Src | None:
        import yaml

        get = self.loader.get_event
        get()  # stream start
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        src = self.node(get)
        get()  # document end
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            raise _Stop(
                Problem(
                    str(_mark(self.file, event.start_mark)),
                    "YAML syntax error: a second document in the file (after `---`)",
                    "keep one document per file",
                )
            )
        return src

    def node(self, get) -> Src:
        """The value that starts with the next event, with everything nested in it."""
        import yaml

        file = self.file
        # Each open mapping or sequence: [Src, pending key (None before a key, _SKIP for a refused key)].
        stack: list[list[Any]] = []
        while True:
            event = get()
            kind = type(event)
            done: Src | None = None
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                done = stack.pop()[0]
            else:
                self.count(event)
                mark = _mark(file, event.start_mark)
                if kind is yaml.ScalarEvent:
                    done = self.scalar(event, mark)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    mapping = kind is yaml.MappingStartEvent
                    self.check_tag(event.tag, _MAP_TAGS if mapping else _SEQ_TAGS, mark)
                    if len(stack) >= MAX_DEPTH:
                        raise _Stop(
                            Problem(
                                str(mark),
                                f"nested more than {MAX_DEPTH} levels deep",
                                "answers, mappings and rule packs need only a few levels",
                            )
                        )
                    stack.append([Src({} if mapping else [], mark), None])
                    continue
                else:  # pragma: no cover - the parser yields no other event inside a document
                    raise _Stop(Problem(str(mark), "YAML syntax error: unexpected content"))
            if not stack:
                return done
            self.attach(stack[-1], done)

    def count(self, event) -> None:
        import yaml

        if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
            name = event.anchor
            shown = f"`*{name}`" if isinstance(event, yaml.AliasEvent) else f"`&{name}`"
            raise _Stop(
                Problem(
                    str(_mark(self.file, event.start_mark)),
                    f"{ALIAS_MESSAGE}; found {shown[:44]}",
                    "write the value out in full where it is used",
                )
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Stop(
                Problem(
                    str(_mark(self.file, event.start_mark)),
                    f"too many keys and values in one file (more than {MAX_NODES:,})",
                    "an answers file has one line per answer and a rule pack a few thousand values; "
                    "check it is the right file",
                )
            )

    def check_tag(self, tag: str | None, allowed: frozenset[str], mark: Mark) -> None:
        if tag is not None and tag not in allowed:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            self.problems.append(
                Problem(str(mark), f"YAML tags like `{shown[:40]}` are not supported here", "remove the tag")
            )

    def scalar(self, event, mark: Mark) -> Src:
        style = event.style or None
        tag = event.tag
        if tag is None and style is None:
            value = plain_scalar(event.value)
        else:
            if tag is not None:
                self.check_tag(tag, _STR_TAGS, mark)
            value = event.value
        return Src(value, mark, block=style in ("|", ">"), quoted=style in ("'", '"'))

    def attach(self, frame: list[Any], value: Src) -> None:
        parent: Src = frame[0]
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        key = frame[1]
        if key is None:
            frame[1] = self.key(parent, value)
            return
        frame[1] = None
        if key is not _SKIP:
            parent.value[key] = value

    def key(self, parent: Src, src: Src) -> Any:
        """The text of a mapping key, or _SKIP (with a problem) for a key that cannot be one."""
        key = src.value
        if isinstance(key, bool) or not isinstance(key, (str, int, float)):
            shown = "a list or mapping" if isinstance(key, (dict, list)) else f"`{key}`"
            self.problems.append(Problem(str(src.mark), f"a key must be a plain word, not {shown}"))
            return _SKIP
        key = str(key)
        if key in parent.value:
            self.problems.append(
                Problem(
                    str(src.mark),
                    f"duplicate key `{key[:40]}`",
                    f"it is already set at line {parent.keys[key].line}; keep one",
                )
            )
            return _SKIP
        parent.keys[key] = src.mark
        return key


def read_answers(path: str) -> tuple[dict[str, Any], dict[str, str], str]:
    """The raw answers mapping, the position of each key for messages, and the source name."""
    from iop_cli.files import read_text

    text, name = read_text(path)
    return parse_answers(text, name)


def parse_answers(text: str, name: str) -> tuple[dict[str, Any], dict[str, str], str]:
    """`read_answers` for a text already read."""
    doc = load(text, name)
    if doc is None:
        raise AnswersError([Problem(name, "the answers file is empty", "write one `field: value` line per answer")])
    if not isinstance(doc.value, dict):
        raise AnswersError(
            [
                Problem(
                    str(doc.mark),
                    "answers must be a mapping of field ids to values",
                    "write one `field: value` line per answer",
                )
            ]
        )
    # A value is one answer, or a list of them (a multi-select); the pack's questions check which is which.
    nested = [
        k
        for k, v in doc.value.items()
        if isinstance(v.value, dict)
        or (isinstance(v.value, list) and any(isinstance(i.value, (dict, list)) for i in v.value))
    ]
    if nested:
        raise AnswersError(
            [
                Problem(str(doc.keys[k]), f"{k}: one value or a list of values is expected, not a mapping")
                for k in nested
            ]
        )
    return doc.plain(), {k: str(m) for k, m in doc.keys.items()}, name
