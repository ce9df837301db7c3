"""Each piece of an edition's email rendered, and its CSS inlined, once.

A million subscribers choosing their own topics and times make tens of
thousands of segments, and rendering plus inlining a whole email took about
14 ms each: most of a send's time. But a story's block, a section's heading
or the footer is the same in every segment that shows it. So the templates
are pieces (``parts.html.j2``, ``parts.txt.j2``) that a short body template
(``digest.html.j2``, ``digest.txt.j2``) calls in order, as ``parts.NAME(…)``,
and each distinct call is rendered once per edition; a segment's email is the
body run once more, joining pieces already made (well under a millisecond).

The HTML pieces must be inlined in their place in a whole email: premailer
applies rules such as ``.toc a`` by ancestry, and lxml's line breaks depend
on neighbours. So a segment with pieces not yet seen is rendered whole once
with a marker between its pieces (text, which changes no neighbour's
serialisation, where a comment would), inlined once, and cut at the markers.
Joined pieces are then byte-identical to inlining that segment whole, which
``tests/rendering/test_fragments.py`` checks over random segments.

Values that differ in every segment but are printed as they are (the
subject, the preheader, the "View in your browser" link, the topics a
subscriber chose) go in as placeholders (``Slots``), so the pieces holding
them are shared too; they are filled in, escaped as lxml writes them, once
the segment is joined.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from markupsafe import Markup

from digest.rendering.inlining import inline_css
from digest.rendering.personal import escape_attr, escape_text


class NotComposed(Exception):
    """The email cannot be made from its pieces: render and inline it whole.

    An operator's own template that prints anything between its pieces (or
    uses no pieces at all) never can (``lasting``); a segment whose values
    lxml would not write back as ``escape_text`` does (a control character)
    cannot, once.
    """

    def __init__(self, reason: str, lasting: bool = False) -> None:
        super().__init__(reason)
        self.lasting = lasting


def call_key(name: str, args: tuple, kwargs: dict) -> tuple:
    """The cache key of one ``parts.NAME(*args, **kwargs)`` call: equal keys, equal output.

    Strings, numbers and None by value (a ``Markup`` string apart from a ``str``,
    which would be escaped), a list by its items, anything else (an article) by
    identity: its piece's entry keeps it alive, so the identity stays its own.
    Articles are not changed once an edition's content is built. Called for every
    piece of every segment, so written for speed.
    """
    key = [name]
    for value in (*args, *kwargs.items()) if kwargs else args:
        kind = value.__class__
        if kind is str or kind is int or kind is bool or value is None:
            key.append(value)
        elif kind is list or kind is tuple:
            key.append(tuple([_item(v) for v in value]))
        else:
            key.append(_item(value))
    return tuple(key)


def _item(value: Any) -> Any:
    kind = value.__class__
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is Markup:
        return ("markup", value)
    if kind is list or kind is tuple:
        return tuple([_item(v) for v in value])
    return ("id", id(value))


class Pieces:
    """One edition's pieces in one format: each macro call rendered once."""

    def __init__(self, env: jinja2.Environment, template: str, context: Mapping[str, Any]):
        self.env = env
        self.template = template
        self.context = dict(context)
        self._module: Any = None
        self.raw: dict[Any, Markup] = {}
        self._kept: list[Any] = []  # the arguments of every piece, so their ids stay theirs

    def macro(self, name: str) -> Callable[..., str]:
        if self._module is None:
            self._module = self.env.get_template(self.template).make_module(self.context)
        found = getattr(self._module, name, None)
        if not callable(found):
            raise jinja2.UndefinedError(f"{self.template} has no macro {name!r}")
        return found

    def render(self, name: str, args: tuple, kwargs: dict) -> tuple[Any, str]:
        """(the call's key, its output), rendered on the first call only."""
        key = call_key(name, args, kwargs)
        raw = self.raw.get(key)
        if raw is None:
            self.raw[key] = raw = Markup(self.macro(name)(*args, **kwargs))
            self._kept.append((args, kwargs))
        return key, raw


class _Calls:
    """What a body template calls ``parts``: a macro by attribute, through ``call``."""

    def __init__(self, call: Callable[[str, tuple, dict], str]) -> None:
        self._call = call

    def __getattr__(self, name: str) -> Callable[..., Markup]:
        if name.startswith("_"):
            raise AttributeError(name)
        bound = functools.partial(self._call, name)
        setattr(self, name, bound)  # the next call of the same macro skips __getattr__
        return bound


def direct(pieces: Pieces) -> _Calls:
    """``parts`` for a whole render: each call is its macro's output, made anew."""
    return _Calls(lambda name, *a, **k: Markup(pieces.macro(name)(*a, **k)))


