"""Text as sources give it: bytes decoded, HTML reduced to paragraphs, summaries cut.

Shared by every input kind (and by the subscribers CSV reader, for ``decode``).
"""

from __future__ import annotations

import codecs
import html
import re

import nh3

from digest.errors import InputError
from digest.validate import clean_block

CP1252_UNDEFINED = {b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"}
# Longest article body we keep; the rest of a huge export is dropped at a paragraph end.
MAX_BODY_CHARS = 200_000
SUMMARY_CHARS = 320
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes) -> str:
    """Text as its author meant it: by its byte-order mark, else UTF-8, else Windows-1252.

    Windows-1252 is what "ANSI" exports from newsroom tools are; it is a
    superset of Latin-1's printable range, and the few bytes it leaves
    undefined fall back to Latin-1 so nothing is lost. UTF-16 and UTF-32 are
    recognised only by their mark (what Windows' "Unicode" saves).
    """
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_windows_1252(data)


def decode_windows_1252(data: bytes) -> str:
    """``data`` as Windows-1252, the five bytes it leaves undefined taken as Latin-1.

    What text labelled Latin-1 (or ASCII) almost always is: Windows keeps its
    curly quotes, dashes and € at 0x80–0x9F, where Latin-1 has only control
    characters. Browsers read the labels so (the WHATWG Encoding Standard), and
    so does feedparser.
    """
    return "".join(
        chunk.decode("latin-1") if chunk in CP1252_UNDEFINED else chunk.decode("cp1252")
        for chunk in re.split(rb"([\x81\x8d\x8f\x90\x9d])", data)
        if chunk
    )


# U+0080–U+009F as the Windows-1252 characters of those bytes; the five it leaves
# undefined are dropped (nobody typed them; as controls they would be stripped anyway).
_C1 = re.compile("[\x80-\x9f]")
_C1_AS_WINDOWS_1252 = {
    code: bytes([code]).decode("cp1252", errors="ignore") for code in range(0x80, 0xA0)
}


def windows_1252_c1(text: str) -> str:
    """``text`` with its C1 control characters read as Windows-1252 (``&#146;`` is ’).

    No one means a C1 control in a feed: one there is a Windows-1252 byte that
    was decoded as Latin-1, or written as its number (``&#146;``, ``&#128;``).
    HTML5 reads such numbers so, and feedparser does the same for feeds.
    """
    return text.translate(_C1_AS_WINDOWS_1252) if _C1.search(text) else text


def undo_double_utf8(text: str) -> str:
    """``text`` as written when it is UTF-8 that was read as Latin-1 or Windows-1252
    ("â€¦" or "â\x80¦" for "…", "CafÃ©" for "Café"), else as given.

    A publisher that takes its UTF-8 for Latin-1 and encodes it again sends each
    non-ASCII character as two to four others; so does a server that labels a
    UTF-8 feed ``charset=iso-8859-1``. Text whose bytes, so read back, are UTF-8
    is that UTF-8: feedparser's rule for every element (for Latin-1; Windows-1252
    is how digest reads that label). Real text is almost never also valid UTF-8
    that way ("é" alone is not; "Ã©" is, and is mojibake).
    """
    if text.isascii() or not _MOJIBAKE.search(text):
        return text
    try:
        return text.translate(_WINDOWS_1252_AS_BYTES).encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


# Windows-1252's characters of 0x80–0x9F back to the code points of those bytes; and
# a UTF-8 lead byte followed by a continuation byte, read either way: no mojibake without.
_WINDOWS_1252_AS_BYTES = {ord(char): code for code, char in _C1_AS_WINDOWS_1252.items() if char}
_MOJIBAKE = re.compile(
    "[\xc2-\xf4][\x80-\xbf" + "".join(sorted(_C1_AS_WINDOWS_1252.values())) + "]"
)


def decode_text(data: bytes, where: str) -> str:
    """``decode`` for a file that must be text: NUL bytes without a mark mean it is not."""
    if b"\x00" in data and not any(data.startswith(bom) for bom, _ in BOMS):
        raise InputError(where, "binary file (or UTF-16 without a byte-order mark)")
    return decode(data)


def unify_line_ends(text: str) -> str:
    """``text`` with Windows (CRLF) and old-Mac (CR) line ends as ``\\n``.

    Every line-based reader (front matter fences, page exports) then sees one
    kind of line end; a ``^---$`` fence never matches before a ``\\r``.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Elements whose content a browser does not show as the page's text: code, and the
# fallback of an iframe (or embed, frames, a template), which HTML5 reads as raw text,
# so kept it would reach the reader as literal "<b>…</b>".
_NOT_SHOWN = frozenset({"script", "style", "iframe", "noembed", "noframes", "template"})


def html_to_text(markup: str) -> str:
    """Plain text from untrusted HTML, paragraphs kept apart by blank lines."""
    markup = clean_block(markup)  # nh3 cannot take a lone surrogate
    if "<" not in markup and "&" not in markup:
        return "\n\n".join(p for p in (" ".join(p.split()) for p in _PARAGRAPH.split(markup)) if p)
    # [^<>]* rather than [^>]*: an unclosed "<br" must not scan to the end each time.
    markup = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/blockquote|/tr)\b[^<>]*>", "\n\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), clean_content_tags=_NOT_SHOWN))
    paragraphs = [" ".join(p.split()) for p in _PARAGRAPH.split(text)]
    return "\n\n".join(p for p in paragraphs if p)


_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph that is the writer's own, cut at a word boundary to ``limit``.

    Quote headers and quoted text never open a summary (``without_quote_header``):
    a mailing-list reply's first paragraph is often "On Tue, Alice <alice at
    example.com> wrote:", which tells a reader nothing and shows an address.
    Every input kind's summary is made here, so the rule holds for both feed
    readers, and for files and JSON Lines alike.
    """
    for paragraph in _PARAGRAPH.split(text.strip()):
        paragraph = without_quote_header(" ".join(paragraph.split()))
        if paragraph:
            break
    else:
        return ""
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[:limit].rsplit(" ", 1)[0].rstrip(",;:.-— ")
    return cut + "…"


