"""Markdown or text files that open with a YAML front matter block."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import yaml

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import (
    clean_title,
    keyword_list,
    make_guid,
    parse_published,
    strip_markdown,
    summarise,
    trim_body,
)

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*$\r?\n?", re.S | re.M)


def has_front_matter(text: str) -> bool:
    return FRONT_MATTER.match(text) is not None


def parse(text: str, where: str, zone: ZoneInfo) -> Article:
    match = FRONT_MATTER.match(text)
    if match is None:
        raise InputError(where, "no front matter block (--- ... ---) at the top")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 2})" if mark else ""
        raise InputError(where, f"front matter is not valid YAML{line}") from None
    if not isinstance(meta, dict):
        raise InputError(where, "front matter must be a mapping of keys to values")
    title = clean_title(str(meta.get("title") or ""))
    if not title:
        raise InputError(where, "front matter has no title")
    body = trim_body(strip_markdown(text[match.end() :]).strip())
    source = str(meta.get("source") or "")
    url = str(meta["url"]).strip() if meta.get("url") else None
    return Article(
        guid=make_guid(url, meta.get("guid") and str(meta["guid"]), source, title),
        title=title,
        url=url,
        summary=summarise(str(meta.get("summary") or "") or body),
        body=body,
        source=source,
        published=parse_published(meta.get("published") or meta.get("date"), zone, where),
        keywords=keyword_list(meta.get("keywords") or meta.get("tags"), where),
    )
