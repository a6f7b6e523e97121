"""Adding inbound connectors (the API's POST /connectors/). Atomic, org-admin only, audited;
the secret is encrypted at rest and never written to the audit trail or shown back."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record
from cwa_site.errors import Conflict, Forbidden, InvalidInput
from teams.models import Organization, Team
from teams.permissions import is_org_admin
from workitems.choices import ConnectorKind
from workitems.models import Connector


def connector_create(
    *,
    actor: Any,
    organization: Organization,
    kind: str,
    name: str,
    secret: str,
    team: Team | None = None,
) -> Connector:
    if not is_org_admin(actor, organization):
        raise Forbidden("Only organization admins can add connectors.")
    if kind not in ConnectorKind.values:
        raise InvalidInput(f"Unknown connector kind {kind!r}.", field="kind")
    if not name.strip():
        raise InvalidInput("A connector needs a name.", field="name")
    if not secret:
        raise InvalidInput("A connector needs a secret.", field="secret")
    if team is not None and team.organization_id != organization.pk:
        raise InvalidInput("Unknown team.", field="team")
    with transaction.atomic():
        if Connector.objects.filter(organization=organization, name=name).exists():
            raise Conflict(f"There is already a connector named {name!r}.", field="name")
        connector = Connector(organization=organization, kind=kind, name=name, team=team)
        connector.secret = secret
        connector.save()
        audit_record(
            organization=organization,
            verb="connector.created",
            actor=actor,
            target=connector,
            team=team,
            data={"kind": kind, "name": name, "team": str(team.pk) if team else None},
        )
    return connector
