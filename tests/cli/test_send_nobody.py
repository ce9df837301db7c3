"""``digest send --timezone Z`` for a zone nobody is in says so and exits 1 (under
cron, silence would pass for a send), on SQLite and PostgreSQL, through the real CLI."""

from __future__ import annotations

import os
from datetime import timedelta

from conftest import LIVE_LINKS, article, subscriber
from conftest import run_digest as digest

from digest.clock import utcnow


def test_a_zone_with_no_subscriber_is_named_and_the_send_exits_1(store, db_url, tmp_path):
    store.now = utcnow  # the CLI sends today's edition, by the real clock
    hour_ago = utcnow() - timedelta(hours=1)
    store.save_articles([article("Solar surge", ["Energy"], published=hour_ago)])
    store.save_subscribers([subscriber("ann@example.com", timezone="Europe/Paris")])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST_DATABASE_URL=db_url, DIGEST_SECRET="nobody-secret", COLUMNS="200")
    (tmp_path / "digest.toml").write_text(LIVE_LINKS, encoding="utf-8")

    nobody = digest("send", "--timezone", "Asia/Tokyo", cwd=tmp_path, env=env)
    assert nobody.returncode == 1, nobody.stderr
    assert nobody.stderr.strip().splitlines()[-1] == (
        "Error: --timezone Asia/Tokyo: no active subscriber has this delivery timezone; "
        "nothing sent for it"
    )
    assert not (tmp_path / "outbox").exists()

    both = digest(
        "send", "--timezone", "Europe/Paris", "--timezone", "Asia/Tokyo", cwd=tmp_path, env=env
    )
    assert both.returncode == 1 and "--timezone Asia/Tokyo: no active subscriber" in both.stderr
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1  # Paris went out

    fine = digest("send", "--timezone", "Europe/Paris", cwd=tmp_path, env=env)
    assert fine.returncode == 0, fine.stderr  # nothing left to send there is not a failure
