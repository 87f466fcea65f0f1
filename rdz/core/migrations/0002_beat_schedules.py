"""Periodic tasks of the core, created in django-celery-beat (DatabaseScheduler)."""

from django.db import migrations


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    # Outbox sweeper: re-enqueues outside calls left pending (broker outage, killed worker).
    PeriodicTask.objects.update_or_create(
        name="Outbox : relance des actions en attente",
        defaults={"task": "rdz.core.tasks.outbox_sweep", "interval": every_minute, "enabled": True,
                  "description": "Chaque minute : relance les envois restés en attente (aucun lead perdu, §16)."},
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="rdz.core.tasks.outbox_sweep").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
