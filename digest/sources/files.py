"""Article files and folders on disk: found, opened safely, and read by their kind.

A folder is read recursively, in name order; hidden files and folders, and a
folder's own README/LICENSE/CHANGELOG, are passed over. Only regular files are
opened, at most ``MAX_FILE_BYTES`` of them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.errors import InputError
from digest.models import Source
from digest.sources import feed, frontmatter, jsonl, webpage
from digest.sources.base import SourceResult, merge_keywords
from digest.sources.text import decode_text, unify_line_ends

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}
MAX_FILE_BYTES = 20 * 1024 * 1024


def read_local(target: str, zone: ZoneInfo, source: Source | None = None) -> SourceResult:
    """A file or a folder named by ``target``, or one error saying why it cannot be read."""
    if not target.strip():  # Path("") is the current folder: never what was meant
        return SourceResult(errors=[InputError(repr(target), "an empty name; nothing read")])
    path = Path(target)
    if path.is_symlink() and (reason := _unreadable_link(path)):
        return SourceResult(errors=[InputError(target, reason)])
    try:
        is_dir = path.is_dir()
    except OSError as err:  # a name too long
        return SourceResult(errors=[InputError(target, err.strerror or str(err))])
    if is_dir:
        return read_folder(path, zone, source)
    if not path.exists() and not path.is_symlink():
        return SourceResult(errors=[InputError(str(path), "no such file or folder")])
    return read_file(path, zone, source)


def read_folder(root: Path, zone: ZoneInfo, source: Source | None = None) -> SourceResult:
    """Every article file under ``root``, in name order, hidden files and folders aside.

    Symlinks to files are read; symlinks to folders are not followed (a
    warning), and a broken link or a link loop is an error naming it.
    """
    result = SourceResult()
    for found in sorted(_walk(root, result.errors)):
        child = found.path
        if found.error:
            result.errors.append(InputError(str(child), found.error))
        elif found.warning:
            result.warnings.append(InputError(str(child), found.warning))
        elif child.stem.upper() in ("README", "LICENSE", "CHANGELOG"):
            result.skipped.append(str(child))  # a folder's own documentation
        elif not _is_regular(child):
            result.errors.append(InputError(str(child), _NOT_REGULAR))
        elif child.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES | FEED_SUFFIXES:
            result.extend(read_file(child, zone, source))
        else:
            result.skipped.append(str(child))
    return result


@dataclass(frozen=True, order=True)
class _Found:
    """A file found in a folder walk, or a link with what is wrong with it."""

    path: Path
    error: str = ""
    warning: str = ""


def _walk(root: Path, errors: list[InputError]) -> list[_Found]:
    """Every file under ``root``; hidden entries are not entered.

    A loop over a stack, not recursion: a folder may nest deeper than
    Python's recursion limit. Symlinked folders are not entered, so a link
    can never lead the walk in a circle.
    """
    found: list[_Found] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                children = list(entries)
        except OSError as err:
            reason = f"cannot read the folder: {err.strerror or err}"
            errors.append(InputError(str(folder), reason))
            continue
        for entry in children:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError:
                is_link = is_dir = False  # read_file says what is wrong
            if is_link:
                found.append(_link_in_folder(path))
            elif is_dir:
                pending.append(path)
            else:
                found.append(_Found(path))
    return found


def _unreadable_link(link: Path) -> str | None:
    """Why following ``link`` leads to nothing (broken, or round in a circle), if it does."""
    try:
        link.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "link loop (it leads back to itself, or through too many links); not read"
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"broken link (its target {os.path.realpath(link)} does not exist)"
        return err.strerror or str(err)
    return None


def _link_in_folder(link: Path) -> _Found:
    """A symlink met in a folder walk: a file to read, or why it is not read."""
    reason = _unreadable_link(link)
    if reason:
        return _Found(link, error=reason)
    if not link.is_dir():
        return _Found(link)
    target, home = Path(os.path.realpath(link)), Path(os.path.realpath(link.parent))
    if target == home or target in home.parents:
        return _Found(link, error="link loop (a link to a folder that holds it); not followed")
    return _Found(link, warning="a link to a folder; not followed")


_NOT_REGULAR = "not a regular file (a FIFO, device or socket); not read"


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # a dangling link: reading it reports why


def read_bytes(path: Path, where: str) -> bytes:
    """A regular file's bytes, at most ``MAX_FILE_BYTES`` of them, or an ``InputError``.

    A FIFO would block forever and ``/dev/zero`` never ends, so only regular
    files are opened (checked again on the open descriptor, in case the name
    was swapped in between), and the size is found by reading one byte more
    than allowed rather than trusting ``stat``.
    """
    if not _is_regular(path):
        raise InputError(where, _NOT_REGULAR)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(where, _NOT_REGULAR)
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(where, f"larger than {MAX_FILE_BYTES // 2**20} MB; not read")
    return data


def read_file(path: Path, zone: ZoneInfo, source: Source | None = None) -> SourceResult:
    where = str(path)
    try:
        data = read_bytes(path, where)
    except InputError as err:
        return SourceResult(errors=[err])
    except OSError as err:
        return SourceResult(errors=[InputError(where, err.strerror or str(err))])
    return parse_file(data, path, zone, source)


def parse_file(
    data: bytes, path: Path, zone: ZoneInfo, source: Source | None = None
) -> SourceResult:
    """The articles in one file's bytes, by its kind; ``source`` says what to add to them."""
    where = str(path)
    source = source or Source(target=where)
    try:
        suffix = path.suffix.lower()
        if suffix in FEED_SUFFIXES or (
            suffix not in TEXT_SUFFIXES | JSONL_SUFFIXES and feed.looks_like_feed(data)
        ):
            return feed.parse(
                data,
                where,
                name=source.name,
                categories=source.categories,
                keywords=source.keywords,
                address=where,  # this file, also in a folder: a folder of feeds is many feeds
            )
        text = decode_text(data, where)
        if suffix in JSONL_SUFFIXES:
            return with_options(jsonl.parse(text, where, zone), source)
        if suffix in TEXT_SUFFIXES:
            text = unify_line_ends(text)  # Windows and old-Mac files too
            result = SourceResult()
            if frontmatter.has_front_matter(text) or suffix in (".md", ".markdown"):
                article = frontmatter.parse(text, where, zone, result.warnings)
            elif not text.strip():
                raise InputError(where, "the file is empty")
            else:
                article = webpage.parse(text, where, source.name, result.warnings)
            result.articles.append(article)
            return with_options(result, source)
        raise InputError(where, f"unknown kind of file ({path.suffix or 'no suffix'})")
    except InputError as err:
        return SourceResult(errors=[err])
    except OSError as err:
        return SourceResult(errors=[InputError(where, err.strerror or str(err))])


def with_options(result: SourceResult, source: Source) -> SourceResult:
    """A configured source's name (for articles that name none) and keywords, added."""
    if not (source.name or source.keywords):
        return result
    for index, item in enumerate(result.articles):
        changes: dict = {}
        if source.name and not item.source:
            changes["source"] = source.name
        if source.keywords:
            changes["keywords"] = merge_keywords(
                item.keywords, source.keywords, item.origin, result.warnings
            )
        result.articles[index] = dataclasses.replace(item, **changes)
    return result
