"""Beat schedule of the RGPD retention job (§16), in django-celery-beat."""

from django.db import migrations

TASK = "leads.tasks.lead_retention_run"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Nightly, when intake is quiet and after the nightly rollups.
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="40", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/Paris"
    )
    PeriodicTask.objects.update_or_create(
        name="RGPD : anonymisation des leads au-delà de la durée de conservation",
        defaults={
            "task": TASK,
            "crontab": schedule,
            "interval": None,
            "enabled": True,
            "description": "Chaque nuit à 3 h 40 : anonymise les leads plus anciens que la durée de conservation "
            "des paramètres (3 ans par défaut) ; les lignes et statuts restent, les compteurs ne changent pas (§16).",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0003_leadform_crm_key_write_once"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
