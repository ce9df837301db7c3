"""Ingest into the store, on SQLite and PostgreSQL: bad records alone, links, dates, schema 2.

And once through the real ``digest ingest`` command: a folder with one
poisoned file of each kind next to good ones.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import article, as_release, every_article, run_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.sources import ingest
from digest.store.schema import SCHEMA_VERSION, articles, schema_version
from digest.store.store import Store
from digest.validate import canonical_url, safe_link, url_key

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def stored(store: Store) -> dict[str, object]:
    return {a.title: a for a in every_article(store)}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# -- 3. one bad record never takes the others with it --------------------------------


def test_records_over_the_column_limits_are_refused_alone_on_both_databases(store):
    bad = [
        article("Long keyword", ["k" * 600], published=T0),
        article("Long link", url="https://x.example/" + "a" * 3000, published=T0),
        article("Nul keyword", ["a\x00b"], published=T0),
        article("Nul body", body="a\x00b", published=T0),
    ]
    for n, item in enumerate(bad):
        item.origin = f"wire.jsonl:{n + 1}"
    good = [article(f"Good story {n}", ["Climate"], published=T0) for n in range(3)]
    saved = store.save_articles([good[0], *bad, good[1], good[2]], now=T0)
    assert (saved.new, saved.updated, saved.unchanged) == (3, 0, 0)
    assert [str(e) for e in saved.failed] == [
        "wire.jsonl:1: 'Long keyword' not stored: a keyword longer than 100 characters",
        "wire.jsonl:2: 'Long link' not stored: url longer than 2048 characters",
        "wire.jsonl:3: 'Nul keyword' not stored: contains a NUL character or a lone surrogate",
        "wire.jsonl:4: 'Nul body' not stored: contains a NUL character or a lone surrogate",
    ]
    assert sorted(stored(store)) == ["Good story 0", "Good story 1", "Good story 2"]
    assert store.known_keywords() == ["Climate"]


@pytest.fixture
def poisoned(store):
    """The database itself refuses any article titled "Poison" (past every check of ours)."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON articles WHEN NEW.title = 'Poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
        else:
            conn.exec_driver_sql(
                "ALTER TABLE articles ADD CONSTRAINT poison CHECK (title <> 'Poison')"
            )
    return store


def test_a_record_the_database_refuses_is_named_and_the_rest_of_its_chunk_stored(poisoned):
    items = [article(f"Story number {n}", ["Energy"], published=T0) for n in range(1200)]
    items[700] = article("Poison", ["Toxic"], published=T0)
    items[700].origin = "feed.xml: entry 701"
    saved = poisoned.save_articles(items, now=T0)
    assert (saved.new, saved.updated, saved.unchanged) == (1199, 0, 0)
    assert len(saved.failed) == 1
    message = str(saved.failed[0])
    assert message.startswith("feed.xml: entry 701: 'Poison' not stored: the database refused it")
    assert "INSERT" not in message  # the driver's reason, not the statement
    titles = stored(poisoned)
    assert len(titles) == 1199
    assert "Poison" not in titles
    assert "Story number 699" in titles and "Story number 701" in titles
    assert "Toxic" not in poisoned.known_keywords()  # its keywords went with it


def test_saving_is_bulk_not_one_query_per_article(store):
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    items = [article(f"Bulk story {n}", ["Space"], published=T0) for n in range(1000)]
    assert store.save_articles(items, now=T0).new == 1000
    writes = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "INSERT"))]
    assert len(writes) <= 12  # two chunks: a SELECT, an INSERT, a keyword INSERT each
    statements.clear()
    changed = [
        article(f"Bulk story {n}", ["Space"], published=T0, body="New.") for n in range(1000)
    ]
    assert store.save_articles(changed, now=T0).updated == 1000
    assert len(statements) <= 16


# -- 4. publish times in the future -----------------------------------------------------


def test_a_future_publish_time_is_clamped_to_first_seen(store):
    later = T0 + timedelta(days=2)
    store.save_articles([article("From the future", published=later)], now=T0)
    (found,) = every_article(store)
    assert found.published == T0 == found.first_seen
    # Edited and ingested again the next day: still clamped to when it was first seen.
    edited = article("From the future", published=later, body="Edited.")
    assert store.save_articles([edited], now=T0 + timedelta(days=1)).updated == 1
    (found,) = every_article(store)
    assert (found.body, found.published, found.first_seen) == ("Edited.", T0, T0)


# -- 8. the same link under two guids is one article -------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://news.example.org/a?id=1", "HTTPS://News.Example.ORG:443/a?id=1#comments"),
        ("https://news.example.org/a?id=1", "https://news.example.org/a?utm_source=x&id=1"),
        ("http://news.example.org", "http://news.example.org/?fbclid=abc&gclid=def"),
    ],
)
def test_canonical_url_gives_one_spelling(a, b):
    assert canonical_url(a) == canonical_url(b)
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://news.example.org/a?id=1", "https://news.example.org/a?id=2"),
        ("https://news.example.org/a", "https://news.example.org/A"),
        ("https://news.example.org/a", "http://news.example.org/a"),
        ("https://news.example.org:8443/a", "https://news.example.org/a"),
    ],
)
def test_canonical_url_keeps_pages_apart(a, b):
    assert canonical_url(a) != canonical_url(b)


