"""The autonomy gate: does an action run by itself, or wait for people, and why.

Pure: it takes the facts and returns a verdict, so every risk × level × override × pause
combination is testable without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from approvals.choices import OverrideMode
from policies.choices import RiskLevel
from teams.choices import AutonomyLevel

# How many approvals the default matrix asks for: risk × team autonomy level.
DEFAULT_MATRIX: dict[tuple[str, str], int] = {
    (RiskLevel.LOW, AutonomyLevel.SUPERVISED): 1,
    (RiskLevel.LOW, AutonomyLevel.SEMI_AUTONOMOUS): 0,
    (RiskLevel.LOW, AutonomyLevel.AUTONOMOUS): 0,
    (RiskLevel.MEDIUM, AutonomyLevel.SUPERVISED): 1,
    (RiskLevel.MEDIUM, AutonomyLevel.SEMI_AUTONOMOUS): 1,
    (RiskLevel.MEDIUM, AutonomyLevel.AUTONOMOUS): 0,
    (RiskLevel.HIGH, AutonomyLevel.SUPERVISED): 1,
    (RiskLevel.HIGH, AutonomyLevel.SEMI_AUTONOMOUS): 1,
    (RiskLevel.HIGH, AutonomyLevel.AUTONOMOUS): 0,
    (RiskLevel.CRITICAL, AutonomyLevel.SUPERVISED): 2,
    (RiskLevel.CRITICAL, AutonomyLevel.SEMI_AUTONOMOUS): 2,
    (RiskLevel.CRITICAL, AutonomyLevel.AUTONOMOUS): 2,
}

LEVEL_WORDS = {
    AutonomyLevel.SUPERVISED: "supervised",
    AutonomyLevel.SEMI_AUTONOMOUS: "semi-autonomous",
    AutonomyLevel.AUTONOMOUS: "autonomous",
}


@dataclass(frozen=True)
class GateVerdict:
    required_approvals: int
    reason: str

    @property
    def requires_approval(self) -> bool:
        return self.required_approvals > 0


def evaluate(
    *,
    risk: str,
    autonomy_level: str,
    team_paused: bool = False,
    org_paused: bool = False,
    override: str | None = None,
) -> GateVerdict:
    """The verdict for an action of effective `risk` proposed to a team.

    Precedence: critical always needs two distinct approvers; a paused organization or team holds
    everything for a person; then an admin override for (team, action type); then the matrix.
    """
    risk_words = f"{RiskLevel(risk).label.lower()} risk"
    level_words = f"team is {LEVEL_WORDS[AutonomyLevel(autonomy_level)]}"
    if risk == RiskLevel.CRITICAL:
        reason = "critical risk: two distinct approvers required"
        if org_paused:
            reason += "; automation is paused for the organization"
        elif team_paused:
            reason += "; team is paused"
        return GateVerdict(2, reason)
    if org_paused:
        return GateVerdict(
            1, f"{risk_words}; automation is paused for the organization (kill switch)"
        )
    if team_paused:
        return GateVerdict(1, f"{risk_words}; team is paused")
    if override == OverrideMode.APPROVAL:
        return GateVerdict(
            1, f"{risk_words}; an override for this team and action type requires approval"
        )
    if override == OverrideMode.AUTO:
        return GateVerdict(
            0, f"{risk_words}; an override for this team and action type runs it automatically"
        )
    required = DEFAULT_MATRIX[(RiskLevel(risk), AutonomyLevel(autonomy_level))]
    if required:
        return GateVerdict(required, f"{risk_words}, {level_words}")
    return GateVerdict(0, f"{risk_words}, {level_words}: runs automatically")
