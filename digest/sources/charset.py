"""Which encoding a feed is in, and the feed as UTF-8 for both readers.

A feed can name its encoding in three places, and they often disagree. Which
wins follows RFC 7303 (XML media types), as feedparser and browsers read it:

1. A byte-order mark (UTF-8, UTF-16, UTF-32), or a document that begins ``<?``
   in UTF-16 or UTF-32 without one: the bytes can be nothing else.
2. Served as XML (``text/xml``, ``application/xml``, any ``…+xml``): the HTTP
   ``charset``, the server's word on what it sends (RFC 7303 §3).
3. The XML declaration's ``encoding``.
4. Served as anything else (``text/html``, ``text/plain``): the HTTP charset.
   Such a server does not know it sends XML; its charset is its default for
   every file, so the document's own word goes first.
5. UTF-8, XML's default.

A label is passed over when the bytes cannot be in it: UTF-8 that is not valid
UTF-8, ASCII with a byte above 127, UTF-16 named by a declaration that was just
read as ASCII, a name that is no character set. When all are passed over:

6. Bytes that are mostly UTF-8 (no fewer UTF-8 characters than stray bytes)
   are read as UTF-8, and each byte that is not part of UTF-8 as Windows-1252:
   a feed pieced together from both reads right in each piece.
7. Else chardet's guess, as feedparser does (a KOI8-R or Shift_JIS feed that
   names no encoding); a guess of one Latin encoding or another, or one chardet
   is not sure of, is taken as Windows-1252: on short text it cannot tell.
8. Else UTF-8 with Windows-1252, as in 6.

Labels are read as browsers read them (the WHATWG Encoding Standard): a feed
labelled ISO-8859-1 or Windows-1252 as Windows-1252, GB2312 as GB18030, EUC-KR,
Shift_JIS, Big5, ISO-8859-9 and TIS-620 as the Windows encodings that extend
them. Text so labelled is nearly always the wider one ("don’t", "€").

Both readers are given the result as UTF-8 whose declaration says so, so lxml
and feedparser never choose an encoding of their own and read the same text.
"""

from __future__ import annotations

import codecs
import functools
import re

import chardet

from digest.sources.text import decode_windows_1252

_MARKS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_UNMARKED = (  # "<" or "<?" without a mark (XML 1.0, appendix F)
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_XML_TYPES = {
    "text/xml",
    "application/xml",
    "text/xml-external-parsed-entity",
    "application/xml-external-parsed-entity",
    "application/xml-dtd",
}
# What browsers read these labels as (Python's names for the codecs).
_WIDER = {
    "iso8859-1": "windows-1252",
    "cp1252": "windows-1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "utf-8-sig": "utf-8",
}
# Encodings chardet tells apart badly on short text: a guess of any is Windows-1252.
_LATIN = {
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)),
    *("cp1250", "cp1254", "cp1257", "cp437", "cp850", "cp858", "latin-1", "windows-1252"),
    *("mac-roman", "mac-latin2", "mac-iceland", "mac-turkish", "mac-croatian", "mac-romanian"),
    "hp-roman8",
}
# chardet's confidence below which a guess is no better than Windows-1252: it
# says 0.02 to 0.04 for Latin text it takes for Hebrew or Central European, and
# 0.1 to 1.0 for the KOI8-R, EUC-JP, GB2312 and TIS-620 of feedparser's corpus.
_SURE = 0.05
_GUESS_FROM = 256 * 1024  # bytes chardet looks at: enough, and fast on a 20 MB feed
_HIGH = bytes(range(0x80, 0x100))
# Python codecs that turn text into text but name no character set a feed can be in.
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "utf-7", "undefined"}
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,39}")
_DECLARED = re.compile(rb"""\s*<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([^"'>]*)\1""")
_DECLARATION = re.compile(r"""\A(\s*<\?xml\s[^>]*?\bencoding\s*=\s*)(["'])[^"'>]*\2""")
# The name of what is read as UTF-8, with Windows-1252 for bytes that are not UTF-8.
PIECED = "utf-8+windows-1252"
# A byte that is not part of UTF-8, as "surrogateescape" leaves it (U+DC80–U+DCFF),
# as Windows-1252: all in C, where an error handler called for each such byte
# would take 18 s over a hostile 17 MB feed.
_STRAY_AS_WINDOWS_1252 = {0xDC00 + b: decode_windows_1252(bytes([b])) for b in range(0x80, 0x100)}


