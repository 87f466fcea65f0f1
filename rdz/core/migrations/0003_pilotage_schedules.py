"""Beat schedules of the Pilotage jobs: dashboard rollups, alert checks, daily summary."""

from django.db import migrations

TASKS = [
    # name, task, crontab (minute, hour), description
    (
        "Statistiques : agrégats des 9 derniers jours",
        "rdz.core.pilotage_tasks.rollups_refresh_recent",
        ("*/5", "*"),
        "Toutes les 5 minutes : recalcule les agrégats journaliers récents (livraisons, rejets, CRM) "
        "que lisent le tableau de bord et l'API de statistiques, sans parcourir tous les leads.",
    ),
    (
        "Statistiques : agrégats des 92 derniers jours",
        "rdz.core.pilotage_tasks.rollups_refresh_nightly",
        ("20", "3"),
        "Chaque nuit à 03:20 : recalcule les agrégats des 3 derniers mois (changements de statut tardifs, "
        "recyclage du backlog, effacements RGPD).",
    ),
    (
        "Alertes : silences et échecs CRM",
        "rdz.core.pilotage_tasks.alerts_check",
        ("*/10", "*"),
        "Toutes les 10 minutes : ouvre une alerte pour un provider ou un formulaire silencieux et pour les "
        "échecs CRM au-dessus du seuil (§14), et la résout quand la condition disparaît.",
    ),
    (
        "Alertes : résumé quotidien par entité",
        "rdz.core.pilotage_tasks.daily_summary",
        ("0", "8"),
        "Chaque jour à 08:00 (Paris) : envoie le résumé de la veille aux destinataires des alertes de chaque "
        "entité (§14), une seule fois par jour.",
    ),
]


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour), description in TASKS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/Paris"
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "crontab": schedule, "interval": None, "enabled": True, "description": description},
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[t[1] for t in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
