"""Feeds fetched like a good feed reader, against the stand-in server (standins/feed_server.py).

Conditional GET, gzip and deflate, the headers a server sees, redirects that are
remembered (and those that are not), 410 and Retry-After, one deadline per feed,
downloads side by side, and a reason a person understands for each failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW, every_article
from standins.feed_server import FeedStandIn

from digest import PROJECT_URL, __version__
from digest.models import Source
from digest.sources import feed_xml, ingest
from digest.sources.run import state_key

ZONE = ZoneInfo("UTC")


def news(*entries: tuple[str, str], title: str = "Example News") -> bytes:
    """An RSS feed of (guid, title) entries."""
    items = "".join(
        f"<item><title>{t}</title><guid isPermaLink='false'>{g}</guid>"
        f"<link>https://news.example.org/{g}</link>"
        "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        for g, t in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example.org/</link>{items}</channel></rss>"
    ).encode()


STORIES = news(("a-1", "Harbour reopens after storm"), ("a-2", "Council votes on tram line"))


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def server():
    with FeedStandIn() as standin:
        standin.feeds["news.xml"] = STORIES
        yield standin


@pytest.fixture
def clock(sqlite_store):
    sqlite_store.now = Clock()
    return sqlite_store.now


def run(store, *targets, **options):
    options.setdefault("timeout", 5)
    return ingest(store, list(targets), ZONE, **options)


def state(store, target):
    key = state_key(target if isinstance(target, Source) else Source(target))
    return store.source_states([key])[key]


# -- conditional GET ------------------------------------------------------------------


def test_an_unchanged_feed_is_answered_304_and_costs_no_parse(server, sqlite_store, monkeypatch):
    url = f"{server.url}/feed/news.xml"
    first = run(sqlite_store, url)
    assert (first.new, first.failed) == (2, 0)
    parsed = []
    real = feed_xml.read
    monkeypatch.setattr(feed_xml, "read", lambda *a, **k: parsed.append(1) or real(*a, **k))
    again = run(sqlite_store, url)
    assert (again.new, again.updated, again.skipped, again.failed) == (0, 0, 2, 0)
    assert parsed == []
    second = server.asked("/feed/news.xml")[1]
    assert second["if-none-match"].startswith('"')
    assert second["if-modified-since"].endswith("GMT")
    assert len(every_article(sqlite_store)) == 2


def test_a_changed_feed_is_fetched_whole_and_only_the_new_entry_added(server, sqlite_store):
    url = f"{server.url}/feed/news.xml"
    run(sqlite_store, url)
    server.feeds["news.xml"] = news(
        ("a-1", "Harbour reopens after storm"),
        ("a-2", "Council votes on tram line"),
        ("a-3", "Library extends opening hours"),
    )
    report = run(sqlite_store, url)
    assert (report.new, report.updated, report.skipped) == (1, 0, 2)


def test_last_modified_alone_is_enough(server, sqlite_store):
    url = f"{server.url}/feed/news.xml"
    run(sqlite_store, url)
    key = state_key(Source(url))
    remembered = sqlite_store.source_states([key])[key]
    remembered.etag = None
    sqlite_store.save_source_states([remembered])
    assert run(sqlite_store, url).skipped == 2
    assert "if-none-match" not in server.asked("/feed/news.xml")[1]


# -- what the server sees -------------------------------------------------------------


def test_the_request_asks_for_feeds_compressed_and_names_digest(server, sqlite_store):
    run(sqlite_store, f"{server.url}/feed/news.xml")
    [headers] = server.asked("/feed/news.xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in headers["accept"]
    assert "application/atom+xml" in headers["accept"]
    assert headers["user-agent"] == f"digest/{__version__} (+{PROJECT_URL})"


def test_the_user_agent_is_configurable(server, sqlite_store):
    run(sqlite_store, f"{server.url}/feed/news.xml", user_agent="ExampleNewsBot/2 (+ops@x.org)")
    assert server.asked("/feed/news.xml")[0]["user-agent"] == "ExampleNewsBot/2 (+ops@x.org)"


@pytest.mark.parametrize("how", ["gzip", "deflate", "feed"])
def test_gzip_and_deflate_bodies_are_read(server, sqlite_store, how):
    report = run(sqlite_store, f"{server.url}/{how}/news.xml")
    assert (report.new, report.failed) == (2, 0)


# -- redirects, 410, Retry-After ------------------------------------------------------


@pytest.mark.parametrize("code", [301, 308])
def test_a_permanent_redirect_is_remembered_and_said(server, sqlite_store, code):
    url = f"{server.url}/{code}/news.xml"
    first = run(sqlite_store, url)
    assert first.new == 2
    [said] = [str(w) for w in first.warnings]
    assert said == (
        f"{url}: moved permanently to {server.url}/feed/news.xml; "
        "fetched from there from now on (update sources)"
    )
    assert state(sqlite_store, url).moved_to == f"{server.url}/feed/news.xml"
    again = run(sqlite_store, url)
    assert (again.skipped, again.warnings) == (2, [])
    assert len(server.asked(f"/{code}/news.xml")) == 1  # the old address is not asked again
    assert len(server.asked("/feed/news.xml")) == 2


def test_a_temporary_redirect_is_followed_but_not_remembered(server, sqlite_store):
    url = f"{server.url}/302/news.xml"
    assert run(sqlite_store, url).new == 2
    assert state(sqlite_store, url).moved_to is None
    run(sqlite_store, url)
    assert len(server.asked("/302/news.xml")) == 2


def test_410_gone_disables_the_source_with_a_warning(server, sqlite_store, clock):
    url = f"{server.url}/gone/news.xml"
    first = run(sqlite_store, url)
    assert first.failed == 0  # a warning: nothing for the operator to retry
    assert [w.reason for w in first.warnings] == [
        "HTTP 410 Gone: the feed was removed for good; disabled (remove it from sources)"
    ]
    again = run(sqlite_store, url)
    assert len(server.asked("/gone/news.xml")) == 1
    assert "answered 410 Gone" in again.warnings[0].reason
    assert state(sqlite_store, url).gone_at == clock.at


@pytest.mark.parametrize(("path", "wait"), [("busy", 120), ("unavailable", 3600)])
def test_retry_after_is_honoured_on_the_next_run(server, sqlite_store, clock, path, wait):
    url = f"{server.url}/{path}/news.xml"
    first = run(sqlite_store, url)
    assert first.failed == 1
    assert "not fetched again before" in first.errors[0].reason
    remembered = state(sqlite_store, url).retry_after
    assert abs((remembered - clock.at).total_seconds() - wait) < 5
    soon = run(sqlite_store, url)
    assert (soon.failed, len(server.asked(f"/{path}/news.xml"))) == (0, 1)
    assert "the server asked to wait until" in soon.warnings[0].reason
    clock.at += timedelta(seconds=wait + 5)
    run(sqlite_store, url)
    assert len(server.asked(f"/{path}/news.xml")) == 2


# -- failures, in words ---------------------------------------------------------------


def test_an_html_page_is_named_as_one(server, sqlite_store):
    report = run(sqlite_store, f"{server.url}/html/news.xml")
    assert [e.reason for e in report.errors] == ["not a feed: the server sent an HTML page"]


def test_a_body_cut_short_is_named_and_a_cut_off_document_keeps_its_entries(server, sqlite_store):
    server.feeds["big.xml"] = news(*((f"b-{n}", f"Story number {n} of many") for n in range(50)))
    truncated = run(sqlite_store, f"{server.url}/truncated/big.xml")
    assert truncated.new == 0
    assert truncated.errors[0].reason.startswith(
        "cannot fetch: the connection closed before the whole feed arrived"
    )
    cut = run(sqlite_store, f"{server.url}/cut/big.xml")
    assert 0 < cut.new < 50
    assert "the feed is cut off" in cut.errors[0].reason


def test_a_feed_over_the_size_cap_is_refused_however_well_it_compresses(server, sqlite_store):
    report = run(sqlite_store, f"{server.url}/huge/news.xml")
    assert [e.reason for e in report.errors] == ["the feed is larger than 20 MB; not read"]


def test_failures_in_a_row_are_counted_and_reset_by_a_success(server, sqlite_store):
    url = f"{server.url}/feed/later.xml"
    for _ in range(3):
        assert run(sqlite_store, url).failed == 1
    failing = state(sqlite_store, url)
    assert failing.failures == 3
    assert failing.last_error == "HTTP 404 Not Found: no feed at this address"
    server.feeds["later.xml"] = STORIES
    assert run(sqlite_store, url).new == 2
    fine = state(sqlite_store, url)
    assert (fine.failures, fine.last_error) == (0, None)
    assert fine.last_new == fine.last_fetched


# -- one deadline each, side by side --------------------------------------------------


def test_a_trickling_server_is_cut_off_at_the_deadline(server, sqlite_store):
    started = time.monotonic()
    report = run(sqlite_store, f"{server.url}/trickle/news.xml", timeout=1)
    assert time.monotonic() - started < 2.5
    assert [e.reason for e in report.errors] == ["cannot fetch: not complete after 1 seconds"]


def test_feeds_download_side_by_side_each_within_its_own_deadline(server, sqlite_store):
    stuck = [f"{server.url}/never/news.xml?{n}" for n in range(8)]
    good = f"{server.url}/feed/news.xml"
    started = time.monotonic()
    report = run(sqlite_store, *stuck, good, timeout=1, concurrency=8)
    took = time.monotonic() - started
    assert took < 1 + 1.5, f"{took:.1f} s: one after another would take 8"
    assert report.new == 2
    assert [e.where for e in report.errors] == stuck  # in the order given


def test_a_source_has_its_own_timeout(server, sqlite_store):
    slow = Source(f"{server.url}/never/news.xml", timeout=0.5)
    started = time.monotonic()
    report = run(sqlite_store, slow, timeout=30)
    assert time.monotonic() - started < 2
    assert report.errors[0].reason == "cannot fetch: not complete after 0.5 seconds"


def test_a_stop_cancels_the_downloads_in_flight(server, sqlite_store):
    started = time.monotonic()
    stop_at = started + 0.5
    report = run(
        sqlite_store,
        f"{server.url}/never/news.xml",
        timeout=30,
        should_stop=lambda: time.monotonic() > stop_at,
    )
    assert time.monotonic() - started < 2
    assert report.new == 0


# -- configured sources ---------------------------------------------------------------


def test_a_configured_name_keywords_and_no_categories(server, sqlite_store):
    server.feeds["tagged.xml"] = STORIES.replace(
        b"</title><guid", b"</title><category>Uncategorized</category><guid"
    )
    source = Source(
        f"{server.url}/feed/tagged.xml",
        name="Harbour Gazette",
        keywords=("Local",),
        categories=False,
    )
    run(sqlite_store, source)
    stored = every_article(sqlite_store)
    assert {a.source for a in stored} == {"Harbour Gazette"}
    assert {tuple(a.keywords) for a in stored} == {("Local",)}


def test_the_command_fetches_configured_sources_and_lists_their_state(server, tmp_path):
    (tmp_path / "digest.toml").write_text(
        "feed_timeout = 2\n"
        f'[[sources]]\nname = "Example News"\nurl = "{server.url}/feed/news.xml"\n'
        f'[[sources]]\nurl = "{server.url}/gone/news.xml"\n'
        f'[[sources]]\nname = "Broken"\nurl = "{server.url}/html/news.xml"\n'
    )
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}

    def digest(*args):
        return subprocess.run(
            [sys.executable, "-m", "digest", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ingested = digest("ingest")
    assert ingested.returncode == 1
    assert ingested.stdout.strip() == "ingested: 2 new, 0 updated, 0 skipped, 1 failed"
    assert (
        f"error: {server.url}/html/news.xml: not a feed: the server sent an HTML page"
        in ingested.stderr
    )
    listed = digest("sources")
    assert listed.returncode == 0
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert lines[0] == ["source", "last fetched", "last new article", "failures", "state"]
    named, gone, broken = lines[1:]
    assert named[0] == f"Example News ({server.url}/feed/news.xml)"
    assert (named[3], named[4]) == ("0", "ok")
    assert named[1] == named[2] != "never"
    assert gone[4].startswith("disabled: 410 Gone since ")
    assert (broken[3], broken[4]) == ("1", "error: not a feed: the server sent an HTML page")
    again = digest("ingest")
    assert again.stdout.strip() == "ingested: 0 new, 0 updated, 2 skipped, 1 failed"
    assert digest("sources").stdout.splitlines()[3].split("\t")[3] == "2"
    reset = digest("sources", "--reset", f"{server.url}/gone/news.xml")
    assert reset.returncode == 0, reset.stderr
    assert "fetched afresh" in reset.stdout
    assert digest("sources").stdout.splitlines()[2].split("\t")[4] == "not read yet"
    unknown = digest("sources", "--reset", "Nowhere")
    assert unknown.returncode == 2
    assert "no configured source is 'Nowhere'" in unknown.stderr


# -- what is stored and shown ---------------------------------------------------------


def test_a_feed_password_is_in_no_state_and_no_line_of_digest_sources(server, tmp_path):
    host = server.url.removeprefix("http://")
    (tmp_path / "digest.toml").write_text(
        f'sources = ["http://reader:S3cret-pw@{host}/301/news.xml", '
        f'"http://reader:S3cret-pw@{host}/html/news.xml"]\n'
    )
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    for command in (["ingest"], ["ingest"], ["sources"]):
        run = subprocess.run(
            [sys.executable, "-m", "digest", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "S3cret" not in run.stdout + run.stderr
    assert f"http://reader:***@{host}/301/news.xml" in run.stdout
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("d.db*"))
    assert b"S3cret" not in stored
    # The redirect was followed with the password the second time too (same host).
    assert [h.get("authorization", "")[:6] for h in server.asked("/feed/news.xml")] == [
        "Basic ",
        "Basic ",
    ]


def test_a_javascript_or_data_link_is_never_a_link_in_the_email(
    server, store, settings, monkeypatch
):
    from digest.editions.contents import preview

    monkeypatch.setenv("DIGEST_SECRET", "http-test-secret")
    server.feeds["bad.xml"] = (
        b'<rss version="2.0"><channel><title>Tricks</title>'
        b"<item><title>Click for a prize today</title><link>JavaScript:alert(1)</link>"
        b"<guid>t1</guid></item>"
        b"<item><title>An image that is a page</title>"
        b"<link> data:text/html;base64,PHNjcmlwdD4= </link><guid>t2</guid></item>"
        b"</channel></rss>"
    )
    report = ingest(
        store, [f"{server.url}/feed/bad.xml"], ZONE, now=NOW - timedelta(hours=1), timeout=5
    )
    assert report.new == 2
    assert [w.reason.split(":")[0] for w in report.warnings] == ["url", "url"]
    assert all("stored without a link" in w.reason for w in report.warnings)
    html = preview(store, settings, None, None, now=NOW).rendered.html
    assert "Click for a prize today" in html and "An image that is a page" in html
    assert "javascript:" not in html.lower() and "data:text" not in html


def test_a_validator_that_cannot_be_sent_back_is_not_kept(sqlite_store, clock):
    class Odd(FeedStandIn):
        def _feed(self, h, name, body, headers):
            self._send(h, 200, body, {"ETag": '"caf\xe9"', "Content-Type": "application/xml"})

    with Odd() as odd:
        odd.feeds["news.xml"] = STORIES
        url = f"{odd.url}/feed/news.xml"
        assert run(sqlite_store, url).new == 2
        assert state(sqlite_store, url).etag is None
        assert run(sqlite_store, url).failed == 0  # fetched again, not refused for its header
