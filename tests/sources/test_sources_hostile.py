"""Sources against hostile input: each case was once a hang, a crash or a bad stored value.

Every bad input is one named error or warning; the article is kept whenever
it still has a title; nothing raises.
"""

from __future__ import annotations

import codecs
import http.server
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import digest.sources.files as files
from digest.models import Article
from digest.sources import read
from digest.sources.files import read_file
from digest.validate import MAX_GUID, MAX_KEYWORD, MAX_KEYWORDS, MAX_TITLE, MAX_URL

LONDON = ZoneInfo("Europe/London")
CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
BIDI = ["\u202e", "\u2066", "\u2069"]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def only(result) -> Article:
    assert result.errors == [], result.errors
    assert len(result.articles) == 1
    return result.articles[0]


def reasons(items, field_name: str = "") -> list[str]:
    return [e.reason for e in items if e.reason.startswith(field_name)]


def front(title: str = "A story of four words", **meta: str) -> str:
    lines = [f"title: {title}", *(f"{k}: {v}" for k, v in meta.items())]
    return "---\n" + "\n".join(lines) + "\n---\nThe body of the story.\n"


# -- 1. YAML: no aliases, bounded size and depth -----------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ["---", "title: Laughs", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 8) + "]")
    lines += [f"keywords: [*l{levels - 1}, *l{levels - 1}]", "---", "Body.", ""]
    return "\n".join(lines)


def test_a_yaml_alias_bomb_is_refused_at_once_and_named(tmp_path):
    path = write(tmp_path / "bomb.md", billion_laughs())
    assert path.stat().st_size < 1024
    started = time.monotonic()
    result = read_file(path, LONDON)
    assert time.monotonic() - started < 2
    assert result.articles == []
    assert [str(e) for e in result.errors] == [
        f"{path}: front matter uses YAML aliases or anchors (&name, *name; line 3),"
        " which digest does not accept"
    ]


@pytest.mark.parametrize(
    "meta",
    [
        "source: &s The Times\n",  # an anchor, even unused
        "a: &x 1\nsource: *x\n",
        "base: &b {source: S}\nother:\n  <<: *b\n",  # a merge key is an alias too
    ],
)
def test_any_alias_or_anchor_in_front_matter_is_refused(tmp_path, meta):
    path = write(tmp_path / "a.md", f"---\ntitle: Four words of title\n{meta}---\nBody.\n")
    result = read_file(path, LONDON)
    assert result.articles == []
    assert "aliases or anchors" in result.errors[0].reason


def test_front_matter_over_64_kb_is_refused(tmp_path):
    filler = "".join(f"k{n}: {'x' * 60}\n" for n in range(1100))  # ~70 KB of valid YAML
    path = write(tmp_path / "big.md", f"---\ntitle: Big front matter\n{filler}---\nBody.\n")
    result = read_file(path, LONDON)
    assert [e.reason for e in result.errors] == ["front matter larger than 64 KB"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.md", "---\ntitle: Deep\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nBody.\n"),
        ("deep.jsonl", '{"title": "Deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
        ("digits.jsonl", '{"title": "Digits", "n": ' + "7" * 5000 + "}\n"),
        ("digits.md", "---\ntitle: Digits\nn: " + "7" * 5000 + "\n---\nBody.\n"),
        ("hex.md", "---\ntitle: " + "0x" + "f" * 5000 + "\n---\nBody.\n"),
    ],
)
def test_nesting_and_huge_numbers_are_errors_not_crashes(tmp_path, name, text):
    path = write(tmp_path / name, text)
    result = read(str(path), LONDON)  # must not raise RecursionError or ValueError
    assert result.articles == []
    assert len(result.errors) == 1
    assert result.errors[0].where.startswith(str(path))


def test_a_list_where_text_belongs_is_not_stored_as_its_repr(tmp_path):
    text = front(source="[a, b]", summary="{x: 1}", keywords="[Energy, [nested], {a: b}, 7]")
    result = read_file(write(tmp_path / "a.md", text), LONDON)
    a = only(result)
    assert a.source == ""
    assert a.keywords == ["Energy", "7"]
    assert "[" not in a.summary
    assert len(reasons(result.warnings, "source")) == 1
    assert len(reasons(result.warnings, "keywords")) == 2


