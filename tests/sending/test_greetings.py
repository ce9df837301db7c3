"""Greetings by the name people use, from the CSV to the ``.eml``, on SQLite and PostgreSQL.

A first name given (a ``first_name`` column, ``subscribers add --first-name``)
is the greeting's; without one the name is used whole: "Hello Abd al-Rahman
Haddad,", never a word guessed from it ("Hello Abd," is a fragment of a
compound name; "Hello Zhang," greets Zhang Wei by his family name).
"""

from __future__ import annotations

import email
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest
from conftest import NOW, article, as_release

from digest.delivery.outbox import OutboxProvider
from digest.sending.dispatch import Dispatcher
from digest.store.store import Store
from digest.subscribers.admin import add
from digest.subscribers.csv_import import import_csv

PEOPLE = """\
email,name,First Name,topics,timezone
amira@example.com,Amira Haddad,Amira,,
abd@example.com,Abd al-Rahman Haddad,,,
zhang@example.com,Zhang Wei,,,
"""


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "greetings-test-secret")


def _news(store: Store) -> None:
    store.save_articles(
        [
            article("Glacier melt sets record", ["Climate"], published=NOW - timedelta(hours=1)),
            article("Solar beats forecasts", ["Energy"], published=NOW - timedelta(hours=2)),
        ]
    )


def _import(store: Store, tmp_path: Path, text: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(text, "utf-8")
    errors: list = []
    import_csv(path, store, errors.append, errors.append)
    assert errors == []


def _greetings(store: Store, settings) -> dict[str, tuple[str, str]]:
    """Send today's edition to the outbox: each recipient's greeting line, text and HTML."""
    Dispatcher(store, settings, OutboxProvider(settings.outbox_dir), now=lambda: NOW).send()
    found = {}
    for path in sorted(settings.outbox_dir.rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        line = next(line for line in text.splitlines() if line.startswith("Hello"))
        found[message["To"].addresses[0].addr_spec] = (line, html)
    return found


def test_a_first_name_greets_and_without_one_the_whole_name_does(store, settings, tmp_path):
    _news(store)
    _import(store, tmp_path, PEOPLE)

    said = _greetings(store, settings)

    assert {address: line for address, (line, _) in said.items()} == {
        "amira@example.com": "Hello Amira,",
        "abd@example.com": "Hello Abd al-Rahman Haddad,",
        "zhang@example.com": "Hello Zhang Wei,",
    }
    assert "Hello Amira," in said["amira@example.com"][1]
    assert "Hello Abd al-Rahman Haddad," in said["abd@example.com"][1]


def test_a_file_without_the_column_keeps_a_first_name_given_by_hand(store, settings, tmp_path):
    _news(store)
    _import(store, tmp_path, PEOPLE)
    add(store, "zhang@example.com", first_name="Wei")
    # The nightly file, as it was before first names existed.
    _import(store, tmp_path, "email,name\nzhang@example.com,Zhang Wei\namira@example.com,Amira\n")
    assert store.find_subscriber("zhang@example.com").first_name == "Wei"
    assert store.find_subscriber("amira@example.com").first_name == "Amira"

    # A file with the column says what each first name is, an empty one included.
    _import(store, tmp_path, "email,name,fname\namira@example.com,Amira Haddad,\n")
    assert store.find_subscriber("amira@example.com").first_name == ""

    said = _greetings(store, settings)
    assert said["zhang@example.com"][0] == "Hello Wei,"
    assert said["amira@example.com"][0] == "Hello Amira Haddad,"


def test_a_database_from_before_first_names_greets_everyone_by_their_whole_name(
    db_url, settings, tmp_path
):
    old = Store(db_url)
    old.now = lambda: NOW
    try:
        _news(old)
        _import(old, tmp_path, PEOPLE)
    finally:
        old.close()
    as_release(
        db_url,
        10,  # the release before first names (schema version 11)
        "ALTER TABLE subscribers DROP COLUMN first_name",
        "ALTER TABLE subscribers DROP COLUMN subscribed_at",
    )

    upgraded = Store(db_url)
    try:
        people = {s.email: (s.name, s.first_name) for s in upgraded.list_subscribers()}
        assert people == {
            "amira@example.com": ("Amira Haddad", ""),
            "abd@example.com": ("Abd al-Rahman Haddad", ""),
            "zhang@example.com": ("Zhang Wei", ""),
        }
        said = _greetings(upgraded, settings)
    finally:
        upgraded.close()
    assert {address: line for address, (line, _) in said.items()} == {
        "amira@example.com": "Hello Amira Haddad,",
        "abd@example.com": "Hello Abd al-Rahman Haddad,",
        "zhang@example.com": "Hello Zhang Wei,",
    }
