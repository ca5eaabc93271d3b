"""Reading inputs for the commands: answers files (YAML or JSON, or `-` for stdin)."""

from __future__ import annotations

import sys
from typing import Any

from .problems import AnswersError, Problem, ProblemsError


def read_text(path: str) -> tuple[str, str]:
    """The text of a file or of stdin (`-`), and the name to show in messages."""
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ProblemsError([Problem(path, f"cannot read the file: {exc.strerror}", "check the path")]) from None
        name = path
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise ProblemsError([Problem(name, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")]) from None


def read_answers(path: str) -> tuple[dict[str, Any], dict[str, str], str]:
    """The raw answers mapping, the position of each key for messages, and the source name."""
    from . import yamlsrc

    text, name = read_text(path)
    doc = yamlsrc.load(text, name)
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
    nested = [k for k, v in doc.value.items() if isinstance(v.value, (dict, list))]
    if nested:
        raise AnswersError(
            [Problem(str(doc.keys[k]), f"{k}: a single value is expected, not a list or mapping") for k in nested]
        )
    return doc.plain(), {k: str(m) for k, m in doc.keys.items()}, name
