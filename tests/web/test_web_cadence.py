"""How often, when and a pause on the real server, driven with httpx: the
preferences page, and the sign-up page's daily or weekly, on SQLite and
PostgreSQL. (In a browser: ``test_web_cadence_browser``.)"""

from __future__ import annotations

import re
from datetime import date, time

import httpx
import pytest
from conftest import subscriber
from signup_site import SECRET, open_door, sign_up, wait_for_notices
from webserver import NO_PROXY, on_server, running

from digest.rendering.links import make_token


@pytest.fixture
def site(store, settings, monkeypatch):
    """Ann (weekly at 06:30 already) and Bob (the site's everything), and the server."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    open_door(settings)
    settings.timezone = "Pacific/Auckland"  # NOW (24 Nov 12:00 UTC) is 25 Nov there
    ann = subscriber("ann@example.com", ["Climate"], name="Ann")
    ann.frequency, ann.send_time = "weekly", time(6, 30)
    store.save_subscribers([ann, subscriber("bob@example.org", name="Bob")])
    with running(store, settings, SECRET.encode()) as base:
        yield store, settings, base


def link(store, base: str, address: str) -> str:
    sub = store.find_subscriber(address)
    return f"{base}/preferences/{make_token(sub.id, sub.email, SECRET.encode())}"


def choices(store, address: str) -> tuple:
    sub = store.find_subscriber(address)
    return sub.topics, sub.frequency, sub.send_time, sub.paused_until


def test_the_page_shows_the_stored_choices_and_looking_changes_nothing(site):
    store, _, base = site
    before = choices(store, "ann@example.com")

    html = httpx.get(link(store, base, "ann@example.com")).text

    assert re.search(r'value="weekly" checked> Once a week, on Mondays', html)
    assert '<option value="06:30" selected>06:30</option>' in html
    assert '<option value="">07:00, the usual time</option>' in html
    assert "Time of day (Pacific/Auckland)" in html
    # The date field starts at today where Ann is sent (already the 25th in Auckland).
    assert 'min="2026-11-25"' in html and 'max="2027-11-26"' in html
    assert html.index('id="save"') < html.index('id="pause-week"') < html.index('id="unsubscribe"')
    assert choices(store, "ann@example.com") == before


def test_saving_topics_leaves_how_often_and_when_alone_unless_changed(site):
    store, _, base = site
    # Bob's page sends "daily" and the usual time back: stored as the site's, not copied.
    page = httpx.post(
        link(store, base, "bob@example.org"),
        data={"topic": "Space", "other": "", "frequency": "daily", "send_time": ""},
    )
    assert page.status_code == 200 and "every day at 07:00" in page.text
    assert choices(store, "bob@example.org") == (["Space"], None, None, None)

    # A form without the new fields (a page served before the upgrade) keeps them too.
    httpx.post(link(store, base, "ann@example.com"), data={"topic": "Energy", "other": ""})
    assert choices(store, "ann@example.com") == (["Energy"], "weekly", time(6, 30), None)

    httpx.post(
        link(store, base, "ann@example.com"),
        data={"topic": "Energy", "other": "", "frequency": "daily", "send_time": ""},
    )
    assert choices(store, "ann@example.com") == (["Energy"], "daily", None, None)


@pytest.mark.parametrize(
    ("form", "until"),
    [
        ({"pause": "week"}, date(2026, 12, 2)),  # seven days from the 25th, in Auckland
        ({"pause": "month"}, date(2026, 12, 25)),
        ({"pause": "date", "until": "2027-01-03"}, date(2027, 1, 3)),
    ],
)
def test_a_pause_is_one_click_and_resume_is_another(site, form, until):
    store, _, base = site

    paused = httpx.post(link(store, base, "bob@example.org"), data=form)

    assert paused.status_code == 200 and '<h1 id="done">Paused</h1>' in paused.text
    assert f"{until.day} {until:%B %Y}" in paused.text and 'id="resume"' in paused.text
    assert choices(store, "bob@example.org")[3] == until
    resumed = httpx.post(link(store, base, "bob@example.org"), data={"pause": "resume"})
    assert "Emails resumed" in resumed.text and choices(store, "bob@example.org")[3] is None


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"pause": "date", "until": "2026-11-24"}, "24 November 2026 has already passed"),
        ({"pause": "date", "until": "2028-01-01"}, "a pause can last a year at most"),
        ({"pause": "date", "until": ""}, "choose the day the pause ends"),
        ({"pause": "date", "until": "1/1/2027"}, "not a date YYYY-MM-DD"),
        ({"pause": "forever"}, "that was not the pause form"),
        ({"other": "", "frequency": "hourly"}, "not daily or weekly: &#39;hourly&#39;"),
        ({"other": "", "send_time": "25:00"}, "not a time of day HH:MM"),
    ],
)
def test_a_value_no_page_offers_is_400_saying_why_and_changes_nothing(site, form, said):
    store, _, base = site
    before = choices(store, "bob@example.org")

    page = httpx.post(link(store, base, "bob@example.org"), data=form)

    assert page.status_code == 400 and said in page.text
    assert choices(store, "bob@example.org") == before


def test_signing_up_weekly_confirms_as_weekly(site):
    store, settings, base = site
    with httpx.Client() as http:
        form = http.get(f"{base}/subscribe").text
        assert re.search(r'value="daily" checked> Every day', form)
        assert "Once a week, on Mondays" in form
        answer = sign_up(http, base, "cy@example.net", frequency="weekly")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        link_ = on_server(wait_for_notices(settings, 1)[0].confirm_link, base)
        assert http.post(link_).status_code == 200

    assert store.find_subscriber("cy@example.net").frequency == "weekly"


def test_a_frequency_no_form_offers_is_refused_and_nothing_is_sent(site):
    store, settings, base = site
    with httpx.Client() as http:
        answer = sign_up(http, base, "cy@example.net", frequency="hourly")

    assert answer.status_code == 400 and "Not subscribed: choose daily or weekly" in answer.text
    assert not (settings.outbox_dir / "notices").exists()
    assert store.find_subscriber("cy@example.net") is None
