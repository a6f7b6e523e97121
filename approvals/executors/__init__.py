"""The executor registry: ActionType.executor names one of these (policies.choices.Executor)."""

from __future__ import annotations

from approvals.executors.base import (
    ExecutionRequest,
    Executor,
    ExecutorError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
    may_repeat,
)
from approvals.executors.email import EmailExecutor
from approvals.executors.internal import InternalNoteExecutor
from approvals.executors.jira import JiraCommentExecutor, JiraTransitionExecutor
from approvals.executors.linear import LinearCommentExecutor, LinearIssueUpdateExecutor
from approvals.executors.slack import SlackPostMessageExecutor
from approvals.executors.webhook import WebhookExecutor

REGISTRY: dict[str, Executor] = {
    executor.key: executor
    for executor in (
        InternalNoteExecutor(),
        WebhookExecutor(),
        SlackPostMessageExecutor(),
        LinearCommentExecutor(),
        LinearIssueUpdateExecutor(),
        JiraCommentExecutor(),
        JiraTransitionExecutor(),
        EmailExecutor(),
    )
}


def get_executor(key: str) -> Executor:
    try:
        return REGISTRY[key]
    except KeyError:
        raise PermanentError(f"No executor named {key!r} is installed.", reached=False)


__all__ = [
    "REGISTRY",
    "ExecutionRequest",
    "Executor",
    "ExecutorError",
    "OutcomeUnknown",
    "PermanentError",
    "TransientError",
    "get_executor",
    "may_repeat",
]
