"""The executor registry: ActionType.executor names one of these."""

from __future__ import annotations

from approvals.executors.base import (
    ExecutionRequest,
    Executor,
    ExecutorError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from approvals.executors.internal import InternalNoteExecutor
from approvals.executors.webhook import WebhookExecutor

REGISTRY: dict[str, Executor] = {
    executor.key: executor for executor in (InternalNoteExecutor(), WebhookExecutor())
}


def get_executor(key: str) -> Executor:
    try:
        return REGISTRY[key]
    except KeyError:
        raise PermanentError(f"No executor named {key!r} is installed.")


__all__ = [
    "REGISTRY",
    "ExecutionRequest",
    "Executor",
    "ExecutorError",
    "OutcomeUnknown",
    "PermanentError",
    "TransientError",
    "get_executor",
]
