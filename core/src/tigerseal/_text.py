"""Make untrusted text safe to show: one function for errors, logs and terminals.

Key ids, provider names, audit fields and user agents come from headers, files and requests an
attacker may write. Printed raw, a newline forges a log line and an ANSI escape rewrites the
terminal. Every human-readable output that can carry such text goes through
:func:`escape_control`.
"""

from __future__ import annotations

__all__ = ["escape_control"]

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    # Not printable: C0/C1 controls and DEL, format characters (bidi overrides, zero-width
    # joiners) that reorder or hide text, line/paragraph separators, spaces other than U+0020,
    # surrogates, private-use and unassigned code points.
    if not ch.isprintable():
        if code <= 0xFF:
            return f"\\x{code:02x}"
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        return f"\\U{code:08x}"
    return ch


def escape_control(text: str, *, limit: int | None = None) -> str:
    """``text`` with every control, format and separator character backslash-escaped.

    Printable text (including non-ASCII letters) is unchanged; a backslash is doubled so the
    output is unambiguous. The result never contains a newline, carriage return or escape byte.

    Args:
        text: untrusted text.
        limit: if given, cut the input to this many characters first and mark the cut with "…".

    Returns:
        The escaped text.
    """
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if text.isprintable() and "\\" not in text:
        escaped = text
    else:
        escaped = "".join(_escape_char(ch) for ch in text)
    return escaped + "…" if cut else escaped
