"""YAML read into values that remember where they came from, so errors can point at file:line:col."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .problems import Mark, Problem, ProblemsError


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


def _mark(file: str, yaml_mark) -> Mark:
    return Mark(file, yaml_mark.line + 1, yaml_mark.column + 1)


def load(text: str, file: str) -> Src | None:
    """Parse one YAML document with the C safe loader (falling back to the pure one); None for an empty file."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems: list[Problem] = []
        src = _convert(node, loader, file, problems)
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


def _convert(node, loader, file: str, problems: list[Problem]) -> Src:
    import yaml

    mark = _mark(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Src] = {}
        keys: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, bool) or not isinstance(key, (str, int, float)):
                problems.append(
                    Problem(str(_mark(file, key_node.start_mark)), f"a key must be a plain word, not `{key}`")
                )
                continue
            key = str(key)
            if key in values:
                problems.append(
                    Problem(
                        str(_mark(file, key_node.start_mark)),
                        f"duplicate key `{key}`",
                        f"it is already set at line {keys[key].line}; keep one",
                    )
                )
                continue
            keys[key] = _mark(file, key_node.start_mark)
            values[key] = _convert(value_node, loader, file, problems)
        return Src(values, mark, keys)
    if isinstance(node, yaml.SequenceNode):
        return Src([_convert(item, loader, file, problems) for item in node.value], mark)
    value = loader.construct_object(node)
    style = getattr(node, "style", None)
    return Src(value, mark, block=style in ("|", ">"), quoted=style in ("'", '"'))
