"""Beat schedule of CRM forwarding retries (§11), in django-celery-beat."""

from django.db import migrations

TASK = "routing.tasks.crm_retry_due"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Hourly, off the round minutes other jobs use.
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="7", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/Paris"
    )
    PeriodicTask.objects.update_or_create(
        name="CRM : relance des transmissions en attente ou en échec",
        defaults={
            "task": TASK,
            "crontab": schedule,
            "interval": None,
            "enabled": True,
            "description": "Chaque heure : retransmet aux CRM les leads de formulaire restés en attente, et ceux "
            "en échec sans appel CRM depuis 6 heures, créés depuis moins de CRM_RETRY_HORIZON_HOURS "
            "(CRM revenu en service, clé corrigée), §11.",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0001_crm_attempt"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
