"""Removing terminal escape sequences (colours, cursor movement, hyperlinks) from kernel text."""

from __future__ import annotations

import re

_ESCAPE = re.compile(
    r"""
    \x1b\[[0-?]*[\ -/]*[@-~]              # CSI: colours, cursor movement, erasing
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)   # OSC: window titles, hyperlinks
    | \x1b[\ -/]*[0-~]                    # the rest: charset selection, keypad modes
    | \x1b                                # a stray or cut-off escape
    """,
    re.VERBOSE,
)


def strip_ansi(text: str) -> str:
    """`text` without its ANSI escape sequences."""
    if "\x1b" not in text:
        return text
    return _ESCAPE.sub("", text)