def test_the_same_link_under_a_second_guid_updates_the_first(store):
    first = article("Same story", guid="urn:feed-a:1", url="https://news.example.org/s?id=9")
    again = article(
        "Same story, corrected",
        guid="urn:feed-a:2",
        url="https://NEWS.example.org/s?utm_medium=rss&id=9#top",
    )
    assert store.save_articles([first], now=T0).new == 1
    saved = store.save_articles([again], now=T0 + timedelta(hours=1))
    assert (saved.new, saved.updated) == (0, 1)
    (found,) = every_article(store)
    assert (found.title, found.guid, found.first_seen) == ("Same story, corrected", first.guid, T0)
    # Read again: unchanged, whichever of the two guids it comes under.
    assert store.save_articles([again], now=T0).unchanged == 1
    # In one batch, too.
    one = article("Twice in a batch", guid="g1", url="https://news.example.org/t")
    two = article("Twice in a batch", guid="g2", url="https://news.example.org/t")
    saved = store.save_articles([one, two], now=T0)
    assert (saved.new, saved.updated, saved.unchanged) == (1, 0, 1)
    assert len(every_article(store)) == 2


def test_the_same_link_from_two_sources_is_two_articles(store):
    a = article("Wire copy", guid="a", url="https://wire.example/1", source="Wire A")
    b = article("Wire copy", guid="b", url="https://wire.example/1", source="Wire B")
    assert store.save_articles([a, b], now=T0).new == 2


def test_a_version_1_database_is_migrated_and_keeps_its_articles(db_url):
    first = Store(db_url)
    first.save_articles(
        [article("Old story", guid="urn:old:1", url="https://news.example.org/old?id=1")], now=T0
    )
    first.close()
    # Make it a version-1 database: no url_key column, no index.
    as_release(
        db_url,
        1,
        "DROP INDEX ix_articles_url_key",
        "ALTER TABLE articles DROP COLUMN url_key",
        "DROP INDEX ix_articles_first_seen",  # version 3's
        "ALTER TABLE subscribers DROP COLUMN unsubscribed_at",  # version 5's
    )

    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
            assert conn.execute(sa.select(articles.c.url_key)).scalar() == url_key(
                "https://news.example.org/old?id=1"
            )
        assert {"ix_articles_url_key", "ix_articles_first_seen"} <= {
            i["name"] for i in sa.inspect(store.engine).get_indexes("articles")
        }
        again = article("Old story", guid="urn:new:1", url="https://news.example.org/old?id=1#x")
        assert store.save_articles([again], now=T0).new == 0
        assert [a.guid for a in every_article(store)] == ["urn:old:1"]
    finally:
        store.close()


# -- 9. the library function and the command -------------------------------------------------


def test_ingest_counts_and_uses_the_given_time(store, tmp_path):
    folder = tmp_path / "in"
    write(folder / "a.md", "---\ntitle: Undated story here\nurl: javascript:x\n---\nBody.\n")
    write(folder / "b.jsonl", '{"title": "Line one story"}\n{bad\n')
    write(folder / "notes.pdf", "%PDF")
    report = ingest(store, [str(folder)], LONDON, now=T0)
    assert (report.new, report.updated, report.skipped, report.failed) == (2, 0, 1, 1)
    assert [e.where for e in report.errors] == [f"{folder / 'b.jsonl'}:2"]
    assert [w.where for w in report.warnings] == [str(folder / "a.md")]
    assert {a.first_seen for a in every_article(store)} == {T0}
    again = ingest(store, [str(folder)], LONDON, now=T0 + timedelta(days=1))
    assert (again.new, again.updated, again.skipped) == (0, 0, 3)


POISON = {
    "bomb.md": "---\ntitle: Bomb\na: &a [x, x]\nb: [*a, *a]\n---\nBody.\n",
    "broken.jsonl": '{"title": "Good wire story", "url": "https://wire.example/1"}\n{"title": \n',
    "page.xml": "<html><body><p>Our feed has moved.</p></body></html>",
    "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "utf16-no-bom.md": "---\ntitle: No mark\n---\nBody.\n".encode("utf-16-le"),
    "untitled.md": "---\nurl: https://x.example/untitled\n---\nBody.\n",
}
GOOD = {
    "good.md": "---\ntitle: Good front matter story\nkeywords: [Climate]\n---\nBody.\n",
    "sub/good.atom": '<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>'
    "<entry><title>Good feed story</title><id>urn:g:1</id>"
    '<link href="javascript:alert(1)"/><updated>9999-12-31T23:00:00-05:00</updated>'
    "</entry></feed>",
    "good.txt": "Site logo\nHome | News\nGood page export story here\n\nThe body.\n",
    "\x1b[31mred.md": "---\ntitle: Escaped name story\n---\nBody.\n",
    # Each of these once made PostgreSQL refuse the whole ingest.
    "limits.jsonl": "\n".join(
        json.dumps(line)
        for line in [
            {"title": "Keyword of 600", "keywords": ["k" * 600, "Kept"]},
            {"title": "Link of 3000", "url": "https://x.example/" + "a" * 3000},
            {"title": "Nul in keyword", "keywords": ["Cli\x00mate"]},
        ]
    ),
}


