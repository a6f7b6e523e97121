"""E-mail through Django's mail backend (SMTP in production, locmem in tests).

SMTP has no idempotency: a message whose delivery was cut off may have gone out, so this is
never repeated after an unknown outcome. Its Message-ID is derived from the action's
idempotency key, which lets mail clients and archives fold a duplicate should one ever happen.
"""

from __future__ import annotations

import contextlib
import smtplib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from approvals.executors.base import (
    ExecutionRequest,
    Executor,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)

MAX_RECIPIENTS = 50
MAX_BODY = 100_000


def _addresses(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return [item.strip() for item in value if item.strip()]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class EmailExecutor(Executor):
    """Sends a plain-text e-mail. Payload: `{"to": [..], "subject": str, "body": str,
    "cc"?: [..]}`. Config: `from` (default DEFAULT_FROM_EMAIL) and `allowed_domains`, a list
    that, when set, refuses any recipient outside it at proposal time."""

    key = "email.send"
    repeatable = False

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        allowed = {d.lower() for d in config.get("allowed_domains") or []}
        total = 0
        for field, required in (("to", True), ("cc", False)):
            raw = payload.get(field)
            if raw is None and not required:
                continue
            addresses = _addresses(raw)
            if not addresses:
                errors[f"payload.{field}"] = f"`{field}` must be an address or a list of addresses."
                continue
            total += len(addresses)
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    errors[f"payload.{field}"] = f"{address!r} is not an e-mail address."
                    break
                if allowed and _domain(address) not in allowed:
                    errors[f"payload.{field}"] = (
                        f"{address!r} is outside the allowed domains ({', '.join(sorted(allowed))})."
                    )
                    break
        if total > MAX_RECIPIENTS:
            errors["payload.to"] = f"At most {MAX_RECIPIENTS} recipients."
        subject = payload.get("subject")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 300:
            errors["payload.subject"] = "`subject` is a non-empty string of at most 300 characters."
        elif "\n" in subject or "\r" in subject:
            errors["payload.subject"] = "`subject` must be one line."
        body = payload.get("body")
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY:
            errors["payload.body"] = f"`body` is non-empty text of at most {MAX_BODY:,} characters."
        return errors

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        to = ", ".join(_addresses(payload.get("to")) or [])
        return f"E-mail {to}: {str(payload.get('subject', ''))[:150]}"

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        payload = request.payload
        sender = request.config.get("from") or settings.DEFAULT_FROM_EMAIL
        message_id = f"<{request.idempotency_key}@{_domain(sender) or 'cwa.local'}>"
        message = EmailMessage(
            subject=payload["subject"],
            body=payload["body"],
            from_email=sender,
            to=_addresses(payload["to"]),
            cc=_addresses(payload.get("cc")) or None,
            headers={"Message-ID": message_id, "X-CWA-Action-Id": request.action_id},
        )
        connection = get_connection(fail_silently=False, timeout=request.timeout)
        try:
            # Opening sends nothing: any failure here means no message left.
            connection.open()
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"could not reach the mail server: {exc}") from exc
        try:
            sent = connection.send_messages([message])
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(
                f"{addr} ({code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg})"
                for addr, (code, msg) in exc.recipients.items()
            )
            raise PermanentError(f"the mail server refused the recipients: {refused}") from exc
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            error = f"the mail server answered {exc.smtp_code} {text}"
            if 400 <= exc.smtp_code < 500:
                raise TransientError(error) from exc
            raise PermanentError(error) from exc
        except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
            raise OutcomeUnknown(f"the mail server connection broke mid-message: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise OutcomeUnknown(f"sending the message failed: {exc}") from exc
        finally:
            # The message is sent or not by now; a failed QUIT changes nothing.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.close()
        return {"message_id": message_id, "sent": sent, "to": message.to}
