"""The beat schedules (§16): what beat sends while no worker takes it does not pile up."""

import datetime
import re
import time

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from rdz.celery import app

# Jobs beat sends again within the hour: a message older than this is dropped by the worker,
# the next one (or the one after) does the same work.
FREQUENT = {
    "rdz.core.tasks.outbox_sweep": 5 * 60,
    "commandes.tasks.daily_jobs_catch_up": 10 * 60,
    "commandes.tasks.commande_quota_alerts": 10 * 60,
    "rdz.core.pilotage_tasks.rollups_refresh_recent": 10 * 60,
    "rdz.core.pilotage_tasks.alerts_check": 20 * 60,
    "routing.tasks.crm_retry_due": 60 * 60,
    "rdz.core.pilotage_tasks.daily_summary": 60 * 60,  # 08:00, then hourly catch-ups
}


def _entry(task: str) -> ModelEntry:
    return ModelEntry(PeriodicTask.objects.get(task=task), app=app)


@pytest.mark.django_db
def test_a_frequent_jobs_message_expires_and_a_daily_jobs_message_never_does():
    """A worker back after hours away would otherwise run every sweep, rollup and check beat
    sent meanwhile (600 sweeps after ten hours, each re-sending up to 500 rows) before the
    new leads' deliveries."""
    for task, seconds in FREQUENT.items():
        assert _entry(task).options.get("expires") == seconds, task
    daily = PeriodicTask.objects.exclude(task__in=FREQUENT).exclude(task="celery.backend_cleanup")
    assert daily.count() == 4
    for periodic in daily:
        # Once a day: late is better than never (the mailing's catch-up reads its audit row).
        assert "expires" not in _entry(periodic.task).options, periodic.task


def _beat_send(task: str, *, sent_at: datetime.datetime) -> None:
    """What beat sends for `task` (expiry as checked above), as if at `sent_at`."""
    app.send_task(task, expires=sent_at + datetime.timedelta(seconds=FREQUENT[task]))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_back_after_an_outage_runs_the_sweeper_once_not_once_per_missed_minute(celery_worker):
    celery_worker.stop()  # the outage: beat keeps sending the sweeper every minute
    now = timezone.now()
    for minutes_ago in range(30, 0, -1):
        _beat_send("rdz.core.tasks.outbox_sweep", sent_at=now - datetime.timedelta(minutes=minutes_ago))

    celery_worker.start()

    def taken() -> tuple[int, int]:
        log = celery_worker.log()
        return (
            len(re.findall(r"outbox_sweep\[[\w-]+\] succeeded", log)),
            log.count("Discarding revoked task: rdz.core.tasks.outbox_sweep["),
        )

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(taken()) < 30:
        time.sleep(0.2)
    ran, dropped = taken()
    assert ran + dropped == 30, celery_worker.log()
    # The sweeps of the last few minutes run (one would do); the older ones are dropped.
    assert 1 <= ran <= 5, celery_worker.log()
