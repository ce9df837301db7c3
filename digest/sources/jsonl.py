"""JSON Lines: one article object a line. A bad line is reported, the rest kept."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from digest.errors import InputError
from digest.models import Article
from digest.sources.base import (
    SourceResult,
    clean_title,
    html_to_text,
    keyword_list,
    make_guid,
    parse_published,
    summarise,
    trim_body,
)


def parse(text: str, where: str, zone: ZoneInfo) -> SourceResult:
    result = SourceResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        place = f"{where}:{number}"
        try:
            result.articles.append(_article(line, place, zone))
        except InputError as err:
            result.errors.append(err)
    return result


def _article(line: str, where: str, zone: ZoneInfo) -> Article:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(where, f"not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise InputError(where, "expected a JSON object")
    title = clean_title(str(obj.get("title") or ""))
    if not title:
        raise InputError(where, "article has no title")
    body = trim_body(html_to_text(str(obj.get("body") or obj.get("content") or "")))
    url = str(obj["url"]).strip() if obj.get("url") else None
    source = str(obj.get("source") or "")
    summary = html_to_text(str(obj.get("summary") or "")) or body
    return Article(
        guid=make_guid(url, obj.get("guid") and str(obj["guid"]), source, title),
        title=title,
        url=url,
        summary=summarise(summary),
        body=body,
        source=source,
        published=parse_published(obj.get("published"), zone, where),
        keywords=keyword_list(obj.get("keywords"), where),
    )
