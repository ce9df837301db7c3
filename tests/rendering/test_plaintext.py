"""The text part's wrapping: by display width, links whole, nothing lost."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config.settings import Settings
from digest.grouping.sections import Vocabulary, build_sections, tag_articles
from digest.models import Edition, StoredArticle
from digest.rendering.links import Links, view_url
from digest.rendering.plaintext import is_link, width, wrap
from digest.rendering.renderer import Renderer

WORDS = st.text(
    st.characters(
        codec="utf-8",
        categories=("L", "M", "N", "P", "S"),
        exclude_characters="\x85\u2028\u2029",
    ),
    min_size=1,
    max_size=40,
)
LINKS = st.builds(lambda tail: f"https://example.org/{tail}", st.text("abc/-_?=&", max_size=120))


def test_display_width_counts_columns_not_code_points():
    assert width("abc") == 3
    assert width("李小龍") == 6  # wide
    assert width("ｆｕｌｌ") == 8  # full-width forms
    assert width("e\u0301") == 1  # a combining accent takes no column
    assert width("a\u200bb") == 2  # nor does a zero-width space


def test_a_chinese_title_is_wrapped_by_its_width():
    text = "这是一个很长的中文标题没有空格因为中文不用空格分词所以需要按宽度断行" * 3
    lines = wrap(text, 72).splitlines()
    assert len(lines) > 2
    assert all(width(line) <= 72 for line in lines)
    assert "".join(lines) == text


def test_a_link_is_never_broken():
    link = "https://example.org/" + "a" * 120
    lines = wrap(f"Read it at {link} today", 40, indent="  ").splitlines()
    assert f"  {link}" in lines
    assert lines[0] == "  Read it at" and lines[-1] == "  today"


@settings(max_examples=300)
@given(
    st.lists(st.one_of(WORDS, LINKS), max_size=40), st.integers(20, 78), st.sampled_from(["", "  "])
)
def test_every_line_fits_unless_it_is_a_lone_link_and_no_word_is_lost(words, columns, indent):
    text = " ".join(words)
    wrapped = wrap(text, columns, indent=indent, first="* " if indent else "")

    for line in wrapped.splitlines():
        if width(line) > columns:
            word = line.strip().removeprefix("* ")
            assert is_link(word) and " " not in word, line
    # The same characters in the same order: only white space changed.
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", wrapped.replace("* ", "", 1) if indent else wrapped) == squeeze.sub(
        "", text
    )


WHEN = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EDITION = Edition(date(2026, 11, 24), "UTC", WHEN - timedelta(hours=36), WHEN, id=1)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(WORDS, st.lists(WORDS, max_size=30), WORDS), min_size=1, max_size=6),
    st.text(st.characters(codec="utf-8", categories=("L", "Zs")), max_size=60),
)
def test_the_text_part_keeps_to_78_columns_except_lone_links(stories, name):
    articles = [
        StoredArticle(
            guid=f"g{i}",
            title=title,
            url=f"https://news.example.org/{i}/" + "x" * (i * 30),
            summary=" ".join(summary),
            source=source,
            published=WHEN - timedelta(minutes=i),
            keywords=[f"Topic {title[:20]}", "Everything"],
            id=i + 1,
        )
        for i, (title, summary, source) in enumerate(stories)
    ]
    vocab = Vocabulary(known=[k for a in articles for k in a.keywords])
    sections = build_sections(tag_articles(articles, vocab), frozenset(), vocab, 3)
    renderer = Renderer(
        Settings(
            templates_dir=ROOT / "templates",
            postal_address="1 Main St",
            public_url="https://d.example",
        )
    )
    segment = renderer.render_segment(
        EDITION, sections, ["Topic"], view_url("https://d.example", EDITION, "topic")
    )
    links = Links("https://d.example", b"k")
    url = links.unsubscribe(1, "someone@example.com")

    text = renderer.personal.fill(segment, name, links.token(1, "someone@example.com")).text

    for line in text.splitlines():
        assert width(line) <= 78 or (is_link(line.strip()) and " " not in line.strip()), line
    assert "\n-- \n" in text
    assert text.rstrip().endswith(url)
