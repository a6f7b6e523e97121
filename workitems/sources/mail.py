"""Inbound e-mail: the raw RFC 822 message POSTed by the MTA (or a pipe to curl) with a token.

There is no application-level signature (SPF/DKIM are the MTA's business): the endpoint is
authenticated by `Authorization: Bearer <token>` (or the full `Basic …` value). A thread is one
work item, keyed on its first Message-ID (`References`, else `In-Reply-To`); replies are
activity on it. The delivery id is the message's own Message-ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

from workitems import signatures
from workitems.choices import Source, WorkItemStatus
from workitems.sources.alertmanager import expected_authorization
from workitems.sources.base import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Malformed,
    NormalizedItem,
    Parsed,
    body_digest,
)

SOURCE = Source.EMAIL
_MSGID = re.compile(r"<([^<>\s]+)>")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    return signatures.verify_authorization(expected_authorization(secret), headers)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, AttributeError):
        return ""  # a header so broken the parser cannot even decode it
    return str(value).strip() if value is not None else ""


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)


def _body_text(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain",))
        content = part.get_content() if part is not None else ""
    except (LookupError, ValueError, TypeError, AttributeError, UnicodeError):
        return ""  # an unknown charset or a broken part: keep the headers, lose the text
    return content.strip() if isinstance(content, str) else ""


def parse(headers: Mapping[str, str], body: bytes, config: dict[str, Any]) -> Parsed:
    if not body.strip():
        raise Malformed("The body is empty; POST the raw RFC 822 message.")
    message = BytesParser(policy=policy.default).parsebytes(body)
    sender, message_id = _header(message, "From"), _header(message, "Message-ID")
    if not sender and not message_id:
        raise Malformed("Not an RFC 822 message: it has neither From nor Message-ID.")
    own = (_ids(message_id) or [""])[0]
    thread = (
        _ids(_header(message, "References")) or _ids(_header(message, "In-Reply-To")) or [""]
    )[0]
    root = thread or own or body_digest(body)
    try:
        sent = parsedate_to_datetime(_header(message, "Date"))
    except (ValueError, TypeError, IndexError):
        sent = None
    if sent is not None and sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    subject = _header(message, "Subject") or "(no subject)"
    content = _body_text(message)
    fields = {
        "title": subject[:MAX_TITLE],
        "description": f"From: {sender}\n\n{content}"[:MAX_DESCRIPTION],
        "source_status": WorkItemStatus.OPEN,
        "priority": "",
        "assignee": "",
        "labels": [],
        "due_at": None,
        "url": "",
    }
    raw = {
        "from": sender,
        "to": _header(message, "To"),
        "subject": subject,
        "message_id": message_id,
        "in_reply_to": _header(message, "In-Reply-To"),
        "date": _header(message, "Date"),
    }
    item = NormalizedItem(
        root[:255],
        sent.astimezone(UTC) if sent else None,
        fields,
        raw=raw,
        activity_only=bool(thread),
    )
    return Parsed((own or body_digest(body))[:255], "email", [item])
