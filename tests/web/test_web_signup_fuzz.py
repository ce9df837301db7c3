"""Whatever a client posts to the front door (odd bytes, huge values, fields missing
or repeated, a form token of ours or garbage, any content type), the real server
answers with a page, never a 500."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from signup_site import SECRET, open_door
from webserver import NO_PROXY, running

from digest import clock
from digest.signup import front

FIELDS = ["email", "name", "first_name", "topic", "timezone", "website", "form_token", "altcha"]
ODD = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "ann@example.com",
            "Ann@Example.COM",
            "ann@example.com\r\nBcc: x@example.org",
            "a" * 5000 + "@example.com",
            "Europe/London",
            "../../etc/passwd",
            "localtime",
            "=?utf-8?q?hi?=",
            "\x00",
            "\u202e",
            "",
        ]
    ),
)
VALUE = st.one_of(
    ODD.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
)


@st.composite
def bodies(draw, token: str) -> tuple[bytes, str]:
    pairs = draw(st.lists(st.tuples(st.sampled_from([*FIELDS, "x"]), VALUE), max_size=12))
    if draw(st.booleans()):
        pairs.append(("form_token", token.encode()))
    body = b"&".join(
        quote_from_bytes(name.encode()).encode() + b"=" + quote_from_bytes(value).encode()
        for name, value in pairs
    )
    if draw(st.booleans()):
        body = draw(st.binary(max_size=200))  # not even a form
    kind = draw(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=latin-1",
                "multipart/form-data; boundary=x",
                "text/plain",
                "",
            ]
        )
    )
    return body, kind


@pytest.fixture
def site(sqlite_store, settings, monkeypatch):
    """One server for every example: what one odd post leaves, the next meets."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    open_door(settings)
    settings.signup.per_client_hour = settings.signup.per_client_day = 100_000
    key = SECRET.encode()
    with running(sqlite_store, settings, key) as base, httpx.Client() as http:
        yield http, base, key


@hsettings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_post_to_the_front_door_is_answered_with_a_page_never_a_500(site, data):
    http, base, key = site
    token = front.form_token(key, clock.utcnow())
    body, kind = data.draw(bodies(token))
    path = data.draw(st.sampled_from(["/subscribe", "/manage", "/confirm/c1.1.2.abc"]))
    headers = {"Content-Type": kind} if kind else {}

    answer = http.post(base + path, content=body, headers=headers)

    assert answer.status_code < 500, answer.text[:500]
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1" in answer.text
