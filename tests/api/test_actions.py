"""Proposing, polling and deciding actions over the API: the same rules as the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.choices import ActionStatus
from approvals.models import Action, Decision
from audit.models import AuditEvent
from teams.choices import AutonomyLevel, Role
from teams.services import organization_set_kill_switch
from tests import factories as f
from workitems.models import WorkItem

ACTION_FIELDS = {
    "id",
    "number",
    "team",
    "action_type",
    "payload",
    "risk_level",
    "status",
    "requires_approval",
    "auto_approved",
    "gate_reason",
    "proposed_by",
    "expires_at",
    "created_at",
}


def propose(client, team, key="escalate", /, **extra):
    body = {"team": str(team.pk), "action_type": key, "payload": {"note": "hello"}, **extra}
    return client.post("/api/v1/actions/", body, format="json")


def test_propose_returns_201_with_the_gate_verdict(api, team, approver, medium_type):
    response = propose(api(approver), team)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= ACTION_FIELDS
    assert body["status"] == "pending" and body["requires_approval"] is True
    assert body["risk_level"] == "medium" and body["auto_approved"] is False
    assert "semi-autonomous" in body["gate_reason"] or body["gate_reason"]
    assert body["team"] == str(team.pk) and body["action_type"] == "escalate"
    assert body["proposed_by"] == "bob" and body["number"] == 1


def test_low_risk_in_a_semi_autonomous_team_runs_by_itself(api, team, approver, note_type):
    body = propose(api(approver), team, "note").json()
    assert body["status"] == "approved" and body["auto_approved"] is True
    assert body["requires_approval"] is False


def test_same_idempotency_key_returns_the_first_action_and_creates_nothing(
    api, team, approver, medium_type
):
    client = api(approver)
    first = propose(client, team, idempotency_key="ticket-42")
    events = AuditEvent.objects.count()
    again = propose(client, team, idempotency_key="ticket-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Action.objects.count() == 1 and AuditEvent.objects.count() == events


def test_idempotency_key_reused_for_another_proposal_is_409(api, team, approver, medium_type):
    client = api(approver)
    propose(client, team, idempotency_key="k")
    response = client.post(
        "/api/v1/actions/",
        {
            "team": str(team.pk),
            "action_type": "escalate",
            "payload": {"note": "other"},
            "idempotency_key": "k",
        },
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["errors"] == {"idempotency_key": [response.json()["detail"]]}


def test_replay_by_someone_who_cannot_see_the_action_is_a_conflict(
    api, org, team, approver, medium_type
):
    first = propose(api(approver), team, idempotency_key="shared-key")
    agent = f.make_agent(org, "other-bot", [medium_type])
    again = propose(api(agent.user), team, idempotency_key="shared-key")
    assert again.status_code == 409 and "idempotency_key" in again.json()["errors"]
    assert first.json()["id"] not in again.content.decode()
    assert Action.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action_type": "nope"}, "action_type"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"payload": {"text": "no note"}}, "payload.note"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"expires_at": "yesterday"}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"work_item": "not-a-uuid"}, "work_item"),
        ({"work_item": "00000000-0000-0000-0000-000000000000"}, "work_item"),
        ({"team": "42"}, "team"),
        ({"idempotency_key": "x" * 201}, "idempotency_key"),
    ],
)
def test_validation_errors_name_the_field(api, team, approver, medium_type, change, field):
    response = propose(api(approver), team, **change)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["errors"] and body["code"] == "invalid" and body["detail"]
    assert not Action.objects.exists()


def test_work_item_of_another_organization_is_refused(api, team, approver, medium_type, other_org):
    foreign = WorkItem.objects.create(
        organization=other_org, source="linear", external_id="X-1", title="theirs"
    )
    response = propose(api(approver), team, work_item=str(foreign.pk))
    assert response.status_code == 400 and "work_item" in response.json()["errors"]
    assert not Action.objects.exists()


def test_team_of_another_organization_is_404_like_a_missing_one(
    api, medium_type, other_admin, team
):
    hidden = propose(api(other_admin), team)
    missing = api(other_admin).post(
        "/api/v1/actions/",
        {
            "team": "00000000-0000-0000-0000-000000000000",
            "action_type": "escalate",
            "payload": {"note": "x"},
        },
        format="json",
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_kill_switch_holds_every_proposal_for_a_person(api, org, team, org_admin, approver):
    f.make_action_type(org, "note", risk="low")
    team.autonomy_level = AutonomyLevel.AUTONOMOUS
    team.save()
    organization_set_kill_switch(actor=org_admin, organization=org, paused=True, reason="incident")
    body = propose(api(approver), team, "note").json()
    assert body["status"] == "pending" and body["requires_approval"] is True
    assert "paused" in body["gate_reason"].lower()


def test_list_is_filtered_and_paginated(api, org, team, approver, proposer, medium_type, note_type):
    other_team = f.make_team(org, "Sales")
    f.add_member(proposer, other_team, Role.APPROVER)
    client = api(proposer)
    for i in range(3):
        propose(client, team, payload={"note": f"n{i}"})
    propose(client, team, "note")
    propose(client, other_team)
    seen = api(approver).get("/api/v1/actions/").json()
    assert seen["count"] == 4  # bob sees Support only
    pending = api(approver).get("/api/v1/actions/", {"status": "pending"}).json()
    assert pending["count"] == 3
    assert {row["status"] for row in pending["results"]} == {"pending"}
    low = api(proposer).get("/api/v1/actions/", {"risk_level": "low"}).json()
    assert low["count"] == 1
    sales = api(proposer).get("/api/v1/actions/", {"team": str(other_team.pk)}).json()
    assert sales["count"] == 1 and sales["results"][0]["team"] == str(other_team.pk)
    page = api(proposer).get("/api/v1/actions/", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]


@pytest.mark.parametrize(
    "query", [{"status": "bogus"}, {"team": "nope"}, {"risk_level": "x"}, {"page": "999"}]
)
def test_bad_filters_answer_json_errors(api, approver, query):
    response = api(approver).get("/api/v1/actions/", query)
    assert response.status_code in (400, 404)
    assert set(response.json()) >= {"detail", "code"}


def test_detail_has_decisions_executions_and_audit_trail(api, team, approver, pending, run_tasks):
    response = api(approver).post(
        f"/api/v1/actions/{pending.pk}/decision/", {"decision": "approve", "notes": "ok"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["outcome"]["result"] == "approved"
    run_tasks()
    body = api(approver).get(f"/api/v1/actions/{pending.pk}/").json()
    assert body["status"] == "succeeded"
    assert [d["user"] for d in body["decisions"]] == ["bob"]
    assert body["decisions"][0]["via"] == "api" and body["decisions"][0]["notes"] == "ok"
    assert [e["status"] for e in body["executions"]] == ["succeeded"]
    verbs = [event["verb"] for event in body["audit_trail"]]
    assert verbs[0] == "action.proposed" and "action.approved" in verbs
    assert body["audit_trail"][0]["target_id"] == str(pending.pk)


def test_decision_refusals_map_to_403_and_409(api, team, viewer, approver, proposer, pending):
    url = f"/api/v1/actions/{pending.pk}/decision/"
    as_viewer = api(viewer).post(url, {"decision": "approve"})
    assert as_viewer.status_code == 403 and as_viewer.json()["code"] == "forbidden"
    own = api(proposer).post(url, {"decision": "approve"})
    assert own.status_code == 403 and own.json()["code"] == "separation_of_duties"
    assert not Decision.objects.exists()
    assert api(approver).post(url, {"decision": "reject", "notes": "no"}).status_code == 200
    late = api(approver).post(url, {"decision": "approve"})
    assert late.status_code == 409 and late.json()["code"] == "not_pending"


def test_expired_action_cannot_be_approved(api, team, approver, proposer, medium_type):
    action = propose(
        api(proposer), team, expires_at=(timezone.now() + timedelta(seconds=1)).isoformat()
    ).json()
    Action.objects.filter(pk=action["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(approver).post(
        f"/api/v1/actions/{action['id']}/decision/", {"decision": "approve"}
    )
    assert response.status_code == 409 and response.json()["code"] == "expired"
    assert Action.objects.get(pk=action["id"]).status == ActionStatus.EXPIRED


def test_critical_actions_need_two_different_approvers(
    api, org, team, approver, approver2, proposer
):
    f.make_action_type(org, "credit", risk="critical")
    action = propose(api(proposer), team, "credit").json()
    url = f"/api/v1/actions/{action['id']}/decision/"
    first = api(approver).post(url, {"decision": "approve"}).json()
    assert first["outcome"]["result"] == "approval_recorded"
    assert first["action"]["status"] == "pending"
    again = api(approver).post(url, {"decision": "approve"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    second = api(approver2).post(url, {"decision": "approve"}).json()
    assert second["action"]["status"] == "approved"


def test_edited_payload_since_review_is_a_conflict(api, approver, pending):
    response = api(approver).post(
        f"/api/v1/actions/{pending.pk}/decision/",
        {"decision": "approve", "expected_payload_hash": "0" * 64},
    )
    assert response.status_code == 409 and response.json()["code"] == "changed"


def test_bulk_decision_reports_each_id(api, org, team, approver, proposer, medium_type, other_org):
    client = api(proposer)
    mine = [propose(client, team, payload={"note": f"n{i}"}).json()["id"] for i in range(3)]
    own = propose(api(approver), team, payload={"note": "bob's own"}).json()["id"]
    hidden_team = f.make_team(org, "Finance")
    hidden = Action.objects.create(
        number=99,
        organization=org,
        team=hidden_team,
        action_type=medium_type,
        payload={"note": "x"},
        payload_hash="h",
        risk_level="medium",
        status="pending",
        requires_approval=True,
        required_approvals=1,
        gate_reason="test",
    )
    ids = [*mine, own, str(hidden.pk), "garbage"]
    response = api(approver).post(
        "/api/v1/actions/bulk-decision/",
        {"ids": ids, "decision": "approve", "notes": "batch"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["decided"], body["skipped"]) == (3, 3)
    results = {row["id"]: row for row in body["results"]}
    assert {results[i]["outcome"] for i in mine} == {"decided"}
    assert results[own]["result"] == "separation_of_duties"
    assert results[str(hidden.pk)]["result"] == "not_found"
    assert results["garbage"]["result"] == "not_found"
    assert Decision.objects.count() == 3


def test_an_agent_proposes_by_its_allow_list_and_polls_its_own_actions(
    api, org, team, medium_type, note_type
):
    agent = f.make_agent(org, "triage", [medium_type])
    client = api(agent.user)  # a service account: no team membership at all
    created = propose(client, team)
    assert created.status_code == 201, created.json()
    action_id = created.json()["id"]
    polled = client.get(f"/api/v1/actions/{action_id}/")
    assert polled.status_code == 200 and polled.json()["status"] == "pending"
    assert polled.json()["agent"] == "triage"
    assert client.get("/api/v1/actions/").json()["count"] == 1
    refused = propose(client, team, "note")
    assert refused.status_code == 403 and refused.json()["code"] == "action_type_not_allowed"
    assert AuditEvent.objects.filter(verb="action.refused").count() == 1
    decide = client.post(f"/api/v1/actions/{action_id}/decision/", {"decision": "approve"})
    assert decide.status_code == 403


def test_action_types_are_the_registry_of_my_organizations(
    api, approver, medium_type, note_type, other_org
):
    f.make_action_type(other_org, "theirs")
    body = api(approver).get("/api/v1/action-types/").json()
    assert [row["key"] for row in body["results"]] == ["escalate", "note"]
    assert set(body["results"][0]) >= {"key", "name", "default_risk", "executor", "idempotent"}
    filtered = api(approver).get("/api/v1/action-types/", {"default_risk": "low"}).json()
    assert [row["key"] for row in filtered["results"]] == ["note"]
