"""The SendGrid request body, as SendGrid reads it: whatever the names, tokens and
site address, each recipient's substitutions make exactly their own copy.

The body is written as JSON text, with a short way for the common token (one
``Links.token`` makes) and a long way for any other; both must give what
``Personalisation.fill`` gives, the copy rendered for that recipient alone.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from standins.sendgrid_server import _substitute

from digest.config.settings import Settings
from digest.delivery.base import Outgoing, parse_sender
from digest.delivery.sendgrid_body import build_payload
from digest.models import Edition, Recipient
from digest.rendering.links import Links
from digest.rendering.renderer import Rendered, Renderer

EDITION = Edition(date(2026, 12, 7), "UTC", datetime(2026, 12, 6, tzinfo=UTC), datetime.now(UTC), 7)
SITES = ["https://news.example.org", "https://example.org/a?b=1&c=2", 'https://example.org/"q"']
LINKS = Links("https://news.example.org", b"k" * 32)

names = st.one_of(
    st.sampled_from(["Reader 1", "Smith & Sons", "<b>Eve</b>", 'Ann "Nan" Lee', "Zoë", ""]),
    st.text(max_size=40),
)
tokens = st.one_of(
    st.integers(1, 10**9).map(lambda i: LINKS.token(i, f"r{i}@example.com")),  # the common one
    st.text(max_size=30),  # anything else takes the long way, and must read the same
)
people = st.lists(st.tuples(names, names, tokens), min_size=1, max_size=6)


def body_for(site: str, group: list[tuple[str, str, str]]) -> tuple[Renderer, Rendered, dict]:
    config = Settings(public_url=site, greeting="Hello {first_name} ({name}),")
    renderer = Renderer(config)
    html_keys, text_keys = renderer.personal.placeholders, renderer.personal.text_placeholders
    content = Rendered(
        "Subject",
        "<p>"
        + "|".join(html_keys.values())
        + f'<a href="{html_keys["unsubscribe_url"]}">x</a></p>',
        "\n".join(text_keys.values()),
    )
    recipients = [
        Recipient(n, f"r{n}@example.com", name, token, first)
        for n, (name, first, token) in enumerate(group, 1)
    ]
    sender = parse_sender(config.from_address)
    outgoing = Outgoing(EDITION, "s", content, recipients, renderer, sender)
    return renderer, content, json.loads(build_payload(outgoing, config))


@settings(max_examples=300, deadline=None)
@given(site=st.sampled_from(SITES), group=people)
def test_each_personalization_makes_exactly_that_recipients_copy(site, group):
    renderer, content, body = body_for(site, group)
    parts = {c["type"]: c["value"] for c in body["content"]}

    for (name, first, token), p in zip(group, body["personalizations"], strict=True):
        own = renderer.personal.fill(content, name, token, first)
        subs = p["substitutions"]
        assert _substitute(parts["text/html"], subs) == own.html
        assert _substitute(parts["text/plain"], subs) == own.text
        unsubscribe = renderer.personal.values(name, token, first).unsubscribe_url
        assert p["headers"]["List-Unsubscribe"] == f"<{unsubscribe}>"


def test_a_plain_batch_carries_one_set_of_substitutions():
    # Nothing in it changes once escaped: the text part shares the HTML's names,
    # half the bytes a recipient; one "&" in a name and the text part has its own.
    group = [("Reader 1", "", LINKS.token(1, "r1@example.com"))]
    _, _, plain = body_for(SITES[0], group)
    _, _, escaped = body_for(SITES[0], [*group, ("Smith & Sons", "", LINKS.token(2, "r2@x.org"))])

    assert len(plain["personalizations"][0]["substitutions"]) == 3
    assert len(escaped["personalizations"][0]["substitutions"]) == 6
