"""The API as a contract: schema, docs without a CDN, one JSON error shape, no 500 for any input."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from approvals.models import Action
from audit.models import AuditEvent


def test_schema_is_served_and_lists_every_endpoint(client: Client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/teams/": {"get", "post"},
        "/api/v1/teams/{team_id}/": {"get", "patch"},
        "/api/v1/teams/{team_id}/members/": {"get", "post"},
        "/api/v1/action-types/": {"get"},
        "/api/v1/actions/": {"get", "post"},
        "/api/v1/actions/{action_id}/": {"get"},
        "/api/v1/actions/{action_id}/decision/": {"post"},
        "/api/v1/actions/bulk-decision/": {"post"},
        "/api/v1/audit/": {"get"},
        "/api/v1/workitems/": {"get"},
        "/api/v1/connectors/": {"get", "post"},
        "/api/v1/notifications/": {"get"},
        "/api/v1/notifications/mark-read/": {"post"},
        "/api/v1/auth/token/": {"post"},
    }.items():
        assert methods <= set(paths[path]), path
    propose = paths["/api/v1/actions/"]["post"]["responses"]
    assert {"200", "201", "400", "401", "403", "404", "409", "429"} <= set(propose)
    assert propose["429"]["headers"]["Retry-After"]
    assert paths["/api/v1/actions/{action_id}/"]["get"]["parameters"][0]["schema"] == {
        "type": "string",
        "format": "uuid",
    }
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {
        "detail",
        "code",
        "errors",
    }
    assert "secret" not in schema["components"]["schemas"]["ConnectorOutput"]["properties"]


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["info"]["title"] == "CWA API"


def test_docs_use_vendored_assets_only(client: Client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "https://" not in html
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/actions/not-a-uuid/",
        "/api/v1/actions/123/decision/",
        "/api/v1/teams/%00/",
        "/api/v1/nothing-here/",
        "/api/v1/actions",  # no trailing slash
        "/api/",
    ],
)
def test_unknown_urls_are_json_404s(api, approver, url):
    response = api(approver).get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_missing_and_hidden_objects_look_the_same(api, other_admin, pending):
    hidden = api(other_admin).get(f"/api/v1/actions/{pending.pk}/")
    missing = api(other_admin).get("/api/v1/actions/00000000-0000-0000-0000-000000000000/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_wrong_method_and_media_type_are_json(api, approver):
    client = api(approver)
    wrong_method = client.delete("/api/v1/actions/")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"
    form = client.post("/api/v1/actions/", {"team": "x"}, format="multipart")
    assert form.status_code == 415 and form.json()["detail"]


def test_unauthenticated_is_401_with_a_challenge(api, db):
    response = api().get("/api/v1/actions/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    bad = Client().get("/api/v1/actions/", HTTP_AUTHORIZATION="Token nope")
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"


def test_session_auth_works_and_needs_csrf_for_writes(approver, team, medium_type):
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    assert client.get("/api/v1/actions/").status_code == 200
    body = {"team": str(team.pk), "action_type": "escalate", "payload": {"note": "n"}}
    refused = client.post("/api/v1/actions/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not Action.objects.exists()


RAW_BODIES = [
    b"{",
    b"[1, 2",
    b"\xff\xfe not utf-8",
    b'{"team": NaN}',
    b'{"team": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 70 + b"1" + b"}" * 70,
    b'{"team": "\\u0000"}',
    b'{"payload": {"note": "\\ud800"}}',
    b'{"payload": {"\\u0000": 1}}',
    b'"just a string"',
    b"12345678901234567890",
    b"null",
    b"[]",
    b'{"ids": "not a list", "decision": 5}',
]
ENDPOINTS = [
    "/api/v1/actions/",
    "/api/v1/actions/bulk-decision/",
    "/api/v1/teams/",
    "/api/v1/connectors/",
    "/api/v1/notifications/mark-read/",
    "/api/v1/auth/token/",
]


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("raw", RAW_BODIES, ids=range(len(RAW_BODIES)))
def test_malformed_bodies_are_400_never_500(api, org_admin, team, url, raw):
    events = AuditEvent.objects.count()
    response = api(org_admin).generic("POST", url, raw, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["detail"] and body["code"] in ("parse_error", "invalid")
    assert AuditEvent.objects.count() == events


def test_oversized_body_is_413(api, approver, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = json.dumps({"payload": {"note": "x" * 20_000}}).encode()
    response = api(approver).generic(
        "POST", "/api/v1/actions/", raw, content_type="application/json"
    )
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_payload_over_the_service_limit_is_400_on_the_field(api, team, approver, medium_type):
    response = api(approver).post(
        "/api/v1/actions/",
        {"team": str(team.pk), "action_type": "escalate", "payload": {"note": "x" * 300_000}},
    )
    assert response.status_code == 400 and "payload" in "".join(response.json()["errors"])


@pytest.mark.parametrize(
    "body",
    [
        {"team": None, "action_type": None, "payload": None},
        {"team": [], "action_type": {}, "payload": "x"},
        {"team": True, "action_type": 1.5, "payload": {"note": 1}},
        {"team": "{team}", "action_type": "escalate", "payload": {"note": "n"}, "expires_at": 5},
        {
            "team": "{team}",
            "action_type": "escalate",
            "payload": {"note": "n"},
            "expires_at": "9999-12-31T23:59:59-14:00",
        },
        {
            "team": "{team}",
            "action_type": "escalate",
            "payload": {"note": "n"},
            "expires_at": "0001-01-01T00:00:00+14:00",
        },
        {"team": "{team}", "action_type": "x" * 5000, "payload": {}},
        {"team": "{team}", "action_type": "escalate", "payload": {"note": "n"}, "work_item": 7},
    ],
)
def test_wrong_types_never_500(api, team, approver, medium_type, body):
    body = {k: (v.format(team=team.pk) if isinstance(v, str) else v) for k, v in body.items()}
    response = api(approver).post("/api/v1/actions/", body)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"until": "2026-13-45T00:00:00Z"},
        {"since": "9999-12-31T23:59:59-14:00"},
        {"until": "0001-01-01T00:00:00+14:00"},
        {"since": "0345-12-06T15:34:25.166968-20:47"},
        {"team": "x"},
        {"verb": "\x00"},
        {"target_id": "x" * 1000},
        {"page": "-1"},
        {"page_size": "99999999999999999999"},
    ],
)
def test_audit_filters_never_500(api, org_admin, team, query):
    response = api(org_admin).get("/api/v1/audit/", query)
    assert response.status_code in (200, 400, 404), response.content[:300]
    response.json()


def test_since_and_until_bound_the_audit_trail(api, org_admin, team, pending):
    from datetime import timedelta

    created = pending.created_at
    client = api(org_admin)
    window = {
        "since": (created - timedelta(seconds=1)).isoformat(),
        "until": (created + timedelta(seconds=1)).isoformat(),
    }
    inside = client.get("/api/v1/audit/", window).json()
    assert "action.proposed" in [e["verb"] for e in inside["results"]]
    after = client.get(
        "/api/v1/audit/", {"since": (created + timedelta(minutes=1)).isoformat()}
    ).json()
    assert after["count"] == 0
    bad = client.get("/api/v1/audit/", {"since": "last tuesday"})
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    by_team = client.get("/api/v1/audit/", {"team": str(team.pk)}).json()
    assert by_team["count"] == inside["count"]


def test_any_iso_offset_is_stored_in_utc(api, team, approver, medium_type):
    # Valid ISO 8601, but beyond PostgreSQL's ±15:59 offset range: normalized before storing.
    response = api(approver).post(
        "/api/v1/actions/",
        {
            "team": str(team.pk),
            "action_type": "escalate",
            "payload": {"note": "n"},
            "expires_at": "2999-01-01T00:00:00-20:47",
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["expires_at"] == "2999-01-01T20:47:00Z"
