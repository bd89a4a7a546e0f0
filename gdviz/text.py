"""User text shown literally: no terminal escapes, no markup.

Names, titles, descriptions, paths and CSV column names come from the user. Rich and
Textual read ``[...]`` in a plain ``str`` as markup (``x[/]`` raises, ``[red]x[/red]`` is
coloured), and a terminal obeys the control bytes in a string (ESC starts an escape
sequence). Everything user-provided that reaches a console goes through :func:`printable`
and is handed over as a :class:`rich.text.Text` (or escaped), never as a markup string.

Imports nothing heavy: the scenario validator uses :func:`control_characters`.
"""

from __future__ import annotations

import unicodedata

#: Characters that reorder text on screen (bidi overrides and isolates): shown as escapes too.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" or ch in _BIDI


def control_characters(text: str, allow: str = "") -> list[str]:
    """The distinct control characters in ``text`` (other than those in ``allow``), as ``U+001B``."""
    seen: list[str] = []
    for ch in text:
        if _is_control(ch) and ch not in allow:
            code = f"U+{ord(ch):04X}"
            if code not in seen:
                seen.append(code)
    return seen


def printable(text: str, allow: str = "") -> str:
    """``text`` with each control character written as an escape (``\\x1b``, ``\\u202e``).

    ``allow`` lists control characters kept as they are (``"\\n"`` for multi-line text).
    """
    if not any(_is_control(ch) and ch not in allow for ch in text):
        return text
    out = []
    for ch in text:
        if _is_control(ch) and ch not in allow:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def literal(text: object, style: str = ""):  # type: ignore[no-untyped-def]
    """A :class:`rich.text.Text` showing ``text`` exactly (no markup), control characters escaped."""
    from rich.text import Text

    return Text(printable(str(text)), style=style)
