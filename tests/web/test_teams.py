"""Team settings: autonomy with what-if, pause/resume, kill switch, earned-autonomy suggestions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from approvals.models import AutonomyOverride, AutonomySuggestion
from audit.models import AuditEvent
from teams.choices import Role
from teams.models import Team
from tests import factories as f
from tests.web.conftest import propose


@pytest.fixture
def team_admin(team):
    user = f.make_user("tina", team.organization)
    f.add_member(user, team, Role.ADMIN)
    return user


def test_settings_index_lists_visible_teams(client, team_admin, team, sales, mallory):
    client.force_login(team_admin)
    html = client.get("/teams/").content.decode()
    assert team.name in html and "Manage" in html
    assert "Globex" not in html and "kill switch" not in html


def test_org_admin_sees_the_kill_switch(client, org_admin, team):
    client.force_login(org_admin)
    html = client.get("/teams/").content.decode()
    assert "kill switch" in html and "Stop all automation" in html


def test_autonomy_confirmation_shows_what_changes_and_what_if(
    client, team_admin, team, agent, medium_type, note_type, org
):
    high = f.make_action_type(org, "high", risk="high")
    critical = f.make_action_type(org, "crit", risk="critical")
    agent.allowed_action_types.add(high, critical)
    for _ in range(3):
        propose(agent, team, medium_type)
    propose(agent, team, high)
    propose(agent, team, note_type)  # low: runs by itself in a semi-autonomous team
    propose(agent, team, critical)
    client.force_login(team_admin)
    page = client.get(reverse("teams:autonomy", args=[team.pk]), {"autonomy_level": "autonomous"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Make Support autonomous?" in html
    assert "<strong>5 of 6</strong> proposals would have run by themselves (actually: 1)" in html
    assert "4 more would have run without a person" in html
    team.refresh_from_db()
    assert team.autonomy_level == "semi_autonomous"  # GET changes nothing


def test_autonomy_what_if_going_down(client, team_admin, team, agent, note_type):
    propose(agent, team, note_type)
    propose(agent, team, note_type)
    client.force_login(team_admin)
    html = client.get(
        reverse("teams:autonomy", args=[team.pk]), {"autonomy_level": "supervised"}
    ).content.decode()
    assert "<strong>0 of 2</strong>" in html and "2 more would have waited for a person" in html


def test_changing_autonomy_is_audited(client, team_admin, team):
    client.force_login(team_admin)
    response = client.post(
        reverse("teams:autonomy", args=[team.pk]),
        {"autonomy_level": "autonomous", "reason": "trusted now"},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.autonomy_level == "autonomous"
    event = AuditEvent.objects.get(verb="team.autonomy_changed")
    assert event.data["reason"] == "trusted now" and event.actor == team_admin


def test_approver_cannot_change_autonomy(client, approver, team):
    client.force_login(approver)
    html = client.get(reverse("teams:detail", args=[team.pk])).content.decode()
    assert "Review the change" not in html and "Pause Support" not in html
    response = client.post(
        reverse("teams:autonomy", args=[team.pk]), {"autonomy_level": "autonomous"}
    )
    assert response.status_code == 403
    assert Team.objects.get(pk=team.pk).autonomy_level == "semi_autonomous"
    assert (
        client.get(reverse("teams:status", args=[team.pk]), {"status": "paused"}).status_code == 403
    )


def test_other_organization_team_is_404(client, mallory, team):
    client.force_login(mallory)
    assert client.get(reverse("teams:detail", args=[team.pk])).status_code == 404
    assert (
        client.post(reverse("teams:status", args=[team.pk]), {"status": "paused"}).status_code
        == 404
    )


def test_pause_confirmation_and_pause(client, team_admin, team, agent, medium_type):
    propose(agent, team, medium_type)
    client.force_login(team_admin)
    html = client.get(
        reverse("teams:status", args=[team.pk]), {"status": "paused"}
    ).content.decode()
    assert "Pause Support?" in html and "even low-risk ones" in html and "1 pending action" in html
    client.post(reverse("teams:status", args=[team.pk]), {"status": "paused", "reason": "incident"})
    team.refresh_from_db()
    assert team.status == "paused"
    html = client.get(
        reverse("teams:status", args=[team.pk]), {"status": "active"}
    ).content.decode()
    assert "Resume Support?" in html
    client.post(reverse("teams:status", args=[team.pk]), {"status": "active"})
    team.refresh_from_db()
    assert team.status == "active"
    assert AuditEvent.objects.filter(verb="team.status_changed").count() == 2


def test_bad_level_or_status_is_not_a_500(client, team_admin, team):
    client.force_login(team_admin)
    assert (
        client.get(reverse("teams:autonomy", args=[team.pk]), {"autonomy_level": "x"}).status_code
        == 302
    )
    assert client.post(reverse("teams:status", args=[team.pk]), {"status": "x"}).status_code == 302


def test_kill_switch(client, org_admin, approver, org):
    client.force_login(approver)
    assert (
        client.get(reverse("teams:kill-switch", args=[org.pk]), {"paused": "1"}).status_code == 403
    )
    client.force_login(org_admin)
    html = client.get(reverse("teams:kill-switch", args=[org.pk]), {"paused": "1"}).content.decode()
    assert "Stop all automation for Acme?" in html
    client.post(reverse("teams:kill-switch", args=[org.pk]), {"paused": "1", "reason": "drill"})
    org.refresh_from_db()
    assert org.automation_paused and org.paused_reason == "drill"
    page = client.get("/approvals/").content.decode()
    assert "Automation is stopped for Acme" in page
    client.post(reverse("teams:kill-switch", args=[org.pk]), {"paused": "0"})
    org.refresh_from_db()
    assert not org.automation_paused


def test_kill_switch_of_another_organization_is_404(client, mallory, org):
    client.force_login(mallory)
    assert client.get(reverse("teams:kill-switch", args=[org.pk])).status_code == 404


def test_suggestion_accept_and_dismiss_in_one_click(client, team_admin, team, medium_type, org):
    other = f.make_action_type(org, "other", risk="medium")
    accept = AutonomySuggestion.objects.create(
        organization=org, team=team, action_type=medium_type, streak=25, highest_risk="medium"
    )
    dismiss = AutonomySuggestion.objects.create(
        organization=org, team=team, action_type=other, streak=21, highest_risk="medium"
    )
    client.force_login(team_admin)
    html = client.get(reverse("teams:detail", args=[team.pk])).content.decode()
    assert "Let “Escalation note” run by itself?" in html and "25 approvals in a row" in html
    client.post(reverse("teams:suggestion", args=[accept.pk]), {"decision": "accept"})
    client.post(reverse("teams:suggestion", args=[dismiss.pk]), {"decision": "dismiss"})
    override = AutonomyOverride.objects.get(team=team, action_type=medium_type)
    assert override.mode == "auto" and override.created_by == team_admin
    assert not AutonomyOverride.objects.filter(action_type=other).exists()
    accept.refresh_from_db()
    dismiss.refresh_from_db()
    assert (accept.status, dismiss.status) == ("accepted", "dismissed")
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {
        "autonomy.suggestion_accepted",
        "autonomy.override_created",
        "autonomy.suggestion_dismissed",
    } <= verbs
    again = client.post(
        reverse("teams:suggestion", args=[accept.pk]), {"decision": "accept"}, follow=True
    )
    assert b"already accepted" in again.content


def test_approver_cannot_accept_a_suggestion(client, approver, team, medium_type, org):
    suggestion = AutonomySuggestion.objects.create(
        organization=org, team=team, action_type=medium_type, streak=25, highest_risk="medium"
    )
    client.force_login(approver)
    client.post(reverse("teams:suggestion", args=[suggestion.pk]), {"decision": "accept"})
    suggestion.refresh_from_db()
    assert suggestion.status == "open" and not AutonomyOverride.objects.exists()


def test_index_counts_do_not_multiply_and_stay_constant(
    client, org_admin, team, agent, medium_type, org
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        propose(agent, team, medium_type)
    for key in ("a", "b"):
        AutonomySuggestion.objects.create(
            organization=org,
            team=team,
            action_type=f.make_action_type(org, key, risk="medium"),
            streak=21,
            highest_risk="medium",
        )
    client.force_login(org_admin)
    client.get("/teams/")
    with CaptureQueriesContext(connection) as few:
        page = client.get("/teams/")
    row = page.context["teams"][0]
    assert (row.pending, row.open_suggestions) == (3, 2)
    for i in range(4):
        f.make_team(org, f"More {i}")
    with CaptureQueriesContext(connection) as many:
        client.get("/teams/")
    assert len(many) == len(few)
