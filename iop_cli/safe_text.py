"""Text made safe for a terminal: control characters shown, never obeyed."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, except the tab, and lone surrogates (which a terminal cannot print either).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: str) -> str:
    """`text` with every control character written as an escape (ESC as \\x1b), so a value read from a file or the
    database cannot move the cursor, retitle the window or hide what follows."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )
