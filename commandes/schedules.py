"""Beat schedules of the delivery (§10), kept in step with the settings record (§8).

The daily CSV e-mail runs at `AppSettings.daily_delivery_time` (Europe/Paris, so DST is
handled by the crontab itself), and the backlog recycling runs before it, so recycled
leads leave in the same morning's e-mail. Both rows are created by a data migration and
moved here when the setting changes.

Beat marks a run as done before it hands the task to the broker: with the broker down at
that minute (a Redis restart at 09:30), the day's mailing would be skipped and the leads
would wait a day. Each scheduled run therefore records that it ran for its day, and a
catch-up job (every 5 minutes) runs the day's recycling and mailing when their time has
passed without a record. Both are idempotent (one batch per client and day), so a catch-up
that overlaps a late scheduled run sends nothing twice.
"""

import datetime
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from rdz.core.services import daily_run_done, daily_run_record, settings_get
from rdz.core.text import count_noun
from rdz.core.timeutils import PARIS, paris_now

logger = logging.getLogger(__name__)

PARIS_TZ = "Europe/Paris"
DAILY_TASK_NAME = "Livraison : e-mail CSV quotidien"
BACKLOG_TASK_NAME = "Lead Backlog : recyclage avant l'envoi"
BACKLOG_LEAD_MINUTES = 30
DELIVERY_JOB = "livraison quotidienne"
BACKLOG_JOB = "recyclage du backlog"
# A scheduled run may start a little late (busy workers): the catch-up waits this long.
CATCH_UP_GRACE = datetime.timedelta(minutes=10)
# Beat sends a run at its minute or later; a worker whose clock is a little behind may start it
# just before: that run is still the one of its scheduled day.
CLOCK_SKEW = datetime.timedelta(minutes=2)
_CATCH_UP_GUARD = "commandes:daily-catch-up:{day}"


def backlog_time(delivery_time: datetime.time) -> datetime.time:
    """The backlog recycling runs BACKLOG_LEAD_MINUTES before the mailing (same day)."""
    minutes = max(0, delivery_time.hour * 60 + delivery_time.minute - BACKLOG_LEAD_MINUTES)
    return datetime.time(minutes // 60, minutes % 60)


def scheduled_day(*, at: datetime.time, now: datetime.datetime | None = None) -> datetime.date:
    """The Paris day whose run at `at` a run starting `now` is: the day of the latest `at` at or
    before now. A run that starts after midnight (a 23:55 mailing taken late, workers down all
    evening, beat restarted in the night firing the run it missed) is the previous day's: it
    sends that day's batches, and the new day's run still comes at its time."""
    now = paris_now(now)
    if now + CLOCK_SKEW < datetime.datetime.combine(now.date(), at, tzinfo=PARIS):
        return now.date() - datetime.timedelta(days=1)
    return now.date()


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


def backlog_recycle_daily(*, now: datetime.datetime | None = None) -> str:
    """The scheduled recycling before the mailing (§10), recorded for its Paris day.

    It takes at most half the task's soft time limit: the catch-up hands out the mailing
    after it, in the same task, and a large backlog cut by the limit would take the day's
    mailing with it (and again at each catch-up). Leads it had no time for wait a day."""
    from routing.backlog import backlog_recycle

    day = scheduled_day(at=backlog_time(settings_get().daily_delivery_time), now=now)
    summary = backlog_recycle(now=now, budget_seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2).summary()
    daily_run_record(job=BACKLOG_JOB, day=day, message=summary)
    return summary


def delivery_send_daily_scheduled(*, now: datetime.datetime | None = None, day: datetime.date | None = None) -> str:
    """The scheduled daily CSV e-mail (§10): the batches of its day handed to the workers, recorded.

    The day's recycling comes first when none was recorded: after an outage, beat (restarted)
    sends the missed recycling and mailing at the same instant, or a worker (back) takes both
    at once, and the mailing would leave before the leads recycled for it. A recycling running
    meanwhile is harmless: each lead is recycled under its row lock, once."""
    from commandes.delivery import delivery_send_daily

    today = paris_now(now).date()
    day = day or scheduled_day(at=settings_get().daily_delivery_time, now=now)
    # Leads recycled after midnight are the new day's: they would not join a previous day's batch.
    recycling_missing = day == today and not daily_run_done(job=BACKLOG_JOB, day=day)
    recycled = backlog_recycle_daily(now=now) + " " if recycling_missing else ""
    report = delivery_send_daily(day=day, send_now=False)
    batches = count_noun(len(report.created), "lot créé et confié", "lots créés et confiés")
    summary = f"Livraison du {day:%d/%m/%Y} : {batches} aux workers."
    daily_run_record(job=DELIVERY_JOB, day=day, message=summary)
    return recycled + summary


def daily_jobs_catch_up(*, now: datetime.datetime | None = None) -> list[str]:
    """Run the day's recycling and mailing when their time has passed and no run was recorded
    (a scheduled run lost with the broker, or beat down at that time). Returns the summaries.

    Each job is caught up on its own: a recycling lost at 09:00 runs from 09:10, in time for
    the 09:30 mailing, and still later in the day when the mailing went out without it. A
    mailing whose grace runs past midnight (23:55) is caught up the next day, as its own day's."""
    now = paris_now(now)
    today = now.date()
    delivery_at = settings_get().daily_delivery_time
    recycling_late = _overdue_day(at=backlog_time(delivery_at), now=now) == today and not daily_run_done(
        job=BACKLOG_JOB, day=today
    )
    mailing_day = _overdue_day(at=delivery_at, now=now)
    mailing_late = mailing_day is not None and not daily_run_done(job=DELIVERY_JOB, day=mailing_day)
    if not (recycling_late or mailing_late):
        return []
    guard = _CATCH_UP_GUARD.format(day=today.isoformat())
    # Held no longer than a task can run: one killed mid-run (out of memory, a deploy) would
    # otherwise hold back the next catch-ups, its own redelivered message included.
    if not cache.add(guard, 1, timeout=settings.CELERY_TASK_TIME_LIMIT + 60):
        return []  # another catch-up is running (a long recycling)
    try:
        done = []
        if recycling_late:
            done.append(backlog_recycle_daily(now=now))
        if mailing_late:
            done.append(delivery_send_daily_scheduled(now=now, day=mailing_day))
        logger.warning("daily jobs caught up at %s: %s", now, " ".join(done))
        return done
    finally:
        cache.delete(guard)


def _overdue_day(*, at: datetime.time, now: datetime.datetime) -> datetime.date | None:
    """The day whose run at `at` should have started by now (grace included) and whose grace
    ended today: today's once its time is past, or yesterday's when its grace ran past midnight."""
    for day in (now.date(), now.date() - datetime.timedelta(days=1)):
        due = datetime.datetime.combine(day, at, tzinfo=PARIS) + CATCH_UP_GRACE
        if due.date() == now.date():
            return day if now >= due else None
    return None
