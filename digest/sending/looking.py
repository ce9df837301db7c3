"""Looking before sending: a dry run, and a test copy to one address.

Neither touches the ledger: they show an operator what a send would do and
what a subscriber would read, through the same rendering as the send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from email.headerregistry import Address
from typing import Protocol

from digest.config.settings import Settings
from digest.delivery.base import Outgoing, Provider
from digest.editions.contents import EditionContent, subscriber_copy
from digest.models import Edition, Outcome, Subscriber
from digest.rendering.links import Links
from digest.rendering.renderer import Renderer
from digest.sending.ledger import Ledger
from digest.sending.reports import DryRunRow
from digest.store.store import Store


class Dispatcher(Protocol):
    """What a look needs of ``dispatch.Dispatcher``: its store, settings and parts."""

    store: Store
    settings: Settings
    provider: Provider | None
    ledger: Ledger
    renderer: Renderer
    links: Links
    sender: Address
    now: Callable[[], datetime]

    def editions_for(
        self, day: date | None, timezones: list[str] | None = None
    ) -> list[Edition]: ...


def dry_run(
    dispatcher: Dispatcher, day: date | None = None, timezones: list[str] | None = None
) -> list[DryRunRow]:
    """What a send would do now: recipients per segment, each segment rendered once."""
    rows = []
    for edition in dispatcher.editions_for(day, timezones):
        content = EditionContent(
            dispatcher.store, dispatcher.settings, edition, dispatcher.renderer
        )
        groups: dict[str, int] = {}
        for raw, count in dispatcher.ledger.unsent_topic_counts(edition):
            segment, _ = content.segment_of(raw)
            groups[segment] = groups.get(segment, 0) + count
        for segment, count in sorted(groups.items()):
            sections = content.sections(segment)
            if sections:
                content.rendered(segment)  # proves the templates render
            rows.append(
                DryRunRow(
                    edition,
                    segment,
                    content.topic_names(segment),
                    count,
                    len(sections),
                    sum(len(s.articles) for s in sections),
                    content.left_out,
                )
            )
    return rows


def send_test(dispatcher: Dispatcher, address: str, day: date | None = None) -> Outcome:
    """One test copy to ``address``; the ledger is not touched.

    The copy is what the subscriber with that address would get, or, for
    an address that is not subscribed, the everything-digest of the
    default timezone.
    """
    subscriber = dispatcher.store.find_subscriber(address) or Subscriber(email=address)
    copy = subscriber_copy(
        dispatcher.store,
        dispatcher.settings,
        subscriber,
        day,
        dispatcher.now(),
        dispatcher.renderer,
        dispatcher.links,
    )
    outgoing = Outgoing(
        edition=copy.edition,
        segment=copy.segment,
        content=copy.segment_render,
        recipients=[copy.recipient._replace(subscriber_id=0, email=address)],
        renderer=dispatcher.renderer,
        sender=dispatcher.sender,
        test=True,
    )
    outcomes = dispatcher.provider.send(outgoing)
    return outcomes[0]
