"""Reading inputs for the commands: answers files (YAML or JSON, or `-` for stdin)."""

from __future__ import annotations

import contextlib
import os
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


def write_private(path: str, text: str, protect: tuple[str | os.PathLike, ...] = ()) -> None:
    """Write `text` to `path` atomically and 0600 (temp file in the same folder, then rename); `-` is stdout.
    Refuses to write onto any of `protect` (inputs, the records database)."""
    import tempfile
    from pathlib import Path

    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    for other in protect:
        if target.exists() and Path(other).exists() and os.path.samefile(target, other):
            raise ProblemsError([Problem(path, "is an input of this command", "choose another output file")])
    if target.is_dir():
        raise ProblemsError([Problem(path, "is a folder", "give a file name")])
    folder = target.parent if str(target.parent) else Path(".")
    try:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")  # mkstemp is 0600
    except OSError as exc:
        raise ProblemsError([Problem(path, f"cannot write here: {exc.strerror}", "check the folder")]) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
