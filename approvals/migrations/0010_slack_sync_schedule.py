"""The Slack sync (lost posts, messages of actions decided elsewhere) as a django-q2 schedule."""

from django.db import migrations


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="cwa-slack-sync",
        defaults={
            "func": "approvals.slack.tasks.sync",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="cwa-slack-sync").delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0009_slack_routes_and_messages"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(forwards, backwards)]