# -- 2. every stored field capped, with a warning naming it ------------------------


def test_long_fields_are_capped_with_one_warning_each(tmp_path):
    line = {
        "title": " ".join(["headline"] * 60),  # 539 characters
        "source": "S" * 500,
        "url": "https://news.example.org/" + "a" * MAX_URL,
        "guid": "urn:" + "g" * MAX_GUID,
        "keywords": ["k" * (MAX_KEYWORD + 1), "ﷺ" * 10, *[f"tag{n}" for n in range(60)]],
    }
    path = write(tmp_path / "w.jsonl", json.dumps(line) + "\n")
    result = read(str(path), LONDON)
    a = only(result)
    assert len(a.title) <= MAX_TITLE
    assert a.title.endswith("headline…")  # cut at a word
    assert len(a.source) <= 200
    assert a.url is None
    assert a.guid.startswith("sha256:")
    assert a.keywords == [f"tag{n}" for n in range(MAX_KEYWORDS)]
    where = f"{path}:1"
    assert {e.where for e in result.warnings} == {where}
    assert sorted(e.reason.split(":")[0] for e in result.warnings) == [
        "guid",
        "keywords",  # 101 characters
        "keywords",  # ten characters, but 180 once NFKC expands them
        "keywords",  # more than 50
        "source",
        "title",
        "url",
    ]
    # The hash stands for the same guid every time.
    assert only(read(str(path), LONDON)).guid == a.guid


@pytest.mark.parametrize(
    ("bad", "left"),
    [
        ("\x00", ""),
        ("\x1b[31m", ""),  # the whole escape sequence goes
        ("\x1b]0;pwned\x07", ""),  # a window title too
        ("\x1b", ""),
        ("\u202e", ""),
        ("\x07", ""),
        ("\ud800", ""),
        ("\x9b", ""),
    ],
)
def test_control_characters_never_reach_a_stored_field(tmp_path, bad, left):
    line = {
        "title": f"Four{bad} words of title",
        "source": f"The{bad}Times",
        "summary": f"Sum{bad}mary",
        "body": f"Body{bad} text.\n\nSecond{bad} paragraph.",
        "keywords": [f"Ener{bad}gy"],
        "guid": f"urn:{bad}1",
    }
    result = read(str(write(tmp_path / "c.jsonl", json.dumps(line) + "\n")), LONDON)
    a = only(result)
    for text in (a.title, a.source, a.summary, a.body, a.guid, *a.keywords):
        assert not any(c in text for c in (*CONTROL, *BIDI, "\ud800")), repr(text)
    assert a.body == f"Body{left} text.\n\nSecond{left} paragraph."
    assert a.keywords == [f"Ener{left}gy"]


# -- 4. dates: a bad one is that article's problem alone ------------------------------


@pytest.mark.parametrize(
    "published",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "2026-13-45",
        '"2026-02-30T10:00:00"',
        '"next Tuesday"',
        "[2026, 11, 24]",
        "12345",
    ],
)
def test_a_bad_front_matter_date_is_a_warning_and_the_article_is_undated(tmp_path, published):
    path = write(tmp_path / "d.md", front(published=published))
    result = read(str(path), LONDON)
    a = only(result)
    assert a.published is None
    assert [str(w).split(": ")[:2] for w in result.warnings] == [[str(path), "published"]]


@pytest.mark.parametrize(
    "published", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2026-13-45", 7]
)
def test_a_bad_json_lines_date_is_a_warning_and_the_line_is_kept(tmp_path, published):
    lines = [{"title": "Dated badly here", "published": published}, {"title": "Fine line here"}]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(x) for x in lines))
    result = read(str(path), LONDON)
    assert [a.title for a in result.articles] == ["Dated badly here", "Fine line here"]
    assert result.articles[0].published is None
    assert [w.where for w in result.warnings] == [f"{path}:1"]


