"""The catch-up of the daily jobs runs a lost backlog recycling on its own (§10, §16).

Its description in django-celery-beat said it ran only when the day's mailing was missing.
"""

from django.db import migrations

TASK = "commandes.tasks.daily_jobs_catch_up"
DESCRIPTION = (
    "Toutes les 5 minutes : lance le recyclage du backlog puis l'e-mail CSV quotidien s'ils n'ont pas eu lieu "
    "10 minutes après leur heure (broker ou beat indisponible à cette minute), chacun une seule fois par jour. "
    "Un recyclage perdu passe ainsi avant l'envoi, ou plus tard dans la journée si l'envoi a eu lieu (§10, §16)."
)
OLD_DESCRIPTION = (
    "Toutes les 5 minutes : si l'heure de l'e-mail CSV quotidien est passée de 10 minutes "
    "sans que l'envoi du jour ait été lancé (broker ou beat indisponible à cette minute), lance le "
    "recyclage du backlog puis l'envoi. Sans effet les jours où l'envoi a eu lieu (§10, §16)."
)


def _describe(apps, description: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=TASK).update(description=description)


def forward(apps, schema_editor):
    _describe(apps, DESCRIPTION)


def backward(apps, schema_editor):
    _describe(apps, OLD_DESCRIPTION)


class Migration(migrations.Migration):
    dependencies = [
        ("commandes", "0015_batch_status_failed_label"),
    ]

    operations = [migrations.RunPython(forward, backward)]
