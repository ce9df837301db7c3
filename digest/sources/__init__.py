"""Where articles come from: one module per input kind, one ``read`` for them all.

``read(target)`` takes a file, a folder (read recursively, in name order) or
an http(s) feed URL and returns a ``SourceResult``: good articles plus one
``InputError`` per file, line or entry that could not be used, so a single
bad input never stops the rest.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

from digest import __version__
from digest.errors import InputError
from digest.sources import feed, frontmatter, jsonl, webpage
from digest.sources.base import SourceResult, decode

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024

__all__ = ["SourceResult", "read"]


def read(target: str, zone: ZoneInfo, timeout: float = 30.0) -> SourceResult:
    if re.match(r"^https?://", target, re.I):
        return read_url(target, timeout)
    path = Path(target)
    if path.is_dir():
        result = SourceResult()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in child.relative_to(path).parts):
                continue
            if child.stem.upper() in ("README", "LICENSE", "CHANGELOG"):
                result.skipped.append(str(child))  # a folder's own documentation
                continue
            if child.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES | FEED_SUFFIXES:
                result.extend(read_file(child, zone))
            else:
                result.skipped.append(str(child))
        return result
    if not path.exists():
        return SourceResult(errors=[InputError(str(path), "no such file or folder")])
    return read_file(path, zone)


def read_file(path: Path, zone: ZoneInfo) -> SourceResult:
    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(where, f"larger than {MAX_FILE_BYTES // 2**20} MB")
        data = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix in FEED_SUFFIXES or (
            suffix not in TEXT_SUFFIXES | JSONL_SUFFIXES and feed.looks_like_feed(data)
        ):
            return feed.parse(data, where)
        text = decode(data)
        if suffix in JSONL_SUFFIXES:
            return jsonl.parse(text, where, zone)
        if suffix in TEXT_SUFFIXES:
            if frontmatter.has_front_matter(text) or suffix in (".md", ".markdown"):
                return SourceResult(articles=[frontmatter.parse(text, where, zone)])
            if not text.strip():
                raise InputError(where, "the file is empty")
            return SourceResult(articles=[webpage.parse(text, where, path.stem)])
        raise InputError(where, f"unknown kind of file ({path.suffix or 'no suffix'})")
    except InputError as err:
        return SourceResult(errors=[err])
    except OSError as err:
        return SourceResult(errors=[InputError(where, err.strerror or str(err))])


def read_url(url: str, timeout: float) -> SourceResult:
    request = urllib.request.Request(url, headers={"User-Agent": f"digest/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(MAX_FILE_BYTES + 1)
            final_url = response.geturl()
    except urllib.error.HTTPError as err:
        return SourceResult(errors=[InputError(url, f"HTTP {err.code} {err.reason}")])
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        return SourceResult(errors=[InputError(url, f"cannot fetch: {reason}")])
    if len(data) > MAX_FILE_BYTES:
        return SourceResult(errors=[InputError(url, "feed larger than 20 MB")])
    return feed.parse(data, url, base_url=final_url)
