"""Every item worth its line (issue 21, point 4, grouping side): a mailing list's thread,
a status page's updates and text-less posts, on the real feeds of tests/data/feeds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from digest.grouping.items import fold_items, is_textless, status_of, subject_key, thread_subject
from digest.keywords import normalise
from digest.models import StoredArticle
from digest.sources import read

FEEDS = Path(__file__).resolve().parent.parent / "data" / "feeds"
_ids = itertools.count(1)


def feed_items(name: str) -> list[StoredArticle]:
    """A real feed's entries as the store would give them back."""
    result = read(str(FEEDS / name), ZoneInfo("UTC"))
    assert result.articles and not result.errors
    return [
        StoredArticle(**vars(a), id=next(_ids), first_seen=datetime(2026, 11, 24, tzinfo=UTC))
        for a in result.articles
    ]


def stored(title: str, source: str = "Blog", *, summary: str = "Text.", hours: float = 0):
    n = next(_ids)
    return StoredArticle(
        guid=f"g{n}",
        title=title,
        url=f"https://example.org/{n}",
        summary=summary,
        source=source,
        published=datetime(2026, 11, 24, 12, tzinfo=UTC) - timedelta(hours=hours),
        id=n,
    )


# -- a mailing list's thread -------------------------------------------------------------


def test_a_mailing_lists_thread_is_one_item_with_its_message_count_and_latest_link():
    messages = feed_items("gmane-feed.rss")
    replies = [m for m in messages if m.title.startswith("Re: new maintainer")]
    assert len(replies) == 4
    items = fold_items(messages)
    [thread] = [i for i in items if "new maintainer" in i.title]
    assert thread.title == "new maintainer and mailing list for rss2email"
    assert thread.thread_size == 4
    latest = max(replies, key=lambda m: m.when)
    assert thread.url == latest.url and thread.when == latest.when
    # The other conversation stays its own item, unfolded.
    [split] = [i for i in items if i.title == "split massive package into modules"]
    assert split.thread_size == 0
    assert len(items) == len(messages) - 3


def test_threads_of_two_lists_with_one_subject_stay_apart():
    one = [stored("Re: release plans", "list-a"), stored("release plans", "list-a", hours=1)]
    other = [stored("Re: release plans", "list-b")]
    items = fold_items([*one, *other])
    assert sorted((i.source, i.thread_size) for i in items) == [("list-a", 2), ("list-b", 0)]


def test_a_thread_carries_every_message_s_keywords_and_other_sources():
    first = stored("[rss2email] Fwd: new version", "list", hours=2)
    first.keywords, first.also = ["Python"], ["Mirror"]
    reply = stored("AW: Re: [rss2email] new version", "list")
    [item] = fold_items([first, reply])
    assert (item.title, item.keywords, item.also, item.thread_size) == (
        "new version",
        ["Python"],
        ["Mirror"],
        2,
    )


_PREFIXES = st.lists(
    st.sampled_from(["Re: ", "RE: ", "Fwd: ", "FW: ", "AW: ", "SV: ", "Re[2]: ", "[list] "]),
    max_size=4,
)


@given(prefixes=_PREFIXES, subject=st.text(min_size=1, max_size=60))
def test_reply_prefixes_and_list_tags_never_change_the_thread(prefixes, subject):
    bare = thread_subject(subject)
    if not bare:
        return  # whitespace only: no subject to thread by
    stacked = "".join(prefixes) + bare
    assert thread_subject(stacked) == thread_subject(bare) == thread_subject(thread_subject(bare))
    assert subject_key(stacked) == subject_key(bare)


@given(st.text(max_size=200))
def test_any_title_gives_a_subject_and_a_status_without_failing(title):
    # Only prefixes and tags are cut, from the front: the rest is the title as written.
    assert normalise(title).endswith(thread_subject(title))
    found = status_of(title)
    assert found is None or (isinstance(found[0], str) and found[1])


# -- a status page's updates -------------------------------------------------------------


def test_a_status_pages_updates_are_one_item_per_component_with_the_latest_state():
    updates = feed_items("fastmailstatus-feed.rss")
    items = fold_items(updates)
    by_component = {status_of(i.title)[0]: i for i in items}
    assert sorted(by_component) == ["General availability", "Login & sessions", "Support System"]
    for component, item in by_component.items():
        mine = [u for u in updates if status_of(u.title)[0] == component]
        latest = max(mine, key=lambda u: u.when)
        assert (item.url, item.state, item.thread_size) == (
            latest.url,
            status_of(latest.title)[1],
            len(mine),
        )
    assert by_component["Support System"].thread_size == 6


def test_an_ordinary_headline_with_a_dash_is_not_a_status_update():
    posts = [stored("Prices go up - again", "Paper"), stored("Prices go up - again", "Paper")]
    assert status_of(posts[0].title) is None
    [item] = fold_items(posts)  # the same title twice: one source's repeat, one item
    assert (item.state, item.thread_size) == ("", 2)


# -- text-less posts ----------------------------------------------------------------------


def test_photo_posts_are_folded_under_the_sources_newest_real_post():
    posts = feed_items("tumblr-feed.rss")
    photos = [p for p in posts if p.title == "Photo"]
    assert len(photos) == 12
    items = fold_items(posts)
    assert not [i for i in items if i.title == "Photo"]
    assert len(items) == len(posts) - 12
    [carrier] = [i for i in items if i.folded]
    assert carrier.when == max(p.when for p in posts if p.title != "Photo")
    assert sorted(carrier.folded) == sorted(p.url for p in photos)


def test_a_source_with_only_text_less_posts_shows_nothing():
    posts = [p for p in feed_items("tumblr-feed.rss") if p.title == "Photo"]
    assert fold_items(posts) == []


def test_a_headline_without_text_keeps_its_line_and_a_format_title_does_not():
    headline = stored("Storm Bert: thousands without power in Wales", summary="")
    assert not is_textless(headline)
    for title in ("Photo", "Video 3", "Untitled", "", "(no title)", "Gallery:"):
        assert is_textless(stored(title)), title
    assert is_textless(stored("Sunset", summary=""))  # one word and nothing else
    assert not is_textless(stored("Sunset", summary="Over the bay, last night."))
