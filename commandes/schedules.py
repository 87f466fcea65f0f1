"""Beat schedules of the delivery (§10), kept in step with the settings record (§8).

The daily CSV e-mail runs at `AppSettings.daily_delivery_time` (Europe/Paris, so DST is
handled by the crontab itself), and the backlog recycling runs before it, so recycled
leads leave in the same morning's e-mail. Both rows are created by a data migration and
moved here when the setting changes.
"""

import datetime

from django.db import transaction

from rdz.core.services import settings_get

PARIS_TZ = "Europe/Paris"
DAILY_TASK_NAME = "Livraison : e-mail CSV quotidien"
BACKLOG_TASK_NAME = "Lead Backlog : recyclage avant l'envoi"
BACKLOG_LEAD_MINUTES = 30


def backlog_time(delivery_time: datetime.time) -> datetime.time:
    """The backlog recycling runs BACKLOG_LEAD_MINUTES before the mailing (same day)."""
    minutes = max(0, delivery_time.hour * 60 + delivery_time.minute - BACKLOG_LEAD_MINUTES)
    return datetime.time(minutes // 60, minutes % 60)


@transaction.atomic
def delivery_schedule_sync() -> None:
    """Point both periodic tasks at crontabs matching the current delivery time."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    delivery_time = settings_get().daily_delivery_time
    for name, at in ((DAILY_TASK_NAME, delivery_time), (BACKLOG_TASK_NAME, backlog_time(delivery_time))):
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(at.minute),
            hour=str(at.hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=PARIS_TZ,
        )
        task = PeriodicTask.objects.filter(name=name).first()
        if task is not None and task.crontab_id != crontab.pk:
            task.crontab = crontab
            task.save()  # save() (not update()) tells the beat scheduler that schedules changed


def on_settings_changed(sender, fields, **kwargs) -> None:
    if "daily_delivery_time" in fields:
        delivery_schedule_sync()
