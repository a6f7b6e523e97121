"""The API against its own published schema, fuzzed (schemathesis 4, in-process over WSGI).

A seeded organization (teams, members, actions in several states, work items, a connector,
notifications), an org admin's token, and a bounded number of examples per operation, derandomized
so CI is repeatable. Every response must be a non-5xx, with a status code, content type, headers
and body that the schema documents.
"""

from __future__ import annotations

import hashlib

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from approvals.models import Action, Notification
from approvals.services import action_decide, action_propose
from teams.choices import OrgRole, Role
from teams.models import Team
from tests import factories as f
from workitems.connectors import connector_create
from workitems.models import WorkItem

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 40


@pytest.fixture
def seeded(org, team, approver, approver2, proposer, viewer, medium_type, note_type, other_org):
    admin = f.make_user("root", org, org_role=OrgRole.ADMIN)
    f.add_member(admin, team, Role.ADMIN)
    f.make_user("newbie", org)
    f.make_team(other_org, "Globex Ops")
    critical = f.make_action_type(org, "credit", risk="critical")
    item = WorkItem.objects.create(
        organization=org, team=team, source="linear", external_id="SUP-1", title="Export fails"
    )
    for i in range(3):
        action_propose(
            actor=proposer,
            team=team,
            action_type=medium_type,
            payload={"note": f"pending {i}"},
            work_item=item,
        )
    decided = action_propose(
        actor=proposer, team=team, action_type=medium_type, payload={"note": "decided"}
    ).action
    action_decide(actor=approver, action_id=decided.pk, decision="reject", notes="no")
    action_propose(actor=proposer, team=team, action_type=critical, payload={"note": "credit"})
    action_propose(actor=proposer, team=team, action_type=note_type, payload={"note": "auto"})
    connector_create(actor=admin, organization=org, kind="linear", name="Linear", secret="s")
    Notification.objects.create(user=admin, organization=org, kind="x", title="hello")
    return admin


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "propose": "100000/min",
            "decide": "100000/min",
            "token": "100000/min",
        },
    }
    # Like Django's test client: a request must not close the test's connection (it holds the
    # transaction the seeded rows live in).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded at collection from the app itself: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
PATH_MODELS = {"team_id": Team, "action_id": Action}


def point_at_seeded_objects(case) -> None:
    """Point about half of the generated ids at seeded objects (some of them another
    organization's), so success paths are fuzzed too. The choice is a hash of the generated
    value, so a derandomized run stays repeatable. Done here, not in a schemathesis hook:
    hooks also run at collection, where the database is out of reach."""
    for name, value in (case.path_parameters or {}).items():
        model = PATH_MODELS.get(name)
        seen = repr((value, case.query, case.body))
        digest = int(hashlib.sha256(seen.encode()).hexdigest(), 16)
        if model is None or digest % 2:
            continue
        ids = sorted(str(pk) for pk in model.objects.values_list("pk", flat=True))
        case.path_parameters[name] = ids[(digest // 2) % len(ids)]


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, seeded):
    token, _ = Token.objects.get_or_create(user=seeded)
    point_at_seeded_objects(case)
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, checks=CHECKS)
