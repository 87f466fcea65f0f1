"""Catch-up of the daily delivery jobs (§10, §16), in django-celery-beat.

Beat marks a run done before handing it to the broker; a broker down at that minute would
skip the day's mailing. This job runs the day's recycling and mailing when their time has
passed without a recorded run (commandes.schedules.daily_jobs_catch_up).
"""

from django.db import migrations

TASK = "commandes.tasks.daily_jobs_catch_up"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="Livraison : rattrapage de l'envoi quotidien",
        defaults={
            "task": TASK,
            "interval": every_5,
            "crontab": None,
            "enabled": True,
            "description": "Toutes les 5 minutes : si l'heure de l'e-mail CSV quotidien est passée de 10 minutes "
            "sans que l'envoi du jour ait été lancé (broker ou beat indisponible à cette minute), lance le "
            "recyclage du backlog puis l'envoi. Sans effet les jours où l'envoi a eu lieu (§10, §16).",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("commandes", "0007_client_http_settings_checked"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
