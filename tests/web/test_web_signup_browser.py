"""A person signs themselves up in Chromium on a phone (375 px), as the issue tells
it: the form (its script picks the browser's timezone), "Check your inbox", the
link in the .eml the outbox wrote, the page it opens (which changes nothing),
the button, and the next ``digest send`` mails them. And every page of the
front door read in light and dark mode: each text WCAG AA on its background."""

from __future__ import annotations

import re
import shutil
import time
from datetime import timedelta

import httpx
import pytest
from browsing import PHONE, TEXT_COLOURS, chromium, contrast, fits_the_phone
from conftest import article
from signup_site import SECRET, open_door, wait_for_notices
from webserver import NO_PROXY, PUBLIC_URL, on_server, outbox_mails, running

from digest import clock
from digest.delivery.outbox import OutboxProvider
from digest.sending.dispatch import Dispatcher


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(sqlite_store, settings, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    for name, value in NO_PROXY.items():
        monkeypatch.setenv(name, value)
    open_door(settings, min_seconds=1)
    with running(sqlite_store, settings, SECRET.encode()) as base:
        yield sqlite_store, settings, base


def tab(browser, scheme: str = "light"):
    """A phone-sized page whose console errors (a script the policy blocked) are kept."""
    context = browser.new_context(viewport=PHONE, color_scheme=scheme, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.problems = []
    # A 400 page (a bad link, a form to send again) is meant; a blocked script is not.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource: the server responded with a status")
            and page.problems.append(m.text)
        ),
    )
    return context, page


def test_a_person_signs_up_on_a_phone_confirms_by_the_button_and_gets_the_next_edition(
    site, browser
):
    store, settings, base = site
    context, page = tab(browser)
    page.goto(f"{base}/subscribe")

    assert page.locator("h1").inner_text() == "Subscribe to Daily Digest"
    assert page.locator("#timezone").input_value() == "Asia/Tokyo"  # the script ran
    assert fits_the_phone(page)
    honeypot = page.locator("#website").bounding_box()
    assert honeypot["x"] + honeypot["width"] <= 0  # off-screen: a person never sees it
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("First name, for the greeting").fill("Ann")
    page.get_by_label("Climate").check()
    time.sleep(1)  # a person takes longer than [signup] min_seconds to fill it in
    button = page.locator("#subscribe")
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] > 300
    button.click()

    page.wait_for_selector("#inbox")
    assert "An email to ann@example.com is on its way" in page.locator(".notice").inner_text()
    (notice,) = wait_for_notices(settings, 1)
    assert notice.to == "ann@example.com" and "List-Unsubscribe" not in notice.message
    assert "Ann" not in notice.text.replace("ann@example.com", "")
    link = on_server(notice.confirm_link, base)

    page.goto(link)
    page.goto(link)  # opened twice, as a mail scanner and then the person would
    assert page.locator("h1").inner_text() == "Subscribe a•••@e•••.com to Daily Digest?"
    assert store.find_subscriber("ann@example.com") is None
    assert fits_the_phone(page)
    page.locator("#confirm").click()

    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text() == "You are subscribed"
    ann = store.find_subscriber("ann@example.com")
    assert (ann.first_name, ann.topics, ann.timezone) == ("Ann", ["Climate"], "Asia/Tokyo")
    page.locator("#preferences").click()
    page.wait_for_selector("#save")
    assert page.locator("input[name=topic]:checked").evaluate_all(
        "boxes => boxes.map(b => b.value)"
    ) == ["Climate"]
    assert page.problems == []
    context.close()

    now = clock.utcnow()  # ann's own today, in Tokyo: the edition the next send makes
    store.now = lambda: now
    store.save_articles(
        [article("Glacier melt sets record", ["Climate"], published=now - timedelta(hours=1))]
    )
    report = Dispatcher(
        store, settings, OutboxProvider(settings.outbox_dir), now=lambda: now
    ).send()
    assert report.total("sent") == 1, repr(report)
    shutil.rmtree(settings.outbox_dir / "notices")  # read already: only the edition is left
    editions = outbox_mails(settings.outbox_dir)
    assert list(editions) == ["ann@example.com"]
    text = editions["ann@example.com"].message.get_body(("plain",)).get_content()
    assert "Hello Ann," in text and "Glacier melt sets record" in text
    assert editions["ann@example.com"].unsubscribe_link.startswith(PUBLIC_URL + "/unsubscribe/")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_front_door_page_is_readable_at_375px_in_light_and_dark_mode(site, browser, scheme):
    _store, settings, base = site
    context, page = tab(browser, scheme)
    seen = {}

    def look(name: str) -> None:
        seen[name] = page.evaluate(TEXT_COLOURS)
        assert fits_the_phone(page), name

    page.goto(f"{base}/subscribe")
    look("form")
    page.get_by_label("Email address").fill("not an address@")
    page.locator("#email").evaluate("e => e.type = 'text'")  # past the browser's own check
    time.sleep(1)
    page.locator("#subscribe").click()
    page.wait_for_selector("#problem")
    look("problem")
    page.get_by_label("Email address").fill("ann@example.com")
    page.locator("input[name=form_token]").evaluate("e => e.value = 'c0.altered'")
    page.locator("#subscribe").click()
    page.wait_for_selector("#again")
    look("again")
    time.sleep(1)
    page.locator("#subscribe").click()
    page.wait_for_selector("#inbox")
    look("inbox")
    link = on_server(wait_for_notices(settings, 1)[0].confirm_link, base)
    page.goto(link)
    look("confirm")
    page.locator("#confirm").click()
    page.wait_for_selector("#done")
    look("done")
    page.goto(link)
    look("bad link")
    page.goto(f"{base}/manage")
    look("manage")
    assert page.problems == []
    context.close()

    poor = [
        (name, element, fg, bg, round(contrast(fg, bg), 2))
        for name, found in seen.items()
        for element, fg, bg in found
        if contrast(fg, bg) < 4.5
    ]
    assert poor == []
    assert sum(len(found) for found in seen.values()) > 40


def test_with_altcha_on_the_forms_script_solves_the_proof_of_work_and_a_robot_without_it_fails(
    site, browser
):
    _store, settings, base = site
    settings.signup.altcha = True  # read per request: the same server, now with the challenge
    context, page = tab(browser)
    page.goto(f"{base}/subscribe")
    page.get_by_label("Email address").fill("ann@example.com")
    page.wait_for_function("document.getElementById('altcha').value !== ''", timeout=60_000)
    time.sleep(1)
    page.locator("#subscribe").click()
    page.wait_for_selector("#inbox")
    assert page.problems == []
    context.close()

    unsolved = httpx.post(
        f"{base}/subscribe",
        data={"email": "bob@example.org", "form_token": form_token(base), "altcha": ""},
    )
    assert unsolved.status_code == 400 and "Please press Subscribe again" in unsolved.text
    assert [n.to for n in wait_for_notices(settings, 1)] == ["ann@example.com"]


def form_token(base: str) -> str:
    time.sleep(1)  # min_seconds after it was served, as a patient robot would
    page = httpx.get(f"{base}/subscribe")
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
