"""Per-recipient personalisation: everything that must agree for a copy made by
substitution to read exactly like that recipient's copy rendered on its own.

A segment is rendered (and its CSS inlined, milliseconds a document) once, with
placeholders where each recipient's greeting and links go; each copy is then
made by plain string replacement: by ``Personalisation.fill``, by the MIME
template (``delivery/base.py``) or by SendGrid, from the substitutions it is
sent. Those three, the renderer and the size guard all ask the one
``Personalisation`` a renderer holds for its placeholders, for how each value is
escaped in each part, for the room each may take, and for how far a line grows
once they are in; none of them knows any of it on its own.

Values are escaped exactly as lxml serialises text and attributes, so a copy
made any of those ways is byte-identical to rendering it directly
(``tests/rendering/test_render.py`` checks).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from typing import NamedTuple, Protocol, TypeVar

from digest.config.settings import Settings
from digest.rendering import wording
from digest.rendering.links import PageLinks, ascii_url


class Personal(NamedTuple):
    """One recipient's values, raw: the template variables a copy fills in."""

    greeting: str
    unsubscribe_url: str
    preferences_url: str


FIELDS = Personal._fields


def greeting_for(name: str, template: str = wording.DEFAULT_GREETING, first_name: str = "") -> str:
    """A recipient's greeting: by ``first_name`` when they gave one, else by ``name`` whole."""
    # Capped, so one absurd name cannot push a SendGrid personalization past its
    # 10,000-byte substitution limit and fail the whole batch.
    return wording.greeting(
        template, " ".join(name.split())[:100], " ".join(first_name.split())[:100]
    )


def escape_text(value: str) -> str:
    # lxml writes text with only these three escaped; quotes stay as they are.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")


def escaped(values: Personal) -> tuple[str, str, str]:
    """``values`` as they land in HTML: the greeting is text, the links are ``href``s.
    The text part takes every value as it is."""
    greeting, unsubscribe, preferences = values
    return escape_text(greeting), escape_attr(unsubscribe), escape_attr(preferences)


class _Parts(Protocol):
    html: str
    text: str


Copy = TypeVar("Copy", bound=_Parts)  # renderer.Rendered: a subject, its HTML and text
Lines = list[tuple[int, dict[str, int]]]  # (octets, {placeholder: count}) per line holding one


class Personalisation:
    """The placeholders of one renderer's segments, and how a recipient's values replace them."""

    def __init__(self, settings: Settings) -> None:
        # A fresh nonce per renderer: article text cannot smuggle in a placeholder.
        # Short, because SendGrid carries them once per recipient (a million a send).
        # The text part has names of its own, since only HTML values are escaped and
        # some senders substitute into both parts at once (SendGrid, the MIME
        # template). No name contains another, or replacing one would garble it.
        nonce = secrets.token_hex(5)
        self.placeholders = {field: f"%%{nonce}{field[0]}%%" for field in FIELDS}
        self.text_placeholders = {field: f"%%{nonce}{field[0]}t%%" for field in FIELDS}
        self.template = settings.greeting
        self.pages = PageLinks(settings.public_url)
        # The most bytes a value can take in HTML (escaping "&" makes 5 of 1): what
        # the size guard keeps free for it wherever a placeholder stands.
        links = len(ascii_url(settings.public_url)) + 400  # + "/preferences/" + a token
        longest = {"greeting": len(settings.greeting) + 200}
        self.room = {
            self.placeholders[f]: 5 * longest.get(f, links) - len(self.placeholders[f])
            for f in FIELDS
        }
        self._html = tuple(self.placeholders.values())
        self._text = tuple(self.text_placeholders.values())
        self._all = (*self._html, *self._text)
        self._cut = re.compile("(" + "|".join(map(re.escape, self._all)) + ")")

    def greeting(self, name: str, first_name: str = "") -> str:
        """A recipient's greeting under this renderer's ``greeting`` setting."""
        return greeting_for(name, self.template, first_name)

    def values(self, name: str, token: str, first_name: str = "") -> Personal:
        """A recipient's values: their greeting, and the two pages their token opens."""
        return Personal(
            self.greeting(name, first_name),
            self.pages.unsubscribe(token),
            self.pages.preferences(token),
        )

    def substitutions(self, values: Personal) -> tuple[dict[str, str], dict[str, str]]:
        """``values`` by placeholder: (HTML's, escaped; the text part's, as they are)."""
        html = dict(zip(self._html, escaped(values), strict=True))
        return html, dict(zip(self._text, values, strict=True))

    def fill(self, segment: Copy, name: str, token: str, first_name: str = "") -> Copy:
        """One recipient's copy of ``segment``."""
        html, text = self.substitutions(self.values(name, token, first_name))
        return replace(
            segment, html=replace_all(segment.html, html), text=replace_all(segment.text, text)
        )

    def text_with_html_placeholders(self, text: str) -> str:
        """A segment's text part with the HTML placeholders' names, for a sender
        whose values need no escaping: one set of substitutions serves both parts."""
        return replace_all(text, dict(zip(self._text, self._html, strict=True)))

    def cut(self, text: str) -> list[str]:
        """``text`` cut at its placeholders: [text, placeholder, text, …, text].

        A copy is then one join with each placeholder's value in its place, one
        pass over a message rather than one per placeholder: most of the time a
        copy took, at a 50 KB message.
        """
        return self._cut.split(text)

    def lines(self, *bodies: str) -> tuple[int, Lines]:
        """(the longest line of ``bodies`` in octets, and each line that grows
        when values replace its placeholders, with its octets and placeholders)."""
        longest, growing = 0, []
        for body in bodies:
            for line in body.splitlines():
                size = len(line.encode("utf-8"))
                longest = max(longest, size)
                if "%%" in line:
                    counts = {p: line.count(p) for p in self._all if p in line}
                    if counts:
                        growing.append((size, counts))
        return longest, growing

    @staticmethod
    def grown(lines: Lines, substitutions: dict[str, str]) -> int:
        """The longest of ``lines`` in octets once ``substitutions`` are in."""
        longest = 0
        for size, counts in lines:
            for placeholder, n in counts.items():
                size += n * (len(substitutions[placeholder].encode("utf-8")) - len(placeholder))
            longest = max(longest, size)
        return longest


def replace_all(text: str, values: dict[str, str]) -> str:
    """``text`` with every placeholder in ``values`` replaced by its value."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text
