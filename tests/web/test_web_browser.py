"""In a real browser: Playwright driving Debian's Chromium, 375 px wide (a phone),
against the real server, through the links of real .eml files in the outbox
(skipped without Chromium, except in CI: ``browsing``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from browsing import PHONE, TEXT_COLOURS, chromium, contrast, fits_the_phone
from conftest import NOW, article, subscriber
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest.delivery.outbox import OutboxProvider
from digest.models import ProviderEvent
from digest.sending.dispatch import Dispatcher

SECRET = "web-browser-secret"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(sqlite_store, settings, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    settings.public_url = PUBLIC_URL
    settings.topics = ["Climate", "Energy", "Health", "Space"]
    sqlite_store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
            article("Clinics extend hours", ["Health"], published=NOW - timedelta(hours=3)),
        ]
    )
    sqlite_store.save_subscribers(
        [
            subscriber("ann@example.com", ["Climate"], name="Ann"),
            subscriber("bob@example.org", name="Bob"),
        ]
    )
    provider = OutboxProvider(settings.outbox_dir)
    Dispatcher(sqlite_store, settings, provider, now=lambda: NOW).send()
    with running(sqlite_store, settings, SECRET.encode()) as base:
        yield sqlite_store, base, outbox_mails(settings.outbox_dir)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    tab.problems = []  # console errors, such as anything the security policy blocked
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(m.text))
    yield tab
    context.close()


def html_link(mail, text: str) -> str:
    """The href of the link reading ``text`` in the mail's HTML part, as a reader clicks it."""
    import re

    html = mail.message.get_body(("html",)).get_content()
    return re.search(rf'<a href="([^"]+)"[^>]*>{text}</a>', html).group(1)


def test_unsubscribe_in_two_clicks_from_the_link_in_the_email(site, page):
    store, base, mails = site
    page.goto(on_server(html_link(mails["ann@example.com"], "Unsubscribe"), base))

    heading = page.locator("h1")
    assert heading.inner_text() == "Unsubscribe a•••@e•••.com from Daily Digest?"
    assert fits_the_phone(page)
    button = page.locator("#unsubscribe")
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] > 300  # a thumb's target on a phone

    button.click()

    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text() == "You are unsubscribed"
    assert store.find_subscriber("ann@example.com").unsubscribed_at is not None
    assert store.find_subscriber("bob@example.org").unsubscribed_at is None

    page.locator("#resubscribe").click()

    page.wait_for_selector("text=You are subscribed again")
    assert store.find_subscriber("ann@example.com").unsubscribed_at is None
    assert page.problems == []


def test_a_bounced_persons_page_says_whom_to_write_to_and_offers_no_button_that_fails(site, page):
    store, base, mails = site
    bounce = ProviderEvent(
        "b1", "bounce", "ann@example.com", NOW, detail="550 5.1.1", suppress="bounced"
    )
    store.apply_events([bounce])
    page.goto(on_server(html_link(mails["ann@example.com"], "Unsubscribe"), base))

    assert page.locator("h1").inner_text() == "No emails go to a•••@e•••.com"
    contact = page.locator("#instead a")
    assert contact.get_attribute("href") == "mailto:digest@example.com" and contact.is_visible()
    assert page.locator("#resubscribe, #save, input[name=topic]").count() == 0
    assert fits_the_phone(page)

    page.locator("#unsubscribe").click()

    page.wait_for_selector("#done")
    assert page.locator("#resubscribe").count() == 0
    assert store.find_subscriber("ann@example.com").unsubscribed_at is not None
    assert page.problems == []


def test_change_topics_instead_of_leaving(site, page):
    store, base, mails = site
    page.goto(on_server(mails["bob@example.org"].unsubscribe_link, base))
    assert page.locator("input[name=topic]:checked").count() == 0  # everything, so far

    page.get_by_label("Energy").check()
    page.get_by_label("Health").check()
    page.fill("#other", "Space, Ocean life")
    page.locator("#save").click()

    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text() == "Saved"
    assert "gets Energy, Health, Ocean life, Space" in page.locator(".notice").inner_text()
    assert store.find_subscriber("bob@example.org").topics == [
        "Energy",
        "Health",
        "Space",
        "Ocean life",
    ]
    checked = page.locator("input[name=topic]:checked")
    assert sorted(checked.evaluate_all("boxes => boxes.map(b => b.value)")) == [
        "Energy",
        "Health",
        "Ocean life",
        "Space",
    ]
    assert fits_the_phone(page) and page.problems == []


def test_the_archive_and_view_in_your_browser(site, page):
    _, base, mails = site
    page.goto(f"{base}/archive")
    assert fits_the_phone(page)

    page.get_by_role("link", name="Tuesday, 24 November 2026").click()

    page.get_by_role("link", name="Glacier melt sets record").wait_for()
    assert page.url == f"{base}/archive/2026-11-24/UTC"
    for title in ("Solar beats forecasts", "Clinics extend hours"):
        assert page.get_by_role("link", name=title).is_visible()
    # The email's own styles apply (the policy lets them through): its phone layout.
    width = page.evaluate("document.querySelector('.container').getBoundingClientRect().width")
    assert width <= PHONE["width"]
    assert page.locator(".section-title").first.evaluate("e => getComputedStyle(e).color") == (
        "rgb(138, 47, 29)"
    )

    page.goto(on_server(html_link(mails["ann@example.com"], "View in your browser"), base))

    assert page.get_by_role("link", name="Glacier melt sets record").is_visible()
    assert page.get_by_role("link", name="Solar beats forecasts").count() == 0
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_is_readable_at_375px_in_light_and_dark_mode(site, browser, scheme):
    _, base, mails = site
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)
    page = context.new_page()
    bob = on_server(mails["bob@example.org"].unsubscribe_link, base)
    seen = {}
    for name, url in [
        ("archive", f"{base}/archive"),
        ("unsubscribe", bob),
        ("preferences", bob.replace("/unsubscribe/", "/preferences/")),
    ]:
        page.goto(url)
        seen[name] = page.evaluate(TEXT_COLOURS)
        assert fits_the_phone(page), name
    page.fill("#other", "Glacier, Zeppelin")
    page.locator("#save").click()
    page.wait_for_selector("#reach")
    seen["saved"] = page.evaluate(TEXT_COLOURS)
    page.locator("#unsubscribe").click()
    page.wait_for_selector("#resubscribe")
    seen["unsubscribed"] = page.evaluate(TEXT_COLOURS)
    background = page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor")
    context.close()

    # The dark scheme is really dark (not the light page again), and every text is AA.
    assert (background == "rgb(255, 255, 255)") == (scheme == "light")
    poor = [
        (name, element, fg, bg, round(contrast(fg, bg), 2))
        for name, found in seen.items()
        for element, fg, bg in found
        if contrast(fg, bg) < 4.5
    ]
    assert poor == []
    assert sum(len(found) for found in seen.values()) > 30
