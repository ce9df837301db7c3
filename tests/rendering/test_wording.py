"""The made-up words of an email: names, sentences, lists, times and anchors."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.rendering.plaintext import width
from digest.rendering.wording import (
    _greeting,
    anchor,
    and_list,
    greeting,
    lede,
    local_time,
    plural,
    preheader,
    shorten,
)

HELLO = "Hello {first_name},"


@pytest.mark.parametrize(
    ("name", "first_name", "said"),
    [
        # A first name given is the greeting's, whatever the name.
        ("Amira Haddad", "Amira", "Hello Amira,"),
        ("Zhang Wei", "Wei", "Hello Wei,"),
        ("", "Chidi", "Hello Chidi,"),
        # Without one, the name whole: never a word guessed from it.
        ("Abd al-Rahman Haddad", "", "Hello Abd al-Rahman Haddad,"),
        ("Zhang Wei", "", "Hello Zhang Wei,"),
        ("عبد الرحمن حداد", "", "Hello عبد الرحمن حداد,"),
        ("Okafor, Chidi", "", "Hello Okafor, Chidi,"),
        ("Dr. Ada Lovelace", "", "Hello Dr. Ada Lovelace,"),
        ("  Ada \n Lovelace ", "", "Hello Ada Lovelace,"),
        ("李小龍", "", "Hello 李小龍,"),
        # No name at all, or only an address where it goes.
        ("", "", "Hello,"),
        ("  ", " ", "Hello,"),
        (" , ", "", "Hello,"),
        ("ann@example.com", "", "Hello,"),
        ("Ann <ann@example.com>", "", "Hello Ann,"),
    ],
)
def test_a_greeting_uses_the_first_name_given_else_the_name_whole(name, first_name, said):
    assert greeting(HELLO, name, first_name) == said


@given(
    st.sampled_from([HELLO, "Dear {name}!", "{first_name}", "Hi {first_name} ({name})"]),
    st.one_of(
        st.text(st.sampled_from("ab Z9 ,.@_-\t\n\x1c<>&é李"), max_size=20),
        st.text(st.sampled_from("ab Z9 ,."), min_size=45, max_size=60),
        st.text(st.sampled_from("李李 a"), min_size=24, max_size=50),  # 2 columns each
    ),
    st.sampled_from(["", "", "Ann", " "]),
)
def test_the_short_way_for_a_plain_name_greets_exactly_as_the_long_way(template, name, first):
    """Most names take a shortcut (a send makes a million greetings): it never
    changes one, at the edges of its conditions (50 columns, ASCII, an "@")."""
    assert greeting(template, name, first) == _greeting(template, name, first)


def test_the_name_field_is_the_name_else_the_first_name():
    assert greeting("Dear {name},", "Amira Haddad", "Amira") == "Dear Amira Haddad,"
    assert greeting("Dear {name},", "", "Amira") == "Dear Amira,"
    assert greeting("Hi {first_name} ({name})", "Zoë Lambert", "Zoë") == "Hi Zoë (Zoë Lambert)"
    assert greeting("Dear {name}!", "", "") == "Dear!"


_NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80).filter(
    lambda s: "@" not in s
)


@given(_NAMES)
def test_without_a_first_name_the_greeting_holds_the_name_whole_or_shortened(name):
    said = greeting(HELLO, name)
    whole = " ".join(name.split())
    if not any(char.isalnum() for char in whole):
        assert said == "Hello,"
    elif width(whole) <= 50:
        assert said == f"Hello {whole},"  # every word of it, in its order
    else:
        assert said == f"Hello {shorten(whole, 50)}," and width(said) <= len("Hello ,") + 50


@given(_NAMES, _NAMES.filter(lambda s: any(char.isalnum() for char in s)))
def test_a_first_name_given_is_the_whole_greeting_whatever_the_name(name, first_name):
    assert greeting(HELLO, name, first_name) == greeting(HELLO, "", first_name)


def test_and_list_reads_like_a_sentence():
    assert and_list([]) == ""
    assert and_list(["Climate"]) == "Climate"
    assert and_list(["Climate", "Energy"]) == "Climate and Energy"
    assert and_list(["A", "B", "C"]) == "A, B and C"


def test_plural():
    assert plural(1, "story", "stories") == "1 story"
    assert plural(2, "story", "stories") == "2 stories"
    assert plural(1200, "topic") == "1,200 topics"


def test_lede_keeps_one_or_two_sentences():
    text = "First one here. The U.S. said no. A third! And a fourth."
    assert lede(text) == "First one here. The U.S. said no."
    assert lede("No full stop at all") == "No full stop at all"
    long = "word " * 200
    assert lede(long).endswith("…") and len(lede(long)) <= 320


@given(st.text(max_size=400), st.integers(10, 120))
def test_shorten_fits_and_never_cuts_a_word_it_can_keep_whole(text, columns):
    short = shorten(text, columns)
    # Display columns, not characters: combining marks take none, CJK takes two.
    assert width(short) <= columns
    folded = " ".join(text.split())
    if short != folded:
        assert short.endswith("…")
        kept = short[:-1].rstrip(" ,;:.-–—")
        assert folded.startswith(kept)


def test_local_time_is_in_the_editions_zone():
    new_york = ZoneInfo("America/New_York")
    day = date(2026, 11, 24)
    assert local_time(datetime(2026, 11, 24, 12, 30, tzinfo=UTC), day, new_york) == "07:30"
    assert local_time(datetime(2026, 11, 24, 2, 5, tzinfo=UTC), day, new_york) == "yesterday 21:05"
    assert local_time(datetime(2026, 11, 20, 15, 0, tzinfo=UTC), day, new_york) == "20 Nov 10:00"
    assert local_time(None, day, new_york) == ""
    # Across a change of the clocks, the local hour (not UTC's offset of the day).
    assert (
        local_time(
            datetime(2026, 3, 29, 9, 0, tzinfo=UTC), date(2026, 3, 29), ZoneInfo("Europe/London")
        )
        == "10:00"
    )


def test_anchors_are_readable_where_they_can_be():
    assert anchor("climate") == "climate"
    assert anchor("\x00more-news") == "more-news"
    assert re.fullmatch(r"solar-energy-[0-9a-f]{6}", anchor("solar energy"))
    assert re.fullmatch(r"topic-[0-9a-f]{6}", anchor("李小龍"))


@given(st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=20, unique=True))
def test_anchors_are_unique_and_safe_in_a_url(keys):
    made = [anchor(k) for k in keys]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[a-z0-9-]+", a) for a in made)


def test_the_preheader_is_one_sentence_about_what_else_is_inside():
    text = preheader(["Glaciers melt", "Rates held"], 16, ["Climate", "Economy", "Space", "Tech"])
    assert text == "Also: Rates held, and 14 more stories on Climate, Economy, Space and more."
    assert preheader(["Glaciers melt", "Rates held"], 2, ["Climate"]) == "Also: Rates held."
    assert preheader(["Glaciers melt"], 1, ["Climate"]) == "Glaciers melt, on Climate."
    assert preheader([], 0, []) == ""
    long = preheader(["x " * 80, "word " * 60], 3, ["A"])
    assert "…" in long and long.count(".") == 1 and len(long) < 160
