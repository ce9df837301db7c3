"""``digest subscribers add --frequency/--send-time/--paused-until`` and what ``list``
and ``export`` say of them, as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_digest

from digest.models import PendingSignup
from digest.store import signups
from digest.store.store import Store


@pytest.fixture
def env(db_url) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="test", COLUMNS="200")
    return env


def test_how_often_and_when_are_set_listed_exported_and_cleared(tmp_path, env):
    def digest(*args: str):
        done = run_digest("subscribers", *args, cwd=tmp_path, env=env)
        return done.returncode, done.stdout.strip(), done.stderr.strip()

    added = digest(
        "add",
        "ana@example.com",
        "--frequency",
        "Weekly",
        "--send-time",
        "6:30",
        "--paused-until",
        "2026-12-24",
    )
    assert added == (0, "added: ana@example.com", "")
    assert digest("add", "bo@example.org") == (0, "added: bo@example.org", "")

    listed = digest("list")[1].splitlines()
    assert listed[0].split("\t")[5:] == ["frequency", "send_time", "paused_until"]
    assert listed[1].split("\t")[5:] == ["weekly", "06:30", "2026-12-24"]
    assert listed[2].split("\t")[5:] == ["daily (default)", "07:00 (default)", ""]

    csv = digest("export")[1].splitlines()
    assert csv[0] == "email,name,first_name,topics,timezone,frequency,send_time,paused_until"
    assert csv[1:] == ["ana@example.com,,,,,weekly,06:30,2026-12-24", "bo@example.org,,,,,,,"]

    # Only the option given changes; "" and "default" both go back to the site's.
    assert digest("add", "ana@example.com", "--send-time", "") == (
        0,
        "updated: ana@example.com (send_time)",
        "",
    )
    assert digest("add", "ana@example.com", "--paused-until", "default")[1] == (
        "updated: ana@example.com (paused_until)"
    )
    assert digest("list")[1].splitlines()[1].split("\t")[5:] == [
        "weekly",
        "07:00 (default)",
        "",
    ]
    assert digest("add", "ana@example.com", "--frequency", "weekly")[1] == (
        "unchanged: ana@example.com (already subscribed as given)"
    )


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--frequency", "monthly", "Error: --frequency: not daily or weekly: 'monthly'"),
        (
            "--send-time",
            "25:00",
            "Error: --send-time: not a time of day HH:MM (00:00 to 23:59): '25:00'",
        ),
        (
            "--paused-until",
            "next week",
            "Error: --paused-until: not a date YYYY-MM-DD such as 2026-12-24: 'next week'",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_nothing_is_stored(
    tmp_path, env, option, value, said
):
    done = run_digest("subscribers", "add", "ana@example.com", option, value, cwd=tmp_path, env=env)

    assert (done.returncode, done.stderr.strip()) == (2, said)
    listed = run_digest("subscribers", "list", cwd=tmp_path, env=env)
    assert listed.stdout.strip().endswith("0 subscriber(s)")


def test_a_pending_weekly_sign_up_is_exported_as_weekly_and_added_so(tmp_path, env, db_url):
    store = Store(db_url)
    at = datetime(2026, 12, 6, 17, 20, tzinfo=UTC)
    pending = PendingSignup(id=0, email="pen@example.org", frequency="weekly")
    signups.save(store.engine, pending, at, at - timedelta(days=2))
    store.close()

    exported = run_digest("subscribers", "export", "--all", cwd=tmp_path, env=env).stdout
    assert "pen@example.org,,,,,weekly,,,,pending\n" in exported

    # The operator's word subscribes them, with what they chose signing up.
    added = run_digest("subscribers", "add", "pen@example.org", cwd=tmp_path, env=env)
    assert added.stdout.strip() == "added: pen@example.org"
    listed = run_digest("subscribers", "list", cwd=tmp_path, env=env).stdout.splitlines()
    assert listed[1].split("\t")[5] == "weekly"
