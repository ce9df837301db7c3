"""An email joined from pieces is byte for byte the email rendered and inlined whole.

``render_segment`` joins pieces rendered and inlined once per edition and
shared by every segment (``digest/rendering/fragments.py``); ``render``
renders the one copy whole. A recipient must not be able to tell: whatever
the articles, the topics, the zone or the order segments come in, one
renderer's joined copies equal the whole renders, HTML and text.
"""

from __future__ import annotations

import shutil
import string
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import DATA, ROOT
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from test_render import sections_of, stored

from digest.config.settings import Settings
from digest.models import Edition
from digest.rendering.fragments import balanced
from digest.rendering.links import Links, view_url
from digest.rendering.personal import greeting_for
from digest.rendering.renderer import Renderer

WHEN = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
KEYWORDS = ["Climate", "Energy", "Space", "Health", "Café", "東京", "AI & Law", "<Tags>"]
LINKS = Links("https://news.example.org", b"fragments-test-key")
SETTINGS = Settings(
    templates_dir=ROOT / "templates",
    public_url="https://news.example.org",
    postal_address="1 Road & Co, <Town>",
)

# Titles and summaries as feeds send them: markup characters, quotes, wide and
# combining characters, right-to-left text, no-break spaces, and the odd
# control character that lxml would drop (such a segment is rendered whole).
ODD = "&<>\"' \u00a0\u200b\u0301é李ש🎉%{}#\x07\ufffd"
words = st.text(alphabet=string.ascii_letters + string.digits + ODD, min_size=1, max_size=40)


def edition(zone: str) -> Edition:
    return Edition(
        date=date(2026, 11, 24),
        timezone=zone,
        window_start=WHEN - timedelta(hours=36),
        cutoff=WHEN + timedelta(hours=1),
        id=1,
    )


@st.composite
def days(draw):
    count = draw(st.integers(1, 30))
    articles = []
    for n in range(count):
        title = draw(words)
        articles.append(
            stored(
                title,
                draw(st.lists(st.sampled_from(KEYWORDS), max_size=3, unique=True)),
                n,
                summary=draw(st.one_of(st.just(""), words.map(lambda w: w + ". More here."))),
                url=draw(st.sampled_from([f"https://news.example.org/{n}?a=1&b=2", None])),
                source=draw(st.sampled_from(["Example Times", "Ünïcode Wire", "A & B"])),
            )
        )
    return articles


def copies(renderer: Renderer, day, topics, zone: str, view: str, n: int, cap: int = 8):
    """(the copy joined from pieces, the copy rendered whole) for recipient ``n``."""
    sections = sections_of(day, topics, cap)
    token = LINKS.token(n, f"reader{n}@example.com")
    name = f"Reader {n} & <co>"
    joined = renderer.personal.fill(
        renderer.render_segment(edition(zone), sections, topics, view), name, token
    )
    whole = renderer.personal.fill(
        renderer.render_segment(edition(zone), sections, topics, view, whole=True), name, token
    )
    # And the copy rendered whole with the recipient's own values in it (which may
    # fit more than a segment, whose size guard keeps room for anyone's values).
    if len(whole.html.encode()) < 90_000:
        direct = renderer.render(
            edition(zone),
            sections,
            topics,
            greeting_for(name),
            LINKS.unsubscribe(n, f"reader{n}@example.com"),
            view,
            LINKS.pages.preferences(token),
        )
        assert (direct.html, direct.text) == (whole.html, whole.text)
    return joined, whole


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    day=days(),
    segments=st.lists(
        st.tuples(
            st.lists(st.sampled_from(KEYWORDS), max_size=4, unique=True),
            st.sampled_from(ZONES),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_segments_joined_from_pieces_equal_each_copy_rendered_whole(day, segments):
    renderer = Renderer(SETTINGS)
    for n, (topics, zone, with_view) in enumerate(segments):
        key = ";".join(sorted(t.lower() for t in topics))
        view = view_url("https://news.example.org", edition(zone), key) if with_view else ""
        joined, whole = copies(renderer, day, topics, zone, view, n)
        assert joined.html == whole.html
        assert joined.text == whole.text
        assert joined.subject == whole.subject


def test_a_day_too_big_for_one_email_is_cut_the_same_way_from_pieces():
    day = [
        stored(f"Story {n} about the matter at hand", ["Climate", "Energy"][n % 2 :], n)
        for n in range(260)
    ]
    for article in day:
        article.summary = "A long summary sentence that goes on. " * 8
    renderer = Renderer(SETTINGS)
    with pytest.warns(UserWarning, match="more than Gmail shows whole"):
        joined, whole = copies(renderer, day, [], "UTC", "https://news.example.org/a", 1, 300)
    assert joined.html == whole.html
    assert joined.text == whole.text
    assert len(joined.html.encode()) < 100_000


def test_an_operators_whole_document_template_still_renders_the_same_email(tmp_path):
    # An operator's templates_dir copied before the templates were cut into pieces.
    folder = tmp_path / "templates"
    shutil.copytree(DATA / "templates-whole", folder)
    shutil.copy(ROOT / "templates" / "digest.css", folder)
    day = [stored(f"Story {n}", [KEYWORDS[n % 4]], n) for n in range(12)]
    view = "https://news.example.org/archive/x"
    theirs = Renderer(
        Settings(
            templates_dir=folder,
            public_url="https://news.example.org",
            postal_address=SETTINGS.postal_address,
        )
    )
    ours = Renderer(SETTINGS)

    for topics in ([], ["Climate"], ["Energy", "Space"]):
        old, old_whole = copies(theirs, day, topics, "UTC", view, 3)
        new, _ = copies(ours, day, topics, "UTC", view, 3)
        assert old.html == old_whole.html == new.html
        assert old.text == new.text


def test_a_template_that_prints_between_its_pieces_is_inlined_whole(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    body = folder / "digest.html.j2"
    sponsor = '<tr><td class="more">Brought to you by the Library</td></tr>\n'
    body.write_text(
        body.read_text("utf-8").replace("{{ parts.tail() -}}", sponsor + "{{ parts.tail() -}}")
    )
    renderer = Renderer(Settings(templates_dir=folder, public_url="https://news.example.org"))
    day = [stored(f"Story {n}", ["Climate"], n) for n in range(3)]

    joined, whole = copies(renderer, day, [], "UTC", "", 1)

    assert joined.html == whole.html
    assert '<td class="more" style="padding:4px 24px 8px 24px">Brought to you' in joined.html


@given(st.text(alphabet='<>/ab!- "=', max_size=30))
def test_balance_is_judged_by_tags_alone(text):
    # A piece of escaped text never looks like a tag; only real tags count.
    escaped = text.replace("<", "&lt;").replace(">", "&gt;")
    assert balanced(f"<tr><td>{escaped}</td></tr>\n")
    assert not balanced(f"<tr><td>{escaped}\n")
    assert balanced(f"<p>{escaped}<br><img src=x></p><!-- <table> -->")
