"""Periodic tasks of the delivery (§10, §14), created in django-celery-beat (DatabaseScheduler).

Times come from the settings record (default 09:30) in Europe/Paris; the crontab moves
when the setting changes (commandes.schedules.delivery_schedule_sync).
"""

import datetime

from django.db import migrations

PARIS = "Europe/Paris"


def create(apps, schema_editor):
    AppSettings = apps.get_model("core", "AppSettings")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    record = AppSettings.objects.filter(pk=1).first()
    at = record.daily_delivery_time if record else datetime.time(9, 30)
    before = max(0, at.hour * 60 + at.minute - 30)

    def crontab(hour, minute):
        obj, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute), hour=str(hour), day_of_week="*", day_of_month="*", month_of_year="*", timezone=PARIS
        )
        return obj

    # Daily CSV e-mail: one per client with every lead not yet delivered (§10).
    PeriodicTask.objects.update_or_create(
        name="Livraison : e-mail CSV quotidien",
        defaults={
            "task": "commandes.tasks.delivery_send_daily",
            "crontab": crontab(at.hour, at.minute),
            "interval": None,
            "enabled": True,
            "description": "Chaque jour à l'heure des paramètres (Europe/Paris) : envoie à chaque client le CSV "
            "de ses leads non livrés (§10). Un envoi en échec est relancé par l'outbox.",
        },
    )
    # Backlog recycling 30 minutes before, so recycled leads leave in the same e-mail (§10).
    PeriodicTask.objects.update_or_create(
        name="Lead Backlog : recyclage avant l'envoi",
        defaults={
            "task": "commandes.tasks.backlog_recycle",
            "crontab": crontab(before // 60, before % 60),
            "interval": None,
            "enabled": True,
            "description": "Chaque jour, 30 minutes avant l'e-mail CSV : propose le Lead Backlog aux commandes "
            "ouvertes qui l'acceptent (quotas et règle des 30 jours appliqués, §10).",
        },
    )
    every_5, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="Commandes : alerte quota atteint",
        defaults={
            "task": "commandes.tasks.commande_quota_alerts",
            "interval": every_5,
            "crontab": None,
            "enabled": True,
            "description": "Toutes les 5 minutes : alerte une fois par commande et par semaine quand le quota "
            "hebdomadaire est atteint (§14).",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(
        task__in=[
            "commandes.tasks.delivery_send_daily",
            "commandes.tasks.backlog_recycle",
            "commandes.tasks.commande_quota_alerts",
        ]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("commandes", "0002_delivery_rejection_backlog"),
        ("core", "0002_beat_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