def to_utf8(data: bytes, content_type: str = "") -> bytes:
    """The feed in ``data`` as UTF-8 that says so; ``content_type`` is the HTTP header.

    A feed that is UTF-8 already, and says so or says nothing, is given back
    as it is: most are, and a 20 MB feed is then not copied.
    """
    text, encoding = decode(data, content_type)
    declared = _declared_label(data)
    if encoding == "utf-8" and (declared is None or declared.lower() in ("utf-8", "utf8")):
        return data  # valid UTF-8 (a UTF-8 mark is fine with both readers)
    return _DECLARATION.sub(r"\1\2utf-8\2", text, count=1).encode("utf-8")


def decode(data: bytes, content_type: str = "") -> tuple[str, str]:
    """The feed's text, and the name of the encoding it was read in (see the module's rules)."""
    for mark, encoding in _MARKS:
        if data.startswith(mark):
            return _as_marked(data[len(mark) :], encoding)
    for start, encoding in _UNMARKED:
        if data.startswith(start):
            return _as_marked(data, encoding)
    media, charset = parse_content_type(content_type)
    declared = _declared_label(data)
    xml = media in _XML_TYPES or media.endswith("+xml")
    for label in (charset, declared) if xml else (declared, charset):
        encoding = codec(label) if label else None
        if encoding is None or not _ascii_compatible(encoding):
            continue
        text = _read(data, encoding)
        if text is not None:
            return text, encoding
    return _unlabelled(data)


def parse_content_type(value: str) -> tuple[str, str]:
    """The media type (lower case) and the ``charset`` of a Content-Type header ("" if none).

    Lenient as servers need: ``charset = "us-ascii"``, ``charset='x'`` are read;
    a ``charset:x`` is no parameter, and is not.
    """
    media, *params = value.split(";")
    charset = ""
    for param in params:
        key, equals, found = param.partition("=")
        if equals and key.strip().lower() == "charset":
            charset = found.strip().strip("\"'").strip()
    return media.strip().lower(), charset


@functools.lru_cache(maxsize=128)
def codec(label: str) -> str | None:
    """Python's codec for text labelled ``label``, widened as browsers widen it; None
    for a name that is no character set (``base64``, ``punycode``, ``bogus``)."""
    if not _LABEL.fullmatch(label):
        return None
    try:
        name = codecs.lookup(label).name
        b"".decode(name)  # a LookupError for bytes-to-bytes codecs (zlib, base64, hex)
    except LookupError:
        return None
    if name in _NOT_CHARSETS:
        return None
    return _WIDER.get(name, name)


@functools.lru_cache(maxsize=128)
def _ascii_compatible(encoding: str) -> bool:
    """Whether ASCII text is the same bytes in ``encoding``: a declaration read as
    ASCII, or a document that begins like ASCII, cannot be in UTF-16 or EBCDIC."""
    sample = "<?xml version='1.0'?><rss>"
    try:
        return sample.encode(encoding) == sample.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def _declared_label(data: bytes) -> str | None:
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    found = _DECLARED.match(data, start, start + 1024)
    if found is None:
        return None
    return found.group(2).decode("ascii", errors="replace").strip()


def _unlabelled(data: bytes) -> tuple[str, str]:
    """``data`` that no label is true of: UTF-8 if it is, then rules 6 to 8 above."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Counted in C: each stray byte is a surrogate, three bytes once encoded again.
    escaped = data.decode("utf-8", errors="surrogateescape")
    stray = (len(escaped.encode("utf-8", errors="surrogatepass")) - len(data)) // 2
    ascii_bytes = len(data.translate(None, _HIGH))
    utf8_characters = len(escaped) - ascii_bytes - stray
    if utf8_characters < stray:  # rule 7: not mostly UTF-8
        guess = chardet.detect(data[:_GUESS_FROM])
        encoding = codec(guess.get("encoding") or "")
        if encoding in _LATIN or (guess.get("confidence") or 0) < _SURE:
            encoding = "windows-1252"
        if encoding and encoding not in ("utf-8", "ascii") and _ascii_compatible(encoding):
            text = _read(data, encoding)
            if text is not None:
                return text, encoding
    return escaped.translate(_STRAY_AS_WINDOWS_1252), PIECED


def _read(data: bytes, encoding: str) -> str | None:
    """``data`` in ``encoding``, or None if it cannot be in it."""
    if encoding == "windows-1252":
        return decode_windows_1252(data)
    if encoding == "ascii" and not data.isascii():
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _as_marked(data: bytes, encoding: str) -> tuple[str, str]:
    """``data`` in the encoding its mark (or XML's default) says, and that encoding's
    name: a byte that is not UTF-8 is Windows-1252 (``PIECED``); broken UTF-16 or
    UTF-32 is replaced, not fatal."""
    if encoding != "utf-8":
        return data.decode(encoding, errors="replace"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        escaped = data.decode("utf-8", errors="surrogateescape")
        return escaped.translate(_STRAY_AS_WINDOWS_1252), PIECED
