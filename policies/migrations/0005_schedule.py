"""The policy engine's schedule: stalled work and `scheduled` policies every five minutes."""

from django.db import migrations


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="cwa-policies",
        defaults={
            "func": "policies.tasks.run_schedule",
            "schedule_type": "I",
            "minutes": 5,
            "repeats": -1,
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="cwa-policies").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0004_policy_engine"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
