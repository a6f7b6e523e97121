"""Connectors (secret write-only) and the per-user notification inbox."""

from __future__ import annotations

from approvals.models import Notification
from audit.models import AuditEvent
from workitems.models import Connector


def test_org_admin_adds_a_connector_and_gets_its_webhook_url(api, org, org_admin, team):
    response = api(org_admin).post(
        "/api/v1/connectors/",
        {"kind": "linear", "name": "Linear prod", "secret": "whsec-123", "team": str(team.pk)},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "kind", "name", "webhook_url"}
    assert "secret" not in body and "whsec-123" not in response.content.decode()
    connector = Connector.objects.get()
    assert body["webhook_url"].endswith(f"/hooks/linear/{connector.pk}/")
    assert connector.secret == "whsec-123" and "whsec-123" not in connector.secret_encrypted
    event = AuditEvent.objects.get(verb="connector.created")
    assert "whsec-123" not in str(event.data)
    listed = api(org_admin).get("/api/v1/connectors/").json()["results"]
    assert [c["name"] for c in listed] == ["Linear prod"] and "secret" not in listed[0]


def test_connector_input_is_validated(api, org_admin, other_org):
    client = api(org_admin)
    bad_kind = client.post("/api/v1/connectors/", {"kind": "fax", "name": "x", "secret": "s"})
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["errors"]
    no_secret = client.post("/api/v1/connectors/", {"kind": "github", "name": "x"})
    assert no_secret.status_code == 400 and "secret" in no_secret.json()["errors"]
    from tests import factories as f

    foreign_team = f.make_team(other_org, "Theirs")
    foreign = client.post(
        "/api/v1/connectors/",
        {"kind": "github", "name": "x", "secret": "s", "team": str(foreign_team.pk)},
    )
    assert foreign.status_code == 400 and "team" in foreign.json()["errors"]
    client.post("/api/v1/connectors/", {"kind": "github", "name": "gh", "secret": "s"})
    dup = client.post("/api/v1/connectors/", {"kind": "github", "name": "gh", "secret": "t"})
    assert dup.status_code == 409
    assert Connector.objects.count() == 1


def test_notifications_are_my_own_and_can_be_marked_read(api, org, approver, viewer, pending):
    mine = Notification.objects.filter(user=approver)
    assert mine.count() == 1  # told about the pending action
    Notification.objects.create(user=approver, organization=org, kind="x", title="second")
    Notification.objects.create(user=viewer, organization=org, kind="x", title="not bob's")
    client = api(approver)
    listed = client.get("/api/v1/notifications/").json()
    assert listed["count"] == 2 and all(row["unread"] for row in listed["results"])
    first_id = listed["results"][-1]["id"]
    theirs = Notification.objects.get(user=viewer).pk
    marked = client.post("/api/v1/notifications/mark-read/", {"ids": [first_id, theirs]})
    assert marked.json() == {"marked": 1}
    assert Notification.objects.get(pk=theirs).read_at is None
    unread = client.get("/api/v1/notifications/", {"unread": "true"}).json()
    assert unread["count"] == 1
    read = client.get("/api/v1/notifications/", {"unread": "false"}).json()
    assert [row["id"] for row in read["results"]] == [first_id]
    assert client.post("/api/v1/notifications/mark-read/", {}).json() == {"marked": 1}
    assert client.get("/api/v1/notifications/", {"unread": "true"}).json()["count"] == 0


def test_mark_read_validates_ids(api, approver):
    response = api(approver).post(
        "/api/v1/notifications/mark-read/", {"ids": [0, "x", 2**70]}, format="json"
    )
    assert response.status_code == 400 and response.json()["errors"]
