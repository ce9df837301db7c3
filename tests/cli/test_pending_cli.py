"""The commands that list, add, import and export subscribers, and ``digest status``,
with pending sign-ups in the store: as an operator runs them, on SQLite and
PostgreSQL. A pending sign-up is shown and counted apart, subscribed by the
operator's word, and never turned into a subscriber by an export read back."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_digest, status_blocks, subscriber

from digest.models import PendingSignup
from digest.store import signups
from digest.store.store import Store

BEGAN = datetime(2026, 12, 6, 17, 20, tzinfo=UTC)


@pytest.fixture
def env(db_url, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="test", COLUMNS="200")
    return env


@pytest.fixture
def signed_up(db_url):
    """One subscriber, one who left, and two pending sign-ups (one with choices)."""
    store = Store(db_url)
    store.add_subscriber(subscriber("sub@example.org", name="Sub"))
    store.add_subscriber(subscriber("left@example.org"))
    store.unsubscribe("left@example.org")
    chosen = PendingSignup(
        id=0,
        email="Pen@example.org",
        name="Pen Name",
        topics=("Climate",),
        timezone="Asia/Tokyo",
    )
    signups.save(store.engine, chosen, BEGAN, BEGAN)
    signups.save(store.engine, PendingSignup(id=0, email="bare@example.org"), BEGAN, BEGAN)
    yield store
    store.close()


def digest(*args: str, tmp_path, env):
    result = run_digest(*args, cwd=tmp_path, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_list_all_shows_pending_sign_ups_apart(signed_up, tmp_path, env):
    plain = digest("subscribers", "list", tmp_path=tmp_path, env=env)
    everyone = digest("subscribers", "list", "--all", tmp_path=tmp_path, env=env)

    assert "Pen@example.org" not in plain.stdout and "1 subscriber(s)" in plain.stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in everyone.stdout.splitlines()}
    assert rows["Pen@example.org"][1:] == [
        "Pen Name",
        "",
        "Climate",
        "Asia/Tokyo",
        "daily (default)",
        "07:00 (default)",
        "",
        "pending since 2026-12-06 17:20 UTC",
    ]
    assert rows["bare@example.org"][-1] == "pending since 2026-12-06 17:20 UTC"
    assert (
        "2 subscriber(s), 1 of them unsubscribed; 2 pending sign-up(s), "
        "not subscribed until confirmed" in everyone.stdout
    )


def test_adding_a_pending_address_subscribes_it_with_its_choices(signed_up, tmp_path, env):
    result = digest(
        "subscribers", "add", "pen@example.org", "--name", "Pen", tmp_path=tmp_path, env=env
    )

    assert result.returncode == 0, result.stderr
    person = signed_up.find_subscriber("pen@example.org")
    assert (person.name, person.topics, person.timezone) == ("Pen", ["Climate"], "Asia/Tokyo")
    assert [p.email for p in signups.listing(signed_up.engine)] == ["bare@example.org"]


def test_an_export_of_everyone_marks_pending_and_import_leaves_them_out(signed_up, tmp_path, env):
    exported = digest("subscribers", "export", "--all", tmp_path=tmp_path, env=env)
    plain = digest("subscribers", "export", tmp_path=tmp_path, env=env)

    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert {e: r["status"] for e, r in rows.items()} == {
        "sub@example.org": "subscribed",
        "left@example.org": "unsubscribed",
        "Pen@example.org": "pending",
        "bare@example.org": "pending",
    }
    assert "Pen@example.org" not in plain.stdout
    file = tmp_path / "everyone.csv"
    file.write_text(exported.stdout, encoding="utf-8")
    fresh = dict(env, DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")

    result = digest("subscribers", "import", str(file), tmp_path=tmp_path, env=fresh)

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("a pending sign-up, never confirmed: left out") == 2
    assert "subscribers: 2 added" in result.stdout
    listed = digest("subscribers", "list", "--all", tmp_path=tmp_path, env=fresh).stdout
    assert "pen@example.org" not in listed.lower()


def test_an_import_subscribes_a_pending_address_and_drops_its_sign_up(signed_up, tmp_path, env):
    file = tmp_path / "new.csv"
    file.write_text("email,name,topics,timezone\nbare@example.org,Bare,,\n", encoding="utf-8")

    result = digest("subscribers", "import", str(file), tmp_path=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert signed_up.find_subscriber("bare@example.org").name == "Bare"
    assert [p.email for p in signups.listing(signed_up.engine)] == ["Pen@example.org"]


def test_status_shows_the_last_seven_days_of_sign_ups(signed_up, tmp_path, env):
    today = datetime.now(UTC)
    signups.count(signed_up.engine, "signup", today, 4)
    signups.count(signed_up.engine, "honeypot", today, 3)
    signups.count(signed_up.engine, "confirmed", today - timedelta(days=1), 2)
    signups.count(signed_up.engine, "signup", today - timedelta(days=9), 50)  # too old to show

    piped = digest("status", tmp_path=tmp_path, env=env)
    as_json = json.loads(digest("status", "--format", "json", tmp_path=tmp_path, env=env).stdout)

    days = status_blocks(piped.stdout)["day"]
    assert len(days) == 7 and days[0]["day"] == f"{today:%Y-%m-%d}"
    assert (days[0]["signup"], days[0]["honeypot"], days[1]["confirmed"]) == ("4", "3", "2")
    assert sum(int(d["signup"]) for d in days) == 4
    assert as_json["signups"][0] == {
        "day": f"{today:%Y-%m-%d}",
        **{k: 0 for k in as_json["signups"][0] if k != "day"},
        "signup": 4,
        "honeypot": 3,
    }
