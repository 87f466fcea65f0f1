"""The daily summary (§14) is caught up when its 08:00 run is lost.

Beat counts a run as done before it hands the task to the broker: with Redis down at 08:00,
nobody got the summary that day. The job now runs at 08:00 and again every hour until 23:00;
the summary of a day is sent once (its audit row, under a lock), so the later runs send only
what the 08:00 one could not.
"""

from django.db import migrations
from django.utils import timezone

TASK = "rdz.core.pilotage_tasks.daily_summary"
DESCRIPTION = (
    "Chaque jour à 08:00 (Paris) : envoie le résumé de la veille aux destinataires des alertes de chaque "
    "entité (§14), une seule fois par jour ; puis chaque heure jusqu'à 23:00, ne l'envoie que s'il n'est pas "
    "parti (broker indisponible à 08:00)."
)
OLD_DESCRIPTION = (
    "Chaque jour à 08:00 (Paris) : envoie le résumé de la veille aux destinataires des alertes de chaque "
    "entité (§14), une seule fois par jour."
)


def _schedule(apps, hour: str, description: str, expire_seconds: int | None) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/Paris"
    )
    # A run waiting in the broker past the next one's hour is dropped: the next one does the same.
    PeriodicTask.objects.filter(task=TASK).update(
        crontab=crontab, description=description, expire_seconds=expire_seconds
    )
    # What PeriodicTask.save() does (not run by a migration's models): a running beat reloads.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forward(apps, schema_editor):
    _schedule(apps, "8-23", DESCRIPTION, 60 * 60)


def backward(apps, schema_editor):
    _schedule(apps, "8", OLD_DESCRIPTION, None)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_beat_message_expiry"),
    ]

    operations = [migrations.RunPython(forward, backward)]