def test_the_command_reports_each_poisoned_file_and_stores_every_good_article(db_url, tmp_path):
    folder = tmp_path / "in"
    for name, text in {**POISON, **GOOD}.items():
        write(folder / name, text)
    os.mkfifo(folder / "fifo.xml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = db_url
    done = run_digest("ingest", str(folder), cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    named = sorted(line.removeprefix("error: ").split(":")[0] for line in errors)
    assert named == sorted(str(folder / name) for name in [*POISON, "fifo.xml"])
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ")[1:3] for line in warnings] == [
        [str(folder / "limits.jsonl:1"), "keywords"],
        [str(folder / "limits.jsonl:2"), "url"],
        [str(folder / "sub/good.atom"), "entry 1"],  # its link
        [str(folder / "sub/good.atom"), "entry 1"],  # its date
    ]
    assert "ingested: 8 new, 0 updated, 0 skipped, 7 failed" in done.stdout
    store = Store(db_url)
    try:
        assert sorted(stored(store)) == [
            "Escaped name story",
            "Good feed story",
            "Good front matter story",
            "Good page export story here",
            "Good wire story",
            "Keyword of 600",
            "Link of 3000",
            "Nul in keyword",
        ]
        assert stored(store)["Nul in keyword"].keywords == ["Climate"]
    finally:
        store.close()


def test_warnings_alone_leave_the_exit_code_at_zero(db_url, tmp_path):
    folder = write(tmp_path / "in" / "a.md", "---\ntitle: A story\nurl: data:x\n---\nB.\n").parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = db_url
    done = run_digest("ingest", str(folder), cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {folder / 'a.md'}: url: not an http(s) or mailto link: 'data:x';"
        " stored without a link"
    ]
    assert "ingested: 1 new, 0 updated, 0 skipped, 0 failed" in done.stdout


def test_a_fifo_or_device_named_directly_is_refused_without_being_read(tmp_path):
    (tmp_path / "device.md").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.xml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'digest.db'}"
    done = run_digest(
        "ingest", str(tmp_path / "pipe.xml"), str(tmp_path / "device.md"),
        cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert [line.split(": ", 2)[1:] for line in done.stderr.splitlines()[:2]] == [
        [str(tmp_path / "pipe.xml"), "not a regular file (a FIFO, device or socket); not read"],
        [str(tmp_path / "device.md"), "not a regular file (a FIFO, device or socket); not read"],
    ]


def test_a_long_link_in_chinese_is_stored_on_both_databases_not_refused_by_an_index(
    store, tmp_path
):
    """2,000 characters are 6,000 bytes in Chinese: more than a PostgreSQL index row holds."""
    long_link = "https://example.com/" + "新闻" * 500
    lines = [
        {"title": "First good story", "url": "https://example.com/1"},
        {"title": "A story with a very long link", "url": long_link, "keywords": ["World"]},
        {"title": "Another good story", "url": "https://example.com/2"},
        {"title": "A very long guid", "guid": "标识" * 1000, "url": "https://example.com/3"},
    ]
    path = tmp_path / "cjk.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")

    report = ingest(store, [str(path)], ZoneInfo("UTC"), now=T0)

    assert report.failed == 0 and report.new == 4
    titles = {a.title: a for a in every_article(store)}
    assert titles["A story with a very long link"].url == long_link  # the link itself is kept
    assert titles["A story with a very long link"].guid.startswith("sha256:")
    again = ingest(store, [str(path)], ZoneInfo("UTC"), now=T0)  # and found again by it
    assert (again.new, again.failed) == (0, 0)


# -- the fast paths of safe_link and canonical_url ----------------------------------

URL_PIECES = st.sampled_from(
    ["http", "https", "HTTP", "://", "news", ".", "example", "org", "EXAMPLE", "-", "/", "a",
     "?", "#", "=", "&", "utm_source", "id", "9", ":", "443", "80", "@", "user", "%7E", "~",
     "..", "//", "'", '"', "[", "]", " ", "é"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(URL_PIECES, max_size=16).map("".join))
def test_the_quick_paths_agree_with_parsing(url):
    from digest.validate import _canonical, _safe_link

    assert canonical_url(url) == _canonical(url.strip())
    assert safe_link(url) == _safe_link(url.strip(), None)
    for link in ("https://" + url, "http://news.example.org/" + url):
        assert canonical_url(link) == _canonical(link.strip())
        assert safe_link(link) == _safe_link(link.strip(), None)
