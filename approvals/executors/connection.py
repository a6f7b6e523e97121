"""Where an executor's calls go: the organization's connector, its token and its base URL.

An action type may name its connector (`config: {"connector": "<name>"}`); otherwise the
organization's one enabled connector of the executor's kind is used. Base URLs come from the
connector (`config["base_url"]`) and fall back to a setting, so tests point them at loopback.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from approvals.executors.base import ExecutionRequest, PermanentError
from approvals.executors.http import endpoint_problem
from workitems.models import Connector


def connector_for(*, kind: str, request: ExecutionRequest) -> Connector:
    """The connector this action's calls go through, or a PermanentError saying what to fix."""
    label = Connector(kind=kind).get_kind_display()
    candidates = Connector.objects.filter(
        organization_id=request.organization_id, kind=kind, enabled=True
    )
    name = request.config.get("connector")
    if name:
        connector = candidates.filter(name=name).first()
        if connector is None:
            raise PermanentError(
                f"No enabled {label} connector named {name!r} in this organization.", reached=False
            )
        return connector
    found = list(candidates.order_by("name")[:2])
    if not found:
        raise PermanentError(
            f"This organization has no enabled {label} connector: add one in admin (Connectors).",
            reached=False,
        )
    if len(found) > 1:
        raise PermanentError(
            f"This organization has several enabled {label} connectors: name one in the action "
            'type\'s config ({"connector": "<name>"}).',
            reached=False,
        )
    return found[0]


def base_url(connector: Connector, setting: str) -> str:
    """The connector's `base_url`, else the setting; refused unless HTTPS (or loopback in dev)."""
    url = (connector.config or {}).get("base_url") or getattr(settings, setting, "")
    if problem := endpoint_problem(url, f"The {connector.get_kind_display()} API URL"):
        raise PermanentError(
            f"{problem} Set base_url on connector {connector.name!r}.", reached=False
        )
    return str(url).rstrip("/")


def credentials(connector: Connector) -> str:
    """The connector's outbound token; a missing or undecryptable one is a permanent error."""
    try:
        token = connector.credentials
    except ImproperlyConfigured as exc:
        raise PermanentError(f"Connector {connector.name!r}: {exc}", reached=False) from exc
    if not token:
        raise PermanentError(
            f"Connector {connector.name!r} has no credentials (token) for outbound calls.",
            reached=False,
        )
    return token


def config_value(request: ExecutionRequest, connector: Connector | None, key: str) -> Any:
    """A setting from the payload, then the action type's config, then the connector's config."""
    for source in (request.payload, request.config, (connector.config if connector else None)):
        if source and source.get(key):
            return source[key]
    return None
