"""Markdown or text files that open with a YAML front matter block.

The block is untrusted YAML, read by a SafeLoader that also refuses aliases
and anchors: a kilobyte of nested aliases (a "billion laughs") would
otherwise expand to a keyword list of tens of megabytes. Front matter never
needs them. The block's size and nesting are capped for the same reason.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import yaml

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import keyword_list, make_article, parse_published, text_value
from digest.sources.text import MAX_BODY_CHARS, strip_markdown, unify_line_ends

# Matched after ``unify_line_ends``: with a "\r" left before each "\n", "$" would never match.
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)
MAX_FRONT_MATTER = 64 * 1024  # characters; real blocks are a few hundred
MAX_DEPTH = 20  # nesting of lists and mappings; real blocks use two


_OTHER_LINE_ENDS = {0x85: " ", 0x2028: " ", 0x2029: " "}


class _Refused(yaml.YAMLError):
    """A well-formed block that uses what front matter may not."""


class FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader without aliases or anchors, with bounded nesting and forgiving dates."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise _Refused(
                f"front matter uses YAML aliases or anchors (&name, *name; line {mark.line + 2}),"
                " which digest does not accept"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"front matter is nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _timestamp(loader: FrontMatterLoader, node):
    # "2026-13-45" looks like a YAML date but is none: keep the text, so that
    # the article is kept and the date alone reported, instead of a ValueError.
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def has_front_matter(text: str) -> bool:
    return FRONT_MATTER.match(unify_line_ends(text)) is not None


def parse(
    text: str, where: str, zone: ZoneInfo, warnings: list[InputError] | None = None
) -> Article:
    """The article in a front matter file; what had to change is added to ``warnings``."""
    warnings = [] if warnings is None else warnings
    text = unify_line_ends(text)
    match = FRONT_MATTER.match(text)
    if match is None:
        raise InputError(where, "no front matter block (--- ... ---) at the top")
    meta = load(match.group(1), where)
    body = strip_markdown(text[match.end() : match.end() + MAX_BODY_CHARS + 1])
    return make_article(
        where,
        warnings,
        title=text_value(meta, "title", where, warnings),
        url=text_value(meta, "url", where, warnings) or None,
        guid=text_value(meta, "guid", where, warnings) or None,
        summary=text_value(meta, "summary", where, warnings),
        body=body,
        source=text_value(meta, "source", where, warnings),
        published=parse_published(meta.get("published") or meta.get("date"), zone, where, warnings),
        keywords=keyword_list(meta.get("keywords") or meta.get("tags"), where, warnings),
    )


def load(block: str, where: str) -> dict:
    """The front matter as a mapping, or an ``InputError`` saying what is wrong with it."""
    if len(block) > MAX_FRONT_MATTER:
        raise InputError(where, f"front matter larger than {MAX_FRONT_MATTER // 1024} KB")
    # YAML also ends lines at NEL, LS and PS; the fences do not. Inside a value they
    # are spaces, so a title holding one is kept and line numbers match the file's.
    block = block.translate(_OTHER_LINE_ENDS)
    try:
        meta = yaml.load(block, Loader=FrontMatterLoader) or {}  # a SafeLoader
    except _Refused as err:
        raise InputError(where, str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 2})" if mark else ""
        raise InputError(where, f"front matter is not valid YAML{line}") from None
    except (ValueError, OverflowError, RecursionError):
        raise InputError(where, "front matter is not valid YAML") from None
    if not isinstance(meta, dict):
        raise InputError(where, "front matter must be a mapping of keys to values")
    return meta
