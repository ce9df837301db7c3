"""Quote headers and addresses never open a summary (issue 21, point 4).

A mailing-list reply's first paragraph is its attribution line: "On Tue,
Alice <alice at example.com> wrote:". As a summary it tells the reader nothing
and shows an address. The gmane feed in tests/data/feeds is the real case.
"""

from __future__ import annotations

import pytest
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sources_feed import by_feedparser

from digest.sources import feed
from digest.sources.base import make_article
from digest.sources.text import ADDRESS, is_quote_header, summarise

GMANE = DATA / "feeds" / "gmane-feed.rss"
REPLY = "I agree, and the new release should say so in its notes."


@pytest.mark.parametrize("reader", ["lxml", "feedparser"])
def test_no_gmane_summary_opens_with_an_attribution_or_an_address(reader):
    parse = feed.parse if reader == "lxml" else by_feedparser
    articles = parse(GMANE.read_bytes(), "gmane-feed.rss").articles
    summaries = [a.summary for a in articles]
    assert len(summaries) == 5
    for summary in summaries:
        assert not summary.startswith(("*", "On ", ">"))
        assert "< at >" not in summary and not ADDRESS.search(summary)
    # What the replies say first, not who wrote the message they answer.
    assert summaries[1] == "Ack."
    assert summaries[3].startswith("It seems to work, though it may have been grouped")
    # The bodies keep every word: only the summary is chosen differently.
    assert "wking-vJI2gpByivqcqzYg7KEe8g< at >public.gmane.org" in articles[1].body


HEADERS = [
    "On Tue, Alice <alice at example.com> wrote:",
    "On Mon, Nov 12, 2012 at 06:17:50PM +0100, Etienne Millon wrote:",
    "* W. Trevor King <wking-vJI2gpByivqcqzYg7KEe8g< at >public.gmane.org> [121113 13:21]:",
    "Am 3. März 2026 um 10:12 schrieb Alice Example <alice@example.com>:",
    "Am 3. März schrieb Alice:",
    "Le 3 mars 2026 à 10:00, Alice Example a écrit :",
    "El 3 mar 2026, a las 10:00, Alice escribió:",
    "2026年3月3日 10:00，张三写道：",
    "alice at example dot com",
    "Alice Example <alice@…>",
    "Alice <alice [at] example [dot] org>",
    "> Quoted from the message before, > and its second line",
    "-----Original Message-----",
]


@pytest.mark.parametrize("header", HEADERS)
def test_a_quote_header_never_opens_a_summary(header):
    assert is_quote_header(header)
    assert summarise(f"{header}\n\n> what they said\n\n{REPLY}") == REPLY
    assert summarise(f"{header}\n\n{REPLY}") == REPLY


def test_a_header_run_into_the_reply_is_cut_at_its_colon():
    assert summarise(f"On Tue, Alice <alice at example.com> wrote: {REPLY}") == REPLY
    assert summarise(f"* Alice <alice@example.com> [121113 13:21]: {REPLY}") == REPLY


def test_a_message_that_only_quotes_has_no_summary_rather_than_the_header():
    entry = make_article(
        "f: entry 1",
        [],
        title="Re: release notes",
        summary="On Tue, Alice <alice at example.com> wrote:\n\n> the quote",
        body="On Tue, Alice <alice at example.com> wrote:\n\n> the quote",
    )
    assert entry.summary == ""


NEWS = [
    "The minister said on Tuesday:",
    "On Tuesday, the minister said in a statement that the plan would go ahead.",
    "Sales at Tesco rose by 4% in the quarter, the company said.",
    "Contact the press office at press@example.com for details about the programme, "
    "which opens to the public on Saturday with a festival in the park.",
    "Glaciers in the Alps lost about 4 per cent of their remaining ice volume last year.",
    "I just split the 1769-line rss2email.py module into a more manageable package:",
]


@pytest.mark.parametrize("paragraph", NEWS)
def test_news_paragraphs_are_not_mistaken_for_quote_headers(paragraph):
    assert summarise(f"{paragraph}\n\nSecond paragraph.") == paragraph


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=400))
def test_a_summary_is_always_the_texts_own_words_and_never_a_quote(text):
    summary = summarise(text)
    assert len(summary) <= 321
    assert summary.removesuffix("…") in " ".join(text.split())
    assert not summary.startswith(">")


@settings(max_examples=200, deadline=None)
@given(
    name=st.from_regex(r"[A-Z][a-z]{1,10} [A-Z][a-z]{1,10}", fullmatch=True),
    user=st.from_regex(r"[a-z][a-z0-9.]{0,12}", fullmatch=True),
    host=st.from_regex(r"[a-z]{2,10}\.(com|org|net|de)", fullmatch=True),
    style=st.sampled_from(["<{u}@{h}>", "<{u} at {h}>", "{u}< at >{h}", "({u} at {H})"]),
    lead=st.sampled_from(["On Tue, 3 Mar 2026, {n} {a} wrote:", "* {n} {a} [260303 10:12]:",
                          "{n} {a} wrote:", "Am 3. März 2026 schrieb {n} {a}:"]),
)  # fmt: skip
def test_any_attribution_with_an_address_is_cut(name, user, host, style, lead):
    address = style.format(u=user, h=host, H=host.replace(".", " dot "))
    header = lead.format(n=name, a=address)
    summary = summarise(f"{header}\n\n{REPLY}")
    assert summary == REPLY, header
