"""Text a client chose, made safe to put in a log line.

The hub's log lines are ``event key=value key=value``, one per line. A value that comes from the
network (a path, a username typed at login, an address a proxy forwards, an error's text) must not
start a new line, move the cursor of a terminal, reorder text (bidirectional controls) or pass for
more keys; nor fill the disk. `log_safe` escapes control characters (``\\n`` becomes ``\\x0a``),
quotes a value holding spaces, quotes or ``=`` (as logfmt does), and bounds its length.
"""

from __future__ import annotations

import unicodedata

MAX_LOG_CHARS = 200
"""Longer values are cut to this many characters, then marked with ``...``."""
_CUT_MARK = "..."
_QUOTE_IF = frozenset(' "=')


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _needs_escape(char: str) -> bool:
    """Control and format characters (C0, DEL, C1, line and paragraph separators, bidirectional
    controls, zero-width characters), unpaired surrogates; and the backslash, so that an escape
    cannot be forged."""
    return char == "\\" or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def log_safe(value: object, max_chars: int = MAX_LOG_CHARS) -> str:
    """`value` as one printable token of a log line (see the module's docstring)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_chars:
        text = text[:max_chars] + _CUT_MARK
    if not text.isprintable() or "\\" in text:
        text = "".join(_escape(char) if _needs_escape(char) else char for char in text)
    if not text or not _QUOTE_IF.isdisjoint(text):
        text = '"' + text.replace('"', '\\"') + '"'
    return text
