"""Rate limits on proposals, decisions and token requests; getting a token."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from approvals.models import Action


@pytest.fixture
def tight_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"propose": "2/min", "decide": "1/min", "token": "2/min"},
    }


def test_proposals_over_the_rate_get_a_clear_429(api, team, approver, medium_type, tight_rates):
    client = api(approver)
    body = {"team": str(team.pk), "action_type": "escalate", "payload": {"note": "n"}}
    assert [client.post("/api/v1/actions/", body).status_code for _ in range(2)] == [201, 201]
    response = client.post("/api/v1/actions/", body)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"].startswith("Too many proposals: the limit is 2/min per user.")
    assert 0 < int(response["Retry-After"]) <= 60
    assert Action.objects.count() == 2
    assert client.get("/api/v1/actions/").status_code == 200  # reading is not throttled


def test_limits_are_per_user(api, team, approver, approver2, medium_type, tight_rates):
    body = {"team": str(team.pk), "action_type": "escalate", "payload": {"note": "n"}}
    for _ in range(2):
        api(approver).post("/api/v1/actions/", body)
    assert api(approver).post("/api/v1/actions/", body).status_code == 429
    assert api(approver2).post("/api/v1/actions/", body).status_code == 201


def test_decisions_are_throttled_too(api, approver, pending, tight_rates):
    client = api(approver)
    url = f"/api/v1/actions/{pending.pk}/decision/"
    assert client.post(url, {"decision": "approve"}).status_code == 200
    throttled = client.post(url, {"decision": "approve"})
    assert throttled.status_code == 429 and "Too many decisions" in throttled.json()["detail"]
    bulk = client.post(
        "/api/v1/actions/bulk-decision/", {"ids": [str(pending.pk)], "decision": "reject"}
    )
    assert bulk.status_code == 429


def test_token_for_username_and_password(api, approver):
    response = api().post("/api/v1/auth/token/", {"username": "bob", "password": "pw"})
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=approver).key == key
    again = api().post("/api/v1/auth/token/", {"username": "bob", "password": "pw"})
    assert again.json()["token"] == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/actions/").status_code == 200


def test_wrong_password_is_400_and_token_requests_are_throttled(api, approver, tight_rates):
    wrong = api().post("/api/v1/auth/token/", {"username": "bob", "password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["code"] == "bad_credentials"
    assert not Token.objects.exists()
    api().post("/api/v1/auth/token/", {"username": "bob", "password": "nope"})
    limited = api().post("/api/v1/auth/token/", {"username": "bob", "password": "pw"})
    assert limited.status_code == 429 and "Too many token requests" in limited.json()["detail"]
