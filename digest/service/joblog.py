"""The scheduler's log: one line per event, as text for people or JSON for log collectors.

A service's log is read by ``journalctl`` or shipped to a collector, often
long after the fact, so every line stands on its own: the UTC time, a level,
the event (``ingest``, ``edition``, ``skipped``, ``failed`` …) and its
numbers. ``--log-format json`` writes the same as one JSON object a line,
each number a field of its own. Either way, a line never carries a line
break, a terminal escape or a secret: text from feeds and providers is
cleaned and masked here, whatever the caller passed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from digest.config.values import mask_secrets
from digest.validate import clean_line

LOGGER = "digest.schedule"
FORMATS = ("text", "json")


def event(kind: str, **fields) -> dict:
    """``extra=`` for a log call: the event's kind and its fields (numbers, names)."""
    return {"event": kind, "fields": fields}


def _clean(text: str) -> str:
    return mask_secrets(clean_line(text))


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TextFormatter(logging.Formatter):
    """``2026-11-25T07:00:02Z info edition 2026-11-25 Europe/London: sent 120, …``"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname.lower()} {_clean(record.getMessage())}"
        if record.exc_info:  # a bug, not an expected failure: keep the traceback
            line += "\n" + mask_secrets(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, event, message, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": _clean(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            data[key] = _clean(value) if isinstance(value, str) else value
        if record.exc_info:
            data["traceback"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class LineHandler(logging.Handler):
    """Hands each formatted line to ``write`` (the CLI's console, a list in a test)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__()
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except Exception:
            self.handleError(record)


def _busy_worker(record: logging.LogRecord) -> bool:
    """Leave out APScheduler's warning that a periodic ingest came round while the
    one worker was still busy (a long send): it runs once the worker is free."""
    return "maximum number of running instances reached" not in str(record.msg)


def make_logger(write: Callable[[str], None], log_format: str = "text") -> logging.Logger:
    """The scheduler's logger, writing through ``write``; APScheduler's own warnings
    (and errors) go the same way, in the same format."""
    handler = LineHandler(write)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_busy_worker)  # on the handler: a logger's filters miss its children
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    aps = logging.getLogger("apscheduler")
    aps.handlers[:] = [handler]
    aps.setLevel(logging.WARNING)  # its INFO lines ("Added job …") say nothing an operator needs
    aps.propagate = False
    return logger


def renderer(log_format: str = "text", kind: str = "signal") -> Callable[[str], str]:
    """A message as a warning line in ``log_format``, for text written outside the
    logger (a signal handler writes straight to file descriptor 2)."""
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()

    def render(text: str) -> str:
        record = logging.LogRecord(LOGGER, logging.WARNING, "", 0, text, None, None)
        record.event = kind
        return formatter.format(record)

    return render
