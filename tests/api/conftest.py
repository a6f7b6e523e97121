"""API fixtures: a small world of roles around the `team` (Support) of `org` (acme)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from approvals.services import action_propose
from teams.choices import OrgRole, Role
from tests import factories as f


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    # Throttle counters live in the cache, keyed by user id; ids repeat across tests (and in
    # Redis, across runs), so every test starts from zero.
    cache.clear()


def client_for(user=None) -> APIClient:
    client = APIClient()
    client.default_format = "json"  # the API speaks JSON only
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """`api(user)` is a client authenticated with the user's token; `api()` is anonymous."""
    return client_for


@pytest.fixture
def team_admin(team):
    user = f.make_user("tess", team.organization)
    f.add_member(user, team, Role.ADMIN)
    return user


@pytest.fixture
def other_admin(other_org):
    user = f.make_user("mallory", other_org, org_role=OrgRole.ADMIN)
    f.make_team(other_org, "Globex Ops")
    return user


@pytest.fixture
def medium_type(org):
    return f.make_action_type(org, "escalate", risk="medium")


@pytest.fixture
def pending(team, proposer, medium_type):
    """A medium-risk action in the semi-autonomous team: waits for one approver."""
    return action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "escalate SUP-1"}
    ).action
