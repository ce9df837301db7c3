"""The plain-text part's line breaking: wrapped by what a terminal shows, not by ``len``.

A mail reader shows the text part in a monospaced font, where a CJK character
or a full-width form takes two columns and a combining accent none. Python's
``textwrap`` counts code points, so a Chinese title it wrapped at 72 ran to 144
columns. Links are never broken (a broken link is a dead link): one that does
not fit goes on a line of its own, however long. A word with no spaces that
is not a link (Chinese and Japanese are written without them) is broken where
it reaches the edge.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

WIDTH = 72  # where text is wrapped: RFC 3676's suggestion, room for a "> " quote
LINK_PREFIXES = ("http://", "https://", "mailto:")


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Columns a terminal gives ``char``: 0 for a combining or format mark, 2 wide, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def width(text: str) -> int:
    """The display width of ``text`` in columns."""
    if text.isascii():
        return len(text)
    return sum(char_width(c) for c in text)


def is_link(word: str) -> bool:
    return word.lower().startswith(LINK_PREFIXES)


def _split_wide(word: str, room: int, full: int) -> list[str]:
    """``word`` in pieces, the first at most ``room`` columns, the rest at most ``full``."""
    pieces, current, used, limit = [], "", 0, max(room, 1)
    for char in word:
        w = char_width(char)
        if current and used + w > limit:
            pieces.append(current)
            current, used, limit = "", 0, max(full, 1)
        current += char
        used += w
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, columns: int = WIDTH, indent: str = "", first: str | None = None) -> str:
    """``text`` with its white space folded and its lines broken at ``columns``.

    ``first`` prefixes the first line (default ``indent``), ``indent`` the
    others; a link goes whole on its own line when it does not fit.
    """
    if not text.split():
        return ""
    first = indent if first is None else first
    lines: list[str] = []
    line, used = first, width(first)
    fresh = True  # nothing but the prefix on this line yet
    for word in text.split():
        w = width(word)
        gap = 0 if fresh else 1
        if used + gap + w <= columns:
            line, used, fresh = line + " " * gap + word, used + gap + w, False
            continue
        if not fresh:
            lines.append(line)
            line, used, fresh = indent, width(indent), True
        if used + w <= columns or is_link(word):
            line, used, fresh = line + word, used + w, False
            continue
        pieces = _split_wide(word, columns - used, columns - width(indent))
        for piece in pieces[:-1]:
            lines.append(line + piece)
            line, used = indent, width(indent)
        line, used, fresh = line + pieces[-1], used + width(pieces[-1]), False
    if not fresh:
        lines.append(line)
    return "\n".join(lines)


def underline(heading: str, char: str = "=") -> str:
    """A rule as wide as the widest line of ``heading`` shows (at most the wrapping width)."""
    return char * min(max(width(line) for line in heading.splitlines() or [""]), WIDTH)