def test_absurd_feed_dates_are_warnings_and_the_entries_kept(tmp_path):
    entries = "".join(
        f"<entry><title>Entry {n} title</title><id>urn:{n}</id><updated>{when}</updated></entry>"
        for n, when in enumerate(
            ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2026-11-24T06:00:00Z"]
        )
    )
    path = write(
        tmp_path / "f.atom",
        f'<feed xmlns="http://www.w3.org/2005/Atom"><title>Dates</title>{entries}</feed>',
    )
    result = read(str(path), LONDON)
    assert result.errors == []
    assert [a.published for a in result.articles] == [
        None,
        None,
        datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
    ]
    assert [w.where for w in result.warnings] == [f"{path}: entry 1", f"{path}: entry 2"]


# -- 5. files: regular files only, size read not trusted, encodings -------------------


def test_a_device_is_not_read(tmp_path):
    started = time.monotonic()
    result = read("/dev/zero", LONDON)
    assert time.monotonic() - started < 2
    assert [str(e) for e in result.errors] == [
        "/dev/zero: not a regular file (a FIFO, device or socket); not read"
    ]


def test_a_link_to_a_device_inside_a_folder_is_reported(tmp_path):
    write(tmp_path / "good.md", front())
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    result = read(str(tmp_path), LONDON)
    assert [a.title for a in result.articles] == ["A story of four words"]
    assert [e.where for e in result.errors] == [str(tmp_path / "zero.txt")]
    assert "not a regular file" in result.errors[0].reason


