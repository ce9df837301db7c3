"""One transactional message to one address: a ``Notice``, and its two wire forms.

The front door's mails (a confirmation link, "you are already subscribed",
a manage link, a welcome) are not editions: one recipient, fixed text, no
placeholders, and no ``List-Unsubscribe`` (nobody is subscribed to them).
Each provider sends one with ``send_notice``; what goes on the wire is made
here, apart from moving it, so a test can read what would be sent:
``notice_message`` (the RFC 5322 message the outbox writes and SMTP carries)
and ``notice_payload`` (SendGrid's Mail Send body, without substitutions).
"""

from __future__ import annotations

import json
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.clock import utcnow
from digest.delivery.base import POLICY, Notice, clean_header
from digest.validate import mail_address


def notice_message(notice: Notice, sender: Address) -> tuple[bytes, str]:
    """(the message as it goes on the wire, its Message-ID): text, and HTML when
    there is some; ``Auto-Submitted`` so that no auto-responder answers it."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = mail_address(notice.to)
    message["Subject"] = clean_header(notice.subject)
    message["Date"] = format_datetime(utcnow())
    message_id = make_msgid("digest", domain=sender.domain or "localhost")
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Digest-Notice"] = notice.kind
    message.set_content(notice.text, subtype="plain", charset="utf-8")
    if notice.html:
        message.add_alternative(notice.html, subtype="html", charset="utf-8")
    return message.as_bytes(), message_id


def notice_payload(
    notice: Notice, sender: Address, categories: list[str], sandbox: bool = False
) -> bytes:
    """SendGrid's Mail Send body for one notice: one personalization, no substitutions
    (nothing in the text is anyone's to fill), the kind as a category."""
    source = {"email": sender.addr_spec}
    if sender.display_name:
        source["name"] = sender.display_name
    content = [{"type": "text/plain", "value": notice.text}]
    if notice.html:
        content.append({"type": "text/html", "value": notice.html})
    payload: dict = {
        "personalizations": [{"to": [{"email": mail_address(notice.to)}]}],
        "from": source,
        "subject": clean_header(notice.subject),
        "content": content,
        "headers": {"Auto-Submitted": "auto-generated"},
        "categories": list(dict.fromkeys([*categories, f"signup-{notice.kind}"]))[:10],
        # Tracking rewrites links; a confirmation link must be exactly the one signed.
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False}},
    }
    if sandbox:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
