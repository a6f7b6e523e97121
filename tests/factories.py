"""Builders for test data. They write rows directly; behaviour under test goes through services."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from policies.models import ActionType
from teams.choices import AutonomyLevel, OrgRole
from teams.models import Agent, Membership, Organization, OrganizationMember, Team

_seq = itertools.count(1)


def make_org(slug: str | None = None, **fields: Any) -> Organization:
    slug = slug or f"org{next(_seq)}"
    return Organization.objects.create(slug=slug, name=fields.pop("name", slug.title()), **fields)


def make_team(
    org: Organization, name: str | None = None, level: str = AutonomyLevel.SUPERVISED, **fields: Any
) -> Team:
    return Team.objects.create(
        organization=org,
        name=name or f"Team {next(_seq)}",
        department=fields.pop("department", "Ops"),
        autonomy_level=level,
        **fields,
    )


def make_user(
    username: str | None = None,
    org: Organization | None = None,
    *,
    org_role: str = OrgRole.MEMBER,
    **fields: Any,
):
    user = get_user_model().objects.create_user(
        username=username or f"user{next(_seq)}", password=fields.pop("password", "pw"), **fields
    )
    if org is not None:
        OrganizationMember.objects.create(organization=org, user=user, role=org_role)
    return user


def add_member(user, team: Team, role: str) -> Membership:
    OrganizationMember.objects.get_or_create(organization=team.organization, user=user)
    return Membership.objects.create(user=user, team=team, role=role)


def make_action_type(
    org: Organization,
    key: str = "note",
    *,
    risk: str = "low",
    executor: str = "internal.note",
    **fields: Any,
) -> ActionType:
    return ActionType.objects.create(
        organization=org,
        key=key,
        name=fields.pop("name", key.title()),
        default_risk=risk,
        executor=executor,
        **fields,
    )


def make_agent(
    org: Organization, name: str = "bot", action_types: list[ActionType] | None = None
) -> Agent:
    user = make_user(f"agent-{name}-{next(_seq)}", org)
    agent = Agent.objects.create(organization=org, name=name, user=user)
    agent.allowed_action_types.set(action_types or [])
    return agent


def make_connector(
    org: Organization,
    kind: str,
    *,
    secret: str = "test-secret",
    team: Team | None = None,
    **fields: Any,
):
    from workitems.models import Connector

    connector = Connector(
        organization=org,
        kind=kind,
        name=fields.pop("name", f"{kind} {next(_seq)}"),
        team=team,
        **fields,
    )
    connector.secret = secret
    connector.save()
    return connector