def trim_body(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    cut = text.rfind("\n\n", 0, MAX_BODY_CHARS)
    return text[: cut if cut > 0 else MAX_BODY_CHARS]


def strip_markdown(text: str) -> str:
    """Enough Markdown removal for a readable plain-text summary.

    Every pattern stops at the next bracket or line end, so text full of
    unclosed brackets or asterisks costs linear time, not quadratic.
    """
    text = re.sub(r"!\[([^\[\]\n]*)\]\([^()\n]*\)", r"\1", text)
    text = re.sub(r"\[([^\[\]\n]+)\]\([^()\n]*\)", r"\1", text)
    text = re.sub(r"(?m)^[ \t]{0,3}(#{1,6}|>|[-*+]|\d{1,9}\.)[ \t]+", "", text)
    text = re.sub(r"(\*\*|__|\*|_|`)(\S(?:[^*_`\n]{0,200}?\S)?)\1", r"\2", text)
    return text


# -- quote headers ------------------------------------------------------------

# An address as mail archives show it: plain, in brackets, cut short ("alice@…"), or
# obfuscated ("alice at example dot com", "alice< at >example.com", "alice [at] example").
_AT = r"(?:@|\s*(?:<\s*at\s*>|\[\s*at\s*\]|\(\s*at\s*\))\s*|\s+at\s+)"
_DOT = r"(?:\.|\s*(?:<\s*dot\s*>|\[\s*dot\s*\]|\(\s*dot\s*\))\s*|\s+dot\s+)"
ADDRESS = re.compile(
    rf"[\w.+-]{{1,64}}(?:@(?:…|\.\.\.)|{_AT}[\w-]{{1,63}}(?:{_DOT}[\w-]{{1,63}}){{1,4}}\b)",
    re.I,
)
# The end of a reply's attribution line, in the languages mail clients write: the verb,
# perhaps then the name ("Am 3. März schrieb Alice <…>:"), then the colon.
_REPLY_VERB = re.compile(
    r"(?i)(?:\b(?:wrote|writes|a écrit|schrieb|schreibt|escribió|ha scritto|schreef|"
    r"escreveu|skrev|kirjoitti|napisał|napisała|написал|написала|yazdı)|写道|寫道)"
    r"(?:\s[^:：]{0,120})?\s?[:：]$"
)
# How attribution lines begin: "On …", "Am …", "Le …", "El …", "Il …", "Op …", "Em …",
# "Den …", "Quoting …"; or mutt's "* Alice <…> [121113 13:21]:".
_OPENER = re.compile(r"(?i)^(?:\*\s|(?:on|am|le|el|il|op|em|den|quoting|zitat von)\b)")
_TIME = re.compile(r"\d{1,2}:\d{2}|\[\d{6}")
_FORWARDED = re.compile(
    r"(?i)^(?:-{2,}\s*(?:original message|forwarded message|mensaje original|"
    r"message d'origine|ursprüngliche nachricht)\s*-{2,}|begin forwarded message:)"
)
MAX_HEADER = 300  # characters: an attribution line is one line


def is_quote_header(paragraph: str) -> bool:
    """Whether a paragraph is a reply's attribution line or quoted text, not the writer's own.

    Quoted (">" first); a forwarding mark; a short line ending with ":" that
    names an address ("* Alice <alice at example.com> [121113 13:21]:"); a short
    line ending in "wrote:" (or "a écrit :", "schrieb:" …) that opens like one
    ("On …", "Am …", "Le …") or holds a time or an address; or a bare address
    with a name ("Alice <alice@example.com>"). A news paragraph that ends in a
    colon names no address and seldom a clock time, so it stays.
    """
    text = paragraph.strip()
    if text.startswith((">", "&gt;")) or _FORWARDED.match(text):
        return True
    if not text or len(text) > MAX_HEADER:
        return False
    address = ADDRESS.search(text)
    if text.endswith((":", "：")) and address:
        return True
    if _REPLY_VERB.search(text) and (_OPENER.match(text) or _TIME.search(text) or address):
        return True
    # "Alice Example <alice at example.com>" alone: a signature or a header's From.
    return bool(address) and len(ADDRESS.sub("", text).split()) <= 4


def without_quote_header(paragraph: str) -> str:
    """``paragraph`` without an attribution line or quote that opens it ("" if it is one).

    A header run into the reply ("On Tue, Alice <…> wrote: I agree.") is cut
    at its colon, and the reply kept.
    """
    if is_quote_header(paragraph):
        return ""
    for colon in re.finditer(r":\s", paragraph[: MAX_HEADER + 1]):
        head, rest = paragraph[: colon.start() + 1], paragraph[colon.end() :].lstrip()
        if rest and not rest.startswith((">", "&gt;")) and _is_run_in_header(head):
            return rest
        if rest.startswith((">", "&gt;")) and _is_run_in_header(head):
            return ""  # the header, then the quote: nothing of the writer's own here
    return paragraph


def _is_run_in_header(head: str) -> bool:
    """A header that runs into the text must name an address or end in a reply verb."""
    return is_quote_header(head) and bool(ADDRESS.search(head) or _REPLY_VERB.search(head))