def test_the_size_limit_is_read_not_taken_from_stat(monkeypatch):
    # /proc files say they are empty (st_size 0) but are not.
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 64)
    assert Path("/proc/self/status").stat().st_size == 0
    result = read("/proc/self/status", LONDON)
    assert [e.reason for e in result.errors] == ["larger than 0 MB; not read"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("kind", ["md", "txt", "jsonl"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path, codec, kind):
    text = {
        "md": front("Zürich café story — über alles"),
        "txt": "Zürich café story — über alles\n\nThe body.\n",
        "jsonl": json.dumps({"title": "Zürich café story — über alles"}, ensure_ascii=False),
    }[kind]
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    bom |= {"utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}
    path = write(tmp_path / f"u.{kind}", bom[codec] + text.encode(codec))
    assert only(read(str(path), LONDON)).title == "Zürich café story — über alles"


@pytest.mark.parametrize("data", ["Four words of headline\n".encode("utf-16-le"), b"\x89PNG\0\0"])
def test_nul_bytes_without_a_byte_order_mark_mean_binary(tmp_path, data):
    path = write(tmp_path / "b.txt", data)
    assert [e.reason for e in read(str(path), LONDON).errors] == [
        "binary file (or UTF-16 without a byte-order mark)"
    ]


# -- 6. JSON Lines are split on \n only --------------------------------------------------


def test_json_strings_with_unicode_line_separators_stay_one_line(tmp_path):
    odd = "\u2028\u2029\x0c\x0b\x1c\x1d\x1e\x85"
    lines = [
        json.dumps({"title": f"First{odd} title here", "body": f"a{odd}b"}, ensure_ascii=False),
        "{broken",
        json.dumps({"title": "Third line title"}),
    ]
    path = write(tmp_path / "s.jsonl", "\r\n".join(lines) + "\r\n")
    result = read(str(path), LONDON)
    assert [a.title for a in result.articles] == ["First title here", "Third line title"]
    assert [e.where for e in result.errors] == [f"{path}:2"]


# -- 7. links: http(s) and mailto only, relative ones resolved or dropped ---------------

BAD_LINKS = ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "vbscript:msgbox", "DATA:text/html,x"]


def kinds_with_link(link: str) -> dict[str, str]:
    x = link.replace("&", "&amp;").replace("<", "&lt;")
    return {
        "a.md": front(url=json.dumps(link)),
        "a.jsonl": json.dumps({"title": "A story of four words", "url": link}),
        "a.rss": '<rss version="2.0"><channel><title>Feed</title><item>'
        f"<title>A story of four words</title><link>{x}</link><guid>g1</guid></item>"
        "</channel></rss>",
        "a.atom": '<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title><entry>'
        f'<title>A story of four words</title><id>g1</id><link href="{x}"/></entry></feed>',
    }


@pytest.mark.parametrize("link", BAD_LINKS)
@pytest.mark.parametrize("name", ["a.md", "a.jsonl", "a.rss", "a.atom"])
def test_script_and_data_links_are_dropped_with_a_warning(tmp_path, link, name):
    path = write(tmp_path / name, kinds_with_link(link)[name])
    result = read(str(path), LONDON)
    a = only(result)
    assert a.url is None
    assert a.title == "A story of four words"
    assert [w.reason.split(":")[0] for w in result.warnings] == ["url"]


def test_a_page_export_link_line_that_is_no_link_is_dropped(tmp_path):
    text = "Four words of headline\nhttps://[broken/story\n\nThe body.\n"
    result = read(str(write(tmp_path / "p.txt", text)), LONDON)
    assert only(result).url is None
    assert reasons(result.warnings, "url")


def test_relative_links_resolve_against_the_feed_link_else_are_dropped(tmp_path):
    rss = (
        '<rss version="2.0"><channel><title>Feed</title><link>https://site.example/news/</link>'
        "<item><title>Relative item title</title><link>2026/one.html</link></item>"
        "</channel></rss>"
    )
    assert only(read(str(write(tmp_path / "r.rss", rss)), LONDON)).url == (
        "https://site.example/news/2026/one.html"
    )
    line = json.dumps({"title": "Relative line title", "url": "/news/one.html"})
    result = read(str(write(tmp_path / "r.jsonl", line)), LONDON)
    assert only(result).url is None
    assert "relative link" in result.warnings[0].reason


# -- beyond the list: targets and feeds over HTTP ------------------------------------------


def test_an_empty_target_is_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.md", front())
    result = read("", LONDON)
    assert result.articles == []
    assert [e.reason for e in result.errors] == ["an empty name; nothing read"]


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A feed server that misbehaves in the way its path says."""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path == "/drip.xml":  # a byte at a time, never finishing in time
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/to-ftp.xml":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/feed.xml")
            self.end_headers()
        elif self.path == "/relative.xml":
            body = (
                b'<rss version="2.0"><channel><title>Private</title><item>'
                b"<title>Members only story</title><link>/posts/1</link></item></channel></rss>"
            )
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture
def hostile_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_feed_that_drips_is_given_up_at_the_deadline(hostile_server):
    started = time.monotonic()
    result = read(f"http://{hostile_server}/drip.xml", LONDON, timeout=1)
    assert time.monotonic() - started < 4  # not the ten seconds the server wants
    assert "not complete after 1 seconds" in result.errors[0].reason


def test_a_redirect_away_from_http_is_not_followed(hostile_server):
    result = read(f"http://{hostile_server}/to-ftp.xml", LONDON, timeout=2)
    assert result.articles == []
    assert result.errors[0].reason.startswith("cannot fetch")


def test_a_feed_password_is_neither_printed_nor_copied_into_links(hostile_server):
    a = only(read(f"http://reader:s3cret@{hostile_server}/relative.xml", LONDON, timeout=2))
    assert a.url == f"http://{hostile_server}/posts/1"
    missing = read(f"http://reader:s3cret@{hostile_server}/gone.xml", LONDON, timeout=2)
    assert [str(e) for e in missing.errors] == [
        f"http://reader:***@{hostile_server}/gone.xml: HTTP 404 Not Found: no feed at this address"
    ]


def test_a_link_to_its_own_folder_is_a_loop_not_followed_but_said(tmp_path):
    write(tmp_path / "in" / "a.md", front())
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    result = read(str(tmp_path / "in"), LONDON)
    assert [a.title for a in result.articles] == ["A story of four words"]
    assert [str(w) for w in result.errors] == [
        f"{tmp_path / 'in' / 'loop'}: link loop (a link to a folder that holds it); not followed"
    ]


def test_json_lines_files_joined_with_their_byte_order_marks(tmp_path):
    one = codecs.BOM_UTF8 + json.dumps({"title": "First file story"}).encode() + b"\n"
    two = codecs.BOM_UTF8 + json.dumps({"title": "Second file story"}).encode() + b"\n"
    result = read(str(write(tmp_path / "joined.jsonl", one + two)), LONDON)
    assert [a.title for a in result.articles] == ["First file story", "Second file story"]
