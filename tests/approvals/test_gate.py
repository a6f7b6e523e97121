"""The autonomy gate: every risk × level, overrides, pauses and agent limits."""

import pytest

from approvals.choices import ActionStatus, OverrideMode
from approvals.gate import evaluate
from approvals.models import AutonomyOverride
from approvals.services import action_propose
from audit.models import AuditEvent
from cwa_site.errors import Forbidden
from tests import factories as f

MATRIX = [
    # risk, level, approvals the default matrix requires
    ("low", "supervised", 1),
    ("low", "semi_autonomous", 0),
    ("low", "autonomous", 0),
    ("medium", "supervised", 1),
    ("medium", "semi_autonomous", 1),
    ("medium", "autonomous", 0),
    ("high", "supervised", 1),
    ("high", "semi_autonomous", 1),
    ("high", "autonomous", 0),
    ("critical", "supervised", 2),
    ("critical", "semi_autonomous", 2),
    ("critical", "autonomous", 2),
]


@pytest.mark.parametrize(("risk", "level", "required"), MATRIX)
def test_default_matrix(risk, level, required):
    verdict = evaluate(risk=risk, autonomy_level=level)
    assert verdict.required_approvals == required
    assert verdict.requires_approval is (required > 0)
    assert f"{risk} risk" in verdict.reason


@pytest.mark.parametrize(("risk", "level", "required"), MATRIX)
def test_matrix_applied_to_real_proposals(org, proposer, risk, level, required):
    team = proposer.memberships.get().team
    team.autonomy_level = level
    team.save()
    action_type = f.make_action_type(org, "note", risk=risk)
    action = action_propose(
        actor=proposer, team=team, action_type=action_type, payload={"note": "x"}
    ).action
    assert action.required_approvals == required
    assert action.status == (ActionStatus.PENDING if required else ActionStatus.APPROVED)
    assert action.auto_approved is (required == 0)
    assert action.gate_reason == evaluate(risk=risk, autonomy_level=level).reason


def test_reason_reads_like_a_sentence():
    assert (
        evaluate(risk="high", autonomy_level="semi_autonomous").reason
        == "high risk, team is semi-autonomous"
    )


@pytest.mark.parametrize("risk", ["low", "medium", "high"])
def test_override_auto_lets_supervised_team_run(risk):
    verdict = evaluate(risk=risk, autonomy_level="supervised", override=OverrideMode.AUTO)
    assert verdict.required_approvals == 0
    assert "override" in verdict.reason


@pytest.mark.parametrize("risk", ["low", "medium", "high"])
def test_override_approval_holds_autonomous_team(risk):
    verdict = evaluate(risk=risk, autonomy_level="autonomous", override=OverrideMode.APPROVAL)
    assert verdict.required_approvals == 1


def test_override_never_removes_critical_quorum():
    assert (
        evaluate(
            risk="critical", autonomy_level="autonomous", override=OverrideMode.AUTO
        ).required_approvals
        == 2
    )


@pytest.mark.parametrize("risk", ["low", "medium", "high"])
@pytest.mark.parametrize("pause", ["team_paused", "org_paused"])
def test_pause_holds_everything(risk, pause):
    verdict = evaluate(
        risk=risk, autonomy_level="autonomous", override=OverrideMode.AUTO, **{pause: True}
    )
    assert verdict.required_approvals == 1
    assert "paused" in verdict.reason


def test_override_row_is_used_by_propose(team, proposer, note_type):
    AutonomyOverride.objects.create(team=team, action_type=note_type, mode=OverrideMode.APPROVAL)
    action = action_propose(
        actor=proposer, team=team, action_type=note_type, payload={"note": "x"}
    ).action
    assert action.status == ActionStatus.PENDING
    assert "override" in action.gate_reason


def test_effective_risk_is_the_highest_and_never_below_the_floor(team, proposer, org):
    floor_high = f.make_action_type(org, "deploy", risk="high")
    action = action_propose(
        actor=proposer, team=team, action_type=floor_high, payload={"note": "x"}, risk_level="low"
    ).action
    assert action.risk_level == "high"
    raised = action_propose(
        actor=proposer,
        team=team,
        action_type=floor_high,
        payload={"note": "y"},
        risk_level="critical",
    ).action
    assert raised.risk_level == "critical" and raised.required_approvals == 2
    from_policy = action_propose(
        actor=proposer,
        team=team,
        action_type=floor_high,
        payload={"note": "z"},
        policy_risk="critical",
    ).action
    assert from_policy.risk_level == "critical"


def test_kill_switch_holds_proposals_that_would_run(org, proposer, note_type):
    team = proposer.memberships.get().team
    team.autonomy_level = "autonomous"
    team.save()
    org.automation_paused = True
    org.save()
    action = action_propose(
        actor=proposer, team=team, action_type=note_type, payload={"note": "x"}
    ).action
    assert action.status == ActionStatus.PENDING
    assert "kill switch" in action.gate_reason


def test_paused_team_holds_proposals(team, proposer, note_type):
    team.status = "paused"
    team.save()
    action = action_propose(
        actor=proposer, team=team, action_type=note_type, payload={"note": "x"}
    ).action
    assert action.status == ActionStatus.PENDING
    assert "team is paused" in action.gate_reason


def test_agent_limited_to_its_action_types_and_refusal_is_audited(org, team, note_type):
    other = f.make_action_type(org, "other", risk="low")
    agent = f.make_agent(org, "bot", [note_type])
    assert action_propose(
        actor=agent.user, team=team, action_type=note_type, payload={"note": "ok"}
    ).created
    with pytest.raises(Forbidden, match="may not propose other"):
        action_propose(actor=agent.user, team=team, action_type=other, payload={"note": "no"})
    refused = AuditEvent.objects.get(verb="action.refused")
    assert refused.success is False and "may not propose other" in refused.error
    assert refused.actor_label == "agent:bot"
    assert team.actions.count() == 1
