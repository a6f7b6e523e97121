"""Inbound sources: one module per connector kind, each with `verify` and `parse`."""

from __future__ import annotations

from types import ModuleType

from workitems.choices import ConnectorKind
from workitems.sources import alertmanager, github, jira, linear, mail, slack
from workitems.sources.base import Malformed, NormalizedItem, Parsed

SOURCES: dict[str, ModuleType] = {
    ConnectorKind.SLACK: slack,
    ConnectorKind.LINEAR: linear,
    ConnectorKind.JIRA: jira,
    ConnectorKind.GITHUB: github,
    ConnectorKind.ALERTMANAGER: alertmanager,
    ConnectorKind.EMAIL: mail,
}

__all__ = ["SOURCES", "Malformed", "NormalizedItem", "Parsed"]
