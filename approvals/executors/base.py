"""What an executor is, and how it reports failure.

An executor performs one action's side effect. It gets the approved payload, a timeout and an
idempotency key that is the same on every attempt for the action, and either returns a result
(JSON-able dict) or raises one of the errors below, which decide what happens next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


class ExecutorError(Exception):
    def __init__(self, message: str, *, response: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.response = response or {}


class TransientError(ExecutorError):
    """Nothing happened on the other side and trying again later may work (5xx, 429, refused)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, response=response)
        self.retry_after = retry_after


class PermanentError(ExecutorError):
    """Trying again will not help (bad request, unknown channel, revoked credentials).

    `reached` is False when the request never left (no connector, no channel, a bad URL): such
    a failure says nothing about the service's health, so the circuit breaker ignores it.
    """

    def __init__(
        self, message: str, *, response: dict[str, Any] | None = None, reached: bool = True
    ) -> None:
        super().__init__(message, response=response)
        self.reached = reached


class OutcomeUnknown(ExecutorError):
    """The request may have reached the other side (a read timeout, a dropped connection).

    Only an idempotent executor may try again; anything else goes to a person.
    """


@dataclass
class ExecutionRequest:
    payload: dict[str, Any]
    idempotency_key: str
    timeout: float
    config: dict[str, Any] = field(default_factory=dict)
    action_id: str = ""
    organization_id: str = ""


class Executor:
    """One kind of side effect.

    `repeatable` is what the executor knows about running the same action twice: True when a
    repeat cannot cause a second effect (no outside effect, or the remote side de-duplicates on
    an id we derive from the idempotency key), False when it would (Slack, Jira comments,
    e-mail), None when it depends on the receiver (webhooks). The action type's `idempotent`
    flag is the admin's statement; an attempt is retried after an unknown outcome only when the
    flag is set and the executor is not known to be unrepeatable (see `may_repeat`).
    """

    key: ClassVar[str]
    repeatable: ClassVar[bool | None] = None

    def validate_payload(self, payload: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
        """Field errors for a payload this executor cannot run ({} when fine). Checked at
        proposal time so a person never approves something that cannot run."""
        return {}

    def describe(self, payload: dict[str, Any], config: dict[str, Any]) -> str:
        """A one-line preview of what will happen."""
        return self.key

    def execute(self, request: ExecutionRequest) -> dict[str, Any]:
        raise NotImplementedError


def may_repeat(executor: Executor | None, declared_idempotent: bool) -> bool:
    """Whether an attempt whose outcome is unknown may be retried with the same key."""
    if executor is None or executor.repeatable is False:
        return False
    return declared_idempotent
