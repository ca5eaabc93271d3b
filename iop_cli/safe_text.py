"""Text made safe for a terminal: control characters shown, never obeyed."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, except the tab; the bidirectional overrides and isolates, which reorder what follows
# on the line (so a message could be made to read as another); and lone surrogates, which a terminal cannot print.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
SHOWN = 40  # characters of a value a message repeats


def cut(text: str, size: int = SHOWN) -> str:
    """The first `size` characters of `text`, and an ellipsis when something was cut."""
    return text if len(text) <= size else text[:size] + "…"


def visible(text: str) -> str:
    """`text` with every control character written as an escape (ESC as \\x1b), so a value read from a file or the
    database cannot move the cursor, retitle the window or hide what follows."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )
