"""The audit trail: written with every change, hash-chained, append-only, verifiable."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from approvals.services import action_decide, action_propose
from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_record
from audit.verify import verify_all
from tests.conftest import is_postgres


@pytest.fixture
def trail(team, proposer, approver, note_type):
    note_type.default_risk = "medium"
    note_type.save()
    for i in range(3):
        action = action_propose(
            actor=proposer, team=team, action_type=note_type, payload={"note": str(i)}
        ).action
        action_decide(
            actor=approver, action_id=action.pk, decision="approve" if i % 2 else "reject"
        )
    return list(AuditEvent.objects.order_by("seq"))


def _raw(sql, params=()):
    """Tamper with the table the way an attacker with SQL access would, bypassing the ORM."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SET CONSTRAINTS ALL IMMEDIATE"
            )  # no pending FK checks: ALTER needs that
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def _verify_fails(capsys):
    with pytest.raises(CommandError):
        call_command("verify_audit")
    return capsys.readouterr().err


def test_every_change_is_chained(trail, org):
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(trail, trail[1:], strict=False))
    org.refresh_from_db()
    assert (org.audit_seq, org.audit_head) == (trail[-1].seq, trail[-1].hash)
    assert verify_all() == (len(trail), [])
    call_command("verify_audit")


def test_actor_team_target_and_automatic_flag_are_recorded(trail, approver, team):
    approved = next(e for e in trail if e.verb == "action.approved")
    assert approved.actor == approver and approved.actor_label == approver.username
    assert approved.team_id == team.pk and approved.target_type == "approvals.action"
    assert approved.was_automatic is False and approved.success is True


def test_alteration_is_detected_and_named(trail, capsys):
    victim = trail[2]
    _raw("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"notes": "forged"}', victim.pk])
    err = _verify_fails(capsys)
    assert f"event #{victim.seq} (id {victim.pk})" in err and "altered" in err


def test_actor_change_is_detected(trail, capsys, viewer):
    victim = trail[3]
    _raw("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["carol", victim.pk])
    assert f"event #{victim.seq}" in _verify_fails(capsys)


def test_deletion_is_detected(trail, capsys):
    victim = trail[2]
    _raw("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    err = _verify_fails(capsys)
    assert f"expected event #{victim.seq}" in err and "deleted" in err


def test_deleting_the_newest_events_is_detected(trail, capsys):
    _raw("DELETE FROM audit_auditevent WHERE id = %s", [trail[-1].pk])
    assert "newest events deleted" in _verify_fails(capsys)


def test_reordering_is_detected(trail, capsys):
    a, b = trail[1], trail[2]
    # swap the two events' positions in the chain (seq), keeping everything else
    _raw("UPDATE audit_auditevent SET seq = 100000 WHERE id = %s", [a.pk])
    _raw("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [a.seq, b.pk])
    _raw("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [b.seq, a.pk])
    err = _verify_fails(capsys)
    assert f"event #{a.seq}" in err


def test_rewriting_an_event_with_a_recomputed_hash_still_breaks_the_chain(trail, capsys):
    from audit.chain import hash_of

    victim = trail[1]
    victim.data = {"notes": "forged"}
    forged = hash_of(victim)
    _raw(
        "UPDATE audit_auditevent SET data = %s, hash = %s WHERE id = %s",
        ['{"notes": "forged"}', forged, victim.pk],
    )
    err = _verify_fails(capsys)
    assert f"event #{trail[2].seq}" in err and "does not link" in err


def test_model_refuses_update_and_delete(trail):
    event = trail[0]
    event.verb = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(verb="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_audit_must_be_written_inside_the_change_transaction(org):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(organization=org, verb="x")


def test_chains_are_per_organization(trail, other_org):
    with transaction.atomic():
        event = audit_record(organization=other_org, verb="team.created")
    assert event.seq == 1 and event.prev_hash == ""
    assert verify_all()[1] == []


@is_postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET verb = 'forged'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "TRUNCATE audit_auditevent CASCADE",
    ],
)
def test_postgres_triggers_reject_update_delete_truncate(trail, sql):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # so TRUNCATE reaches the trigger
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.count() == len(trail)
