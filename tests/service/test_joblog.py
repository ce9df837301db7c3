"""The scheduler's log lines: one line each, text or JSON, never a secret or an escape."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.service.joblog import event, make_logger, renderer


@pytest.fixture
def lines() -> list[str]:
    return []


def test_a_text_line_has_the_utc_time_the_level_and_the_message(lines):
    make_logger(lines.append).info("ingest: 3 new", extra=event("ingested", new=3))
    (line,) = lines
    stamp, level, message = line.split(" ", 2)
    assert stamp.endswith("Z") and len(stamp) == 20
    assert (level, message) == ("info", "ingest: 3 new")


def test_a_json_line_carries_the_events_fields(lines):
    log = make_logger(lines.append, "json")
    log.error("edition 2026-11-25 UTC: sent 2", extra=event("edition", sent=2, seconds=0.25))
    record = json.loads(lines[0])
    assert record["level"] == "error" and record["event"] == "edition"
    assert (record["sent"], record["seconds"]) == (2, 0.25)
    assert record["message"] == "edition 2026-11-25 UTC: sent 2"


def test_secrets_from_the_environment_never_reach_the_log(lines, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.Xk29-Lq8s-Vb71")
    log = make_logger(lines.append, "json")
    log.error(
        "https://example.org/feed?key=SG.Xk29-Lq8s-Vb71: 403",
        extra=event("error", source="SG.Xk29-Lq8s-Vb71"),
    )
    assert "Xk29-Lq8s" not in lines[0]
    assert json.loads(lines[0])["source"] == "***"


@given(st.text())
def test_whatever_a_feed_says_each_record_is_one_line(text):
    for fmt in ("text", "json"):
        lines: list[str] = []
        make_logger(lines.append, fmt).warning(f"feed said: {text}", extra=event("warning"))
        (line,) = lines
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        if fmt == "json":
            assert json.loads(line)["event"] == "warning"


def test_a_bug_keeps_its_traceback(lines):
    log = make_logger(lines.append)
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        log.error("edition failed", exc_info=error)
    assert "Traceback" in lines[0] and "RuntimeError: boom" in lines[0]


def test_apschedulers_busy_worker_warning_is_left_out_and_its_others_kept(lines):
    make_logger(lines.append)
    aps = logging.getLogger("apscheduler.scheduler")
    aps.warning(
        'Execution of job "%s" skipped: maximum number of running instances reached (1)', "ingest"
    )
    aps.info("Added job")  # its INFO lines say nothing an operator needs
    aps.error("Error getting due jobs from job store %r: %s", "default", "gone")
    assert len(lines) == 1 and "gone" in lines[0]


def test_a_signal_line_is_written_in_the_logs_format():
    line = renderer("json")("SIGTERM: stopping after the batch with the provider is recorded")
    record = json.loads(line)
    assert (record["level"], record["event"]) == ("warning", "signal")
    assert renderer("text")("SIGINT: stopping").endswith(" warning SIGINT: stopping")