def cached(pieces: Pieces) -> _Calls:
    """``parts`` for the text part: nothing to inline, so each call is only cached."""
    return _Calls(lambda name, *a, **k: pieces.render(name, a, k)[1])


class HtmlPieces(Pieces):
    """The HTML pieces, each inlined once, in its place in a whole email."""

    def __init__(self, env: jinja2.Environment, template: str, context: Mapping[str, Any]):
        super().__init__(env, template, context)
        self.inlined: dict[Any, Markup] = {}
        nonce = secrets.token_hex(4)
        self._marker = "\ue000" + nonce + "{}\ue001"
        self._cut = re.compile("\ue000" + nonce + r"(\d+)\ue001")
        self._closed: dict[Any, bool] = {}

    def _balanced(self, key: Any, raw: str) -> bool:
        if key not in self._closed:
            self._closed[key] = balanced(raw)
        return self._closed[key]

    def compose(self, body: Callable[[_Calls], str]) -> str:
        """The email ``body`` makes, from inlined pieces; ``body`` renders the body
        template with the ``parts`` it is given. Raises ``NotComposed``."""
        html, complete, joined = self._joined(body)
        if not complete:
            self._inline_whole(body)
            html, complete, joined = self._joined(body)
        if not complete or joined != len(html):
            raise NotComposed("the email is not only its pieces", lasting=True)
        return html

    def _joined(self, body: Callable[[_Calls], str]) -> tuple[str, bool, int]:
        """(the email from the pieces known, whether every piece was, their length)."""
        missing = False
        length = 0

        def call(name: str, *args: Any, **kwargs: Any) -> Markup:
            nonlocal missing, length
            piece = self.inlined.get(call_key(name, args, kwargs))
            if piece is None:
                missing = True
                return Markup("")
            length += len(piece)
            return piece

        html = body(_Calls(call))
        return html, not missing, length

    def _inline_whole(self, body: Callable[[_Calls], str]) -> None:
        """Inline the email once, marked between its pieces, and keep each piece.

        Pieces already inlined that close every element they open are left
        out: a sibling row's absence changes no other piece. Those that open
        or close an element (the head, the contents line's ends) stay, as the
        context of the new ones.
        """
        keys: list[Any] = []

        def call(name: str, *args: Any, **kwargs: Any) -> Markup:
            key, raw = self.render(name, args, kwargs)
            if key in self.inlined and self._balanced(key, raw):
                return Markup("")
            keys.append(key)
            # No marker before the first piece: text before <!DOCTYPE> would move.
            mark = self._marker.format(len(keys) - 1) if len(keys) > 1 else ""
            return Markup(mark + raw)

        inlined = inline_css(body(_Calls(call)))
        cut = self._cut.split(inlined)
        found = [int(n) for n in cut[1::2]]
        if found != list(range(1, len(keys))):
            raise NotComposed("premailer moved the markers between the pieces")
        for key, piece in zip(keys, cut[0::2], strict=True):
            self.inlined.setdefault(key, Markup(piece))


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"]
)


def balanced(html: str) -> bool:
    """Whether ``html`` closes every element it opens (comments aside)."""
    depth = 0
    for closing, name, self_closed in _TAG.findall(_COMMENT.sub("", html)):
        if name.lower() in _VOID or self_closed:
            continue
        depth += -1 if closing else 1
        if depth < 0:
            return False
    return depth == 0


# C0 controls but tab and newline, CR, DEL, lone surrogates and two noncharacters:
# lxml drops or rewrites them, so a value holding one is not written as escaped.
_UNWRITTEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


class Slots:
    """Placeholders for the values a segment prints as they are, and their filling."""

    FIELDS = ("subject", "preheader", "view_url", "topics")

    def __init__(self) -> None:
        nonce = secrets.token_hex(5)
        self.names = {field: f"%%{nonce}{field[0]}s%%" for field in self.FIELDS}
        self._cut = re.compile("|".join(map(re.escape, self.names.values())))
        self._field = {name: field for field, name in self.names.items()}

    def html(self, values: Mapping[str, str]) -> dict[str, str]:
        """Each value's replacement in the HTML: the view link is an attribute."""
        if any(_UNWRITTEN.search(v) for v in values.values()):
            raise NotComposed("a value lxml would rewrite")
        return {
            self.names[f]: escape_attr(v) if f == "view_url" else escape_text(v)
            for f, v in values.items()
        }

    def text(self, values: Mapping[str, str]) -> dict[str, str]:
        return {self.names[f]: v for f, v in values.items()}

    def fill(self, body: str, replacements: Mapping[str, str]) -> str:
        return self._cut.sub(lambda m: replacements[m.group(0)], body)
