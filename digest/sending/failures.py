"""Recipients who failed or are in doubt: worded once for ``digest send`` and the
scheduler's log (the operator reads the same lines wherever the send ran), the
failures a later try can cure told from those it cannot, and the breaker that
stops a run in which nothing gets through."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Protocol

from digest.errors import DeliveryError, DeliveryInDoubt
from digest.models import Edition, Outcome

NAMED = 3  # addresses named on one line
# The outbox names each recipient's own file: "<outbox>/<edition>/<id>-<address>.eml: why".
_FILE_REASON = re.compile(r"^(?P<path>.+)[/\\][^/\\]+\.eml: (?P<why>.+)$", re.S)


class Report(Protocol):
    """What ``named_lines`` reads of one edition's report (``reports.EditionReport``)."""

    edition: Edition
    failed: int
    in_doubt: int
    failures: list[tuple[str, str]]
    doubts: list[tuple[str, str]]


def reason_of(error: str) -> str:
    """``error`` without what is one recipient's own (the outbox's file name), so a
    cause shared by a thousand recipients is one reason, named once."""
    found = _FILE_REASON.match(error)
    if found is None:
        return error
    return f"{found['why']} (writing to {found['path']})"


def batch_retryable(error: DeliveryError) -> bool:
    """Whether a batch the provider refused as a whole may go through later.

    Yes unless the provider said the request itself is wrong (an HTTP 4xx other
    than 408 and 429): SendGrid gives up on a 5xx, a 429 or a host it cannot
    reach after its own retries without saying "retry", and that is exactly
    what a try some minutes later cures. In doubt is never sent again unasked.
    """
    if isinstance(error, DeliveryInDoubt):
        return False
    if error.retry or error.status is None:
        return True
    return error.status in (408, 429) or error.status >= 500


class Breaker:
    """Stops a run after ``limit`` messages in a row failed or went in doubt.

    A server that drops every connection after DATA puts each message in doubt
    one by one, and a full disk fails each recipient in turn: without a limit a
    run grinds through the whole list. One delivered message resets the count.
    A batch the provider refused as a whole (one request, one answer) counts once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.reasons: Counter[str] = Counter()

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= self.limit

    def record(self, outcomes: Iterable[Outcome], whole_batch: bool = False) -> bool:
        """Take in a batch's outcomes; True if the run is to stop."""
        for outcome in outcomes:
            if outcome.status == "sent":
                self.in_a_row = 0
                self.reasons.clear()
            elif outcome.status in ("failed", "in_doubt"):
                self.in_a_row += 1
                self.reasons[reason_of(outcome.error or outcome.status)] += 1
                if whole_batch:
                    break
        return self.tripped

    def why(self, day: date, timezone: str, pending: int) -> str:
        """The one line saying why the run stopped and how to resume it."""
        reason, _ = self.reasons.most_common(1)[0] if self.reasons else ("failed", 0)
        return (
            f"{self.in_a_row} messages in a row failed or went in doubt "
            f"(max_consecutive_failures = {self.limit}; most of them: {reason}); "
            f"{pending} recipient(s) not yet tried are left pending: once the cause is "
            f"fixed, `digest send --date {day} --timezone {timezone}` resumes "
            "(digest schedule tries again by itself)"
        )


def named_lines(edition: Report) -> list[tuple[str, str]]:
    """``(kind, line)`` for each reason recipients of ``edition`` failed (kind
    ``"failed"``) or are in doubt (``"in doubt"``): one line per reason, because a
    refused batch is a thousand recipients and one cause. A few addresses are
    named; those the report did not list are counted, with where to see them."""
    label = edition.edition.label
    lines = []
    for kind, named, total in (
        ("failed", edition.failures, edition.failed),
        ("in doubt", edition.doubts, edition.in_doubt),
    ):
        by_reason: dict[str, list[str]] = {}
        for address, reason in named:
            by_reason.setdefault(reason_of(reason), []).append(address)
        for reason, addresses in by_reason.items():
            who = ", ".join(addresses[:NAMED])
            if len(addresses) > NAMED:
                who = f"{len(addresses)} recipients ({who}, …)"
            lines.append((kind, f"{kind}: {label}: {who}: {reason}"))
        if total > len(named):
            lines.append(
                (
                    kind,
                    f"{kind}: {label}: … and {total - len(named)} more "
                    f"(digest status --date {edition.edition.date.isoformat()})",
                )
            )
    return lines
