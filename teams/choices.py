from django.db import models


class AutonomyLevel(models.TextChoices):
    SUPERVISED = "supervised", "Supervised"
    SEMI_AUTONOMOUS = "semi_autonomous", "Semi-autonomous"
    AUTONOMOUS = "autonomous", "Autonomous"


class TeamStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    APPROVER = "approver", "Approver"
    VIEWER = "viewer", "Viewer"


class OrgRole(models.TextChoices):
    ADMIN = "admin", "Org admin"
    MEMBER = "member", "Member"


# Object permissions each role grants on its team (org admins get ADMIN's on every team).
VIEW = "view_team"
APPROVE = "approve_team"
ADMINISTER = "administer_team"
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.VIEWER: (VIEW,),
    Role.APPROVER: (VIEW, APPROVE),
    Role.ADMIN: (VIEW, APPROVE, ADMINISTER),
}
