"""Schedules for the daily digest (07:00 UTC) and the hourly earned-autonomy suggestions."""

from datetime import datetime, time, timedelta, timezone

from django.db import migrations


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = datetime.now(timezone.utc)
    seven = datetime.combine(now.date(), time(7, 0), tzinfo=timezone.utc)
    Schedule.objects.update_or_create(
        name="cwa-daily-digest",
        defaults={
            "func": "approvals.tasks.send_daily_digests",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": seven if seven > now else seven + timedelta(days=1),
        },
    )
    Schedule.objects.update_or_create(
        name="cwa-autonomy-suggestions",
        defaults={
            "func": "approvals.tasks.refresh_autonomy_suggestions",
            "schedule_type": "H",
            "repeats": -1,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name__in=["cwa-daily-digest", "cwa-autonomy-suggestions"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0014_autonomy_suggestions_and_digests")]
    operations = [migrations.RunPython(forwards, backwards)]
