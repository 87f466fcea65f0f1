"""Beat messages of the frequent jobs expire (§16).

Beat sends each job at its time whether or not a worker is there to take it. After hours
without a worker (a crash, a failed deploy), the queue would hold every sweep, rollup and
check sent meanwhile: the worker coming back would run them all (600 sweeps after ten hours,
each sending again up to 500 outbox rows) before the deliveries of the new leads. A message
of a job that beat sends again within the hour now expires after a few of its periods: the
worker drops it, a fresher one does the same work. The daily jobs never expire: run late is
better than not at all (and the mailing has its catch-up).
"""

from django.db import migrations
from django.utils import timezone

# task → seconds its message stays valid (a few of its periods: a busy queue does not starve it).
EXPIRY = {
    "rdz.core.tasks.outbox_sweep": 5 * 60,  # every minute
    "commandes.tasks.daily_jobs_catch_up": 10 * 60,  # every 5 minutes
    "commandes.tasks.commande_quota_alerts": 10 * 60,  # every 5 minutes
    "rdz.core.pilotage_tasks.rollups_refresh_recent": 10 * 60,  # every 5 minutes
    "rdz.core.pilotage_tasks.alerts_check": 20 * 60,  # every 10 minutes
    "routing.tasks.crm_retry_due": 60 * 60,  # every hour
}


def _beat_told(apps) -> None:
    # What PeriodicTask.save() does (not run by a migration's models): a running beat reloads.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forward(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, seconds in EXPIRY.items():
        # An absolute expiry date set by staff stays (the two cannot be combined).
        PeriodicTask.objects.filter(task=task, expires__isnull=True).update(expire_seconds=seconds)
    _beat_told(apps)


def backward(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=list(EXPIRY)).update(expire_seconds=None)
    _beat_told(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_cross_entity_labels_in_french"),
        ("core", "0003_pilotage_schedules"),
        ("commandes", "0008_daily_catch_up_schedule"),
        ("routing", "0002_crm_retry_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forward, backward)]
