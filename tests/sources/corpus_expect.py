"""feedparser's test corpus: its files, their ``Expect:`` lines, and the copies judged.

Which parts of an expectation are about a field digest keeps is decided here
(``parts``); ``feedparser_corpus`` evaluates them on what digest stored. An
entry without a title is judged on a copy with one (``with_titles``): digest
refuses an entry with neither title nor text. A feed without entries is judged
on a copy with one (``with_an_entry``): digest keeps a feed's title only as its
articles' source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "feedparser"
DISAGREEMENTS = ROOT / "tests" / "data" / "feedparser-disagreements.toml"
ADDED_TITLE = "Corpus entry"  # the title given to an entry that has none
_EXPECT = re.compile(r"Description:\s*(.*?)\s*Expect:\s*(.*)\s*-->")
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.M)
# feedparser's result names for the fields digest keeps (old names included).
ENTRY_FIELDS = {
    "title": "title",
    "title_detail": "title",
    "link": "link",
    "id": "id",
    "guid": "id",
    "summary": "summary",
    "description": "summary",
    "summary_detail": "summary",
    "content": "content",
    "published": "published",
    "published_parsed": "published",
    "issued": "published",
    "issued_parsed": "published",
    "updated": "updated",
    "updated_parsed": "updated",
    "modified": "updated",
    "modified_parsed": "updated",
    "date": "updated",
    "date_parsed": "updated",
    "tags": "tags",
    "category": "tags",
}
FEED_FIELDS = {"title": "source", "title_detail": "source"}
ROOTS = {"entries": "entries", "items": "entries", "feed": "feed", "channel": "feed"}


# -- the corpus files ---------------------------------------------------------------


def corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md")
    )


def name_of(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix() if path.is_relative_to(CORPUS) else path.name


def text_of(data: bytes) -> str:
    """The file as feedparser's own tests read it: by its byte-order mark, else UTF-8."""
    for mark, codec in (
        (b"\x00\x00\xfe\xff", "utf-32be"),
        (b"\xff\xfe\x00\x00", "utf-32le"),
        (b"\x00\x00\x00\x3c", "utf-32be"),
        (b"\x3c\x00\x00\x00", "utf-32le"),
        (b"\x00\x3c\x00\x3f", "utf-16be"),
        (b"\x3c\x00\x3f\x00", "utf-16le"),
        (b"\xfe\xff", "utf-16be"),
        (b"\xff\xfe", "utf-16le"),
    ):
        if data.startswith(mark):
            return data.decode(codec, errors="ignore")
    return data.decode("utf-8", errors="ignore")


def expectation(data: bytes) -> str | None:
    found = _EXPECT.search(text_of(data))
    return found.group(2).strip() if found else None


def headers_of(data: bytes) -> dict[str, str]:
    return {k: v.strip() for k, v in _HEADER.findall(text_of(data))}


# -- which parts of an expectation are digest's business ----------------------------


def path_of(node: ast.AST) -> tuple | None:
    """``entries[0]['title_detail'].value`` as ("entries", 0, "title_detail", "value")."""
    parts: list = []
    while True:
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            parts.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            parts.append(node.args[0].value)
            node = node.func.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return tuple(reversed(parts))
        else:
            return None


def kept_field(path: tuple) -> str | None:
    """The digest field a path of feedparser's result names, or None if digest keeps none."""
    where = ROOTS.get(path[0])
    if where == "entries" and len(path) >= 3 and isinstance(path[1], int):
        name, rest = ENTRY_FIELDS.get(path[2]), path[3:]
        if path[2].endswith("_detail") and rest[:1] != ("value",):
            return None  # its type, language or base: not kept
        if name == "content" and (len(rest) < 2 or rest[1] != "value"):
            return None if rest else name
        if name == "tags" and rest and rest[-1] != "term" and not isinstance(rest[-1], int):
            return None  # a tag's scheme or label
        return name and f"entries[{path[1]}].{name}"
    if where == "feed" and len(path) >= 2:
        name, rest = FEED_FIELDS.get(path[1]), path[2:]
        if rest and rest != ("value",):
            return None
        return name and f"feed.{name}"
    return None


def parts(expression: str) -> list[tuple[str, list[str]]]:
    """The ``and``-parts of an expectation that are only about fields digest keeps."""
    tree = ast.parse(expression, mode="eval").body
    both = isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And)
    conjuncts = tree.values if both else [tree]
    found = []
    for part in conjuncts:
        paths = [path_of(n) for n in ast.walk(part)]
        paths = [p for p in paths if p and p[0] in ROOTS and p[-1] != "get"]  # x.get(...)
        longest = [p for p in paths if not any(q != p and q[: len(p)] == p for q in paths)]
        fields = [kept_field(p) for p in longest]
        if fields and all(fields):
            found.append((ast.unparse(part), sorted(set(fields))))
    return found


_ENTRY = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)(item|entry)\b[^>]*?(?<!/)>", re.I)


def with_titles(data: bytes, entries: list | None = None) -> bytes:
    """A copy of the feed with a title given to each entry that has none (ASCII-based files).

    ``entries``: feedparser's entries of ``data`` (read here when not given); an entry
    with no title there gets one, in place of a blank ``<title>`` if it has one. The
    feed is left as it is when its entries cannot be told apart in the bytes.
    """
    if data.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00", b"\x3c\x00")):
        return data
    if entries is None:
        entries = feedparser.parse(data).entries
    starts = list(_ENTRY.finditer(data))
    if len(starts) != len(entries):
        return data
    pieces, at = [], 0
    for entry, match in zip(entries, starts, strict=True):
        if entry.get("title"):
            continue
        prefix, tag = match.group(1), match.group(2)
        title = b"<%stitle>%s</%stitle>" % (prefix, ADDED_TITLE.encode(), prefix)
        end = data.find(b"</" + prefix + tag, match.end())
        blank = re.compile(rb"<%stitle\b[^>]*?(?:/>|>\s*</%stitle\s*>)" % (prefix, prefix), re.I)
        found = blank.search(data, match.end(), end if end >= 0 else len(data))
        if found:
            pieces += [data[at : found.start()], title]
            at = found.end()
        else:
            pieces += [data[at : match.end()], title]
            at = match.end()
    pieces.append(data[at:])
    return b"".join(pieces)


_END = re.compile(
    rb"</((?:[A-Za-z_][\w.-]*:)?)(channel|feed|rdf:RDF)\s*>\s*(?:</rss\s*>?)?\s*$", re.I
)


def with_an_entry(data: bytes) -> bytes:
    """A copy of a feed without entries, with one titled entry: its title is then stored."""
    found = _END.search(data)
    if not found:
        return data
    prefix, tag = found.group(1), found.group(2).lower()
    item = b"entry" if tag == b"feed" else b"item"
    if tag == b"channel" and prefix:
        prefix = b""
    entry = b"<%s%s><%stitle>%s</%stitle></%s%s>" % (
        prefix, item, prefix, ADDED_TITLE.encode(), prefix, prefix, item,
    )  # fmt: skip
    return data[: found.start()] + entry + data[found.start() :]
