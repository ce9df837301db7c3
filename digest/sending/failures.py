"""Recipients who failed or are in doubt, worded once for ``digest send`` and the
scheduler's log: the operator reads the same lines wherever the send ran."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.sending.dispatch import EditionReport

NAMED = 3  # addresses named on one line


def named_lines(edition: EditionReport) -> list[tuple[str, str]]:
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
            by_reason.setdefault(reason, []).append(address)
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
