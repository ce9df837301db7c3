"""The preferences page's "how often", "when" and "pause", in Chromium at a phone's
width against the real server (skipped without Chromium, except in CI:
``browsing``). Set ``DIGEST_SCREENSHOTS`` to a folder to keep a picture of each
state, light and dark, for a person to look at.
"""

from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path

import pytest
from browsing import PHONE, TEXT_COLOURS, chromium, contrast, fits_the_phone
from conftest import NOW, subscriber
from webserver import NO_PROXY, running

from digest.rendering.links import make_token

SECRET = b"web-cadence-secret"
TODAY = NOW.date()  # 2026-11-24, a Tuesday, in UTC (the site's zone)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(sqlite_store, settings, monkeypatch):
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    settings.topics = ["Climate", "Energy", "Health", "Space"]
    settings.weekly_day = "friday"
    sqlite_store.save_subscribers([subscriber("ann@example.com", ["Climate"], name="Ann")])
    with running(sqlite_store, settings, SECRET) as base:
        sub = sqlite_store.find_subscriber("ann@example.com")
        yield sqlite_store, f"{base}/preferences/{make_token(sub.id, sub.email, SECRET)}"


def shoot(page, name: str) -> None:
    folder = os.environ.get("DIGEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def readable(page) -> list:
    return [
        (element, fg, bg, round(contrast(fg, bg), 2))
        for element, fg, bg in page.evaluate(TEXT_COLOURS)
        if contrast(fg, bg) < 4.5
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_weekly_at_a_time_then_a_pause_a_week_long_and_back(site, browser, scheme):
    store, link = site
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))

    page.goto(link)
    shoot(page, f"preferences-{scheme}")
    assert fits_the_phone(page) and readable(page) == []
    # Topics, then how often and when, then Save, then the pause; unsubscribing last.
    boxes = page.locator("input[name=topic], #send_time, #save, #pause-week, #unsubscribe")
    assert [boxes.nth(i).get_attribute("id") or "topic" for i in range(boxes.count())][-4:] == [
        "send_time",
        "save",
        "pause-week",
        "unsubscribe",
    ]
    assert page.get_by_label("Every day").is_checked()
    assert page.locator("#send_time").input_value() == ""  # the site's time, 07:00

    page.get_by_label("Once a week, on Fridays").check()
    page.select_option("#send_time", "06:30")
    page.locator("#save").click()
    page.wait_for_selector("#done")
    assert "once a week on Fridays at 06:30" in page.locator(".notice").inner_text()
    ann = store.find_subscriber("ann@example.com")
    assert (ann.frequency, ann.send_time, ann.topics) == ("weekly", time(6, 30), ["Climate"])

    page.locator("#pause-week").click()
    page.wait_for_selector("#resume")
    shoot(page, f"paused-{scheme}")
    assert fits_the_phone(page) and readable(page) == []
    assert "up to and including Tuesday 1 December 2026" in page.locator(".notice").inner_text()
    assert store.find_subscriber("ann@example.com").paused_until == date(2026, 12, 1)

    page.locator("#resume").click()
    page.wait_for_selector("#pause-month")
    assert page.locator("#done").inner_text() == "Emails resumed"
    assert store.find_subscriber("ann@example.com").paused_until is None
    assert problems == []
    context.close()


def test_a_typed_day_pauses_until_it_and_a_day_gone_by_is_refused(site, browser):
    store, link = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(link)

    # The browser's own date field keeps to its min; a form sent anyway is checked again.
    assert page.locator("#until").get_attribute("min") == TODAY.isoformat()
    page.fill("#until", "2026-12-24")
    page.locator("#pause-date").click()
    page.wait_for_selector("#resume")
    assert store.find_subscriber("ann@example.com").paused_until == date(2026, 12, 24)

    page.locator("#resume").click()
    page.wait_for_selector("#until")
    page.evaluate("document.querySelector('#until').removeAttribute('min')")
    page.fill("#until", "2026-11-01")
    page.locator("#pause-date").click()
    page.wait_for_selector(".problem")
    assert "1 November 2026 has already passed" in page.locator(".problem").inner_text()
    assert store.find_subscriber("ann@example.com").paused_until is None
    context.close()
