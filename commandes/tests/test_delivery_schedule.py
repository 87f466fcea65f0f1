"""The daily schedule (§10): 09:30 Europe/Paris all year, moved when the setting changes."""

import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django_celery_beat.models import PeriodicTask

from commandes.models import Attribution, DeliveryBatch
from commandes.schedules import (
    BACKLOG_TASK_NAME,
    DAILY_TASK_NAME,
    DELIVERY_JOB,
    backlog_recycle_daily,
    daily_jobs_catch_up,
    delivery_send_daily_scheduled,
)
from rdz.core.models import AuditLog, OutboxItem
from rdz.core.services import daily_run_record, settings_update
from rdz.core.timeutils import paris_today
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
UTC = datetime.UTC


def _next_run(task_name: str, last_run_at: datetime.datetime) -> datetime.datetime:
    """The next time beat fires the task after `last_run_at`, as celery computes it."""
    schedule = PeriodicTask.objects.get(name=task_name).crontab.schedule
    # As TzAwareCrontab.is_due does: last run in the schedule's own timezone first.
    start, delta, _ = schedule.remaining_delta(last_run_at.astimezone(schedule.tz), tz=schedule.tz)
    return (start + delta).astimezone(UTC)


@pytest.mark.parametrize(
    ("last_run_utc", "expected_utc"),
    [
        # Winter (UTC+1): 09:30 Paris is 08:30 UTC.
        (datetime.datetime(2026, 1, 14, 8, 30, tzinfo=UTC), datetime.datetime(2026, 1, 15, 8, 30, tzinfo=UTC)),
        # Spring change on Sunday 29 March 2026: Saturday in winter time, Sunday in summer time.
        (datetime.datetime(2026, 3, 28, 8, 30, tzinfo=UTC), datetime.datetime(2026, 3, 29, 7, 30, tzinfo=UTC)),
        # Summer (UTC+2): 07:30 UTC.
        (datetime.datetime(2026, 7, 1, 7, 30, tzinfo=UTC), datetime.datetime(2026, 7, 2, 7, 30, tzinfo=UTC)),
        # Autumn change on Sunday 25 October 2026: back to 08:30 UTC.
        (datetime.datetime(2026, 10, 24, 7, 30, tzinfo=UTC), datetime.datetime(2026, 10, 25, 8, 30, tzinfo=UTC)),
    ],
)
def test_the_daily_email_fires_at_0930_paris_in_winter_summer_and_across_both_dst_changes(last_run_utc, expected_utc):
    task = PeriodicTask.objects.get(name=DAILY_TASK_NAME)
    assert task.task == "commandes.tasks.delivery_send_daily" and task.enabled
    assert str(task.crontab.timezone) == "Europe/Paris"

    next_run = _next_run(DAILY_TASK_NAME, last_run_utc)

    assert next_run == expected_utc
    assert next_run.astimezone(PARIS).time() == datetime.time(9, 30)


def test_the_backlog_recycling_runs_half_an_hour_before_the_mailing():
    next_run = _next_run(BACKLOG_TASK_NAME, datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC))

    assert next_run.astimezone(PARIS) == datetime.datetime(2026, 7, 2, 9, 0, tzinfo=PARIS)


def test_changing_the_delivery_time_moves_both_schedules(django_capture_on_commit_callbacks, superuser):
    with django_capture_on_commit_callbacks(execute=True):
        settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(8, 15)})

    last = datetime.datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    assert _next_run(DAILY_TASK_NAME, last).astimezone(PARIS) == datetime.datetime(2026, 1, 15, 8, 15, tzinfo=PARIS)
    assert _next_run(BACKLOG_TASK_NAME, last).astimezone(PARIS) == datetime.datetime(2026, 1, 15, 7, 45, tzinfo=PARIS)


def _at(hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime.combine(paris_today(), datetime.time(hour, minute), tzinfo=PARIS)


def test_a_mailing_lost_with_the_broker_is_run_by_the_catch_up_once():
    """Beat marks the 09:30 run done before the broker takes it: with Redis down at that
    minute, the day's CSV would wait a day. The catch-up runs it once the time has passed."""
    attribution = AttributionFactory(status="pending", channel="csv")

    (recycled,) = daily_jobs_catch_up(now=_at(9, 35))  # the 09:00 recycling was lost too
    assert "Lead Backlog" in recycled
    assert not DeliveryBatch.objects.exists()  # the scheduled mailing may still be starting

    (done,) = daily_jobs_catch_up(now=_at(9, 45))

    assert done.startswith("Livraison du")
    batch = DeliveryBatch.objects.get(client=attribution.client, date=paris_today())
    assert OutboxItem.objects.filter(kind="delivery_batch", ref=str(batch.pk)).count() == 1
    assert daily_jobs_catch_up(now=_at(9, 50)) == []
    assert daily_jobs_catch_up(now=_at(18, 0)) == []
    assert DeliveryBatch.objects.count() == 1


def test_a_day_whose_scheduled_runs_went_through_needs_no_catch_up():
    AttributionFactory(status="pending", channel="csv")
    backlog_recycle_daily(now=_at(9, 0))
    delivery_send_daily_scheduled(now=_at(9, 30))

    assert daily_jobs_catch_up(now=_at(10, 0)) == []
    assert AuditLog.objects.filter(action="daily_run").count() == 2


def test_the_catch_up_follows_the_delivery_time_of_the_settings(superuser):
    settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(14, 0)})
    AttributionFactory(status="pending", channel="csv")

    assert daily_jobs_catch_up(now=_at(11, 0)) == []
    assert len(daily_jobs_catch_up(now=_at(14, 15))) == 2


def test_a_recycling_lost_with_the_broker_is_caught_up_in_time_for_the_mailing(product):
    """With Redis down at 09:00 only, the recycling was lost while the 09:30 mailing went out:
    the catch-up waited for a missing mailing and never ran the recycling on its own."""
    commande = CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")

    assert daily_jobs_catch_up(now=_at(9, 5)) == []  # the scheduled run may still be starting
    (done,) = daily_jobs_catch_up(now=_at(9, 10))

    assert "1 réattribué" in done
    attribution = Attribution.objects.get(lead=lead, commande=commande)
    assert daily_jobs_catch_up(now=_at(9, 20)) == []
    delivery_send_daily_scheduled(now=_at(9, 30))
    assert DeliveryBatch.objects.filter(client=commande.client, date=paris_today()).exists()
    assert attribution.day <= paris_today()
    assert daily_jobs_catch_up(now=_at(12, 0)) == []
    assert AuditLog.objects.filter(action="daily_run", object_type="recyclage du backlog").count() == 1


def test_a_recycling_lost_on_a_day_whose_mailing_went_out_still_runs_that_day(product):
    commande = CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")
    daily_run_record(job=DELIVERY_JOB, day=paris_today(), message="Livraison du jour")

    (done,) = daily_jobs_catch_up(now=_at(11, 0))

    assert "1 réattribué" in done
    assert Attribution.objects.filter(lead=lead, commande=commande).count() == 1
    assert daily_jobs_catch_up(now=_at(11, 5)) == []


def test_a_mailing_that_runs_before_the_days_recycling_recycles_first(product):
    """Beat restarted at 10:00 sends the missed 09:00 recycling and 09:30 mailing at the same
    instant (and a worker back after an outage takes both at once): the mailing left before
    the recycling, and the leads it recycled waited for the next day's e-mail."""
    commande = CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")

    summary = delivery_send_daily_scheduled(now=_at(10, 0))

    assert "1 réattribué" in summary
    attribution = Attribution.objects.get(lead=lead, commande=commande)
    batch = DeliveryBatch.objects.get(client=commande.client, date=paris_today())
    assert attribution.day <= batch.date
    backlog_recycle_daily(now=_at(10, 0))  # the scheduled recycling, taken by another worker
    assert Attribution.objects.filter(lead=lead).count() == 1
    assert daily_jobs_catch_up(now=_at(12, 0)) == []


def _next_day_at(hour: int, minute: int) -> datetime.datetime:
    return _at(hour, minute) + datetime.timedelta(days=1)


def test_a_mailing_at_2355_lost_with_the_broker_is_caught_up_after_midnight(superuser):
    """Ten minutes after 23:55 is the next day: the catch-up looked only at the new day's
    mailing, so a lost 23:55 mailing was never caught up and its leads waited a whole day."""
    settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(23, 55)})
    attribution = AttributionFactory(status="pending", channel="csv")

    assert [s for s in daily_jobs_catch_up(now=_next_day_at(0, 2)) if s.startswith("Livraison")] == []
    (done,) = [s for s in daily_jobs_catch_up(now=_next_day_at(0, 10)) if s.startswith("Livraison")]

    assert done.startswith(f"Livraison du {paris_today():%d/%m/%Y}")
    assert DeliveryBatch.objects.get(client=attribution.client).date == paris_today()
    assert daily_jobs_catch_up(now=_next_day_at(0, 15)) == []
    assert daily_jobs_catch_up(now=_next_day_at(23, 0)) == []
    assert DeliveryBatch.objects.count() == 1


def test_a_mailing_taken_after_midnight_is_the_previous_days_and_the_new_days_mailing_still_goes():
    """A 09:30 mailing that runs after midnight (workers down all evening, or beat restarted
    in the night fires the missed run) counted as the new day's: the new day's 09:30 mailing
    then found its batches sent, and the leads of that morning waited another day."""
    yesterday_lead = AttributionFactory(status="pending", channel="csv")
    client = yesterday_lead.client

    delivery_send_daily_scheduled(now=_next_day_at(0, 30))

    assert DeliveryBatch.objects.get(client=client).date == paris_today()
    tomorrow = paris_today() + datetime.timedelta(days=1)
    AttributionFactory(status="pending", channel="csv", commande__client=client, day=tomorrow)
    delivery_send_daily_scheduled(now=_next_day_at(9, 30))
    assert DeliveryBatch.objects.filter(client=client, date=tomorrow).exists()
    assert daily_jobs_catch_up(now=_next_day_at(12, 0)) == []


def test_a_catch_up_killed_mid_run_holds_the_next_ones_back_no_longer_than_a_task_can_run(settings):
    """A catch-up killed mid-run (out of memory, a deploy) leaves its guard behind: for 30
    minutes every later catch-up, its own redelivered message included, did nothing, and a
    lost mailing waited that long. Past the hard time limit the holder is surely dead."""
    AttributionFactory(status="pending", channel="csv")

    with mock.patch("commandes.schedules.cache.add", wraps=cache.add) as guard:
        assert daily_jobs_catch_up(now=_at(9, 45))

    assert guard.call_args.kwargs["timeout"] <= settings.CELERY_TASK_TIME_LIMIT + 60


def test_the_scheduled_mailing_summary_counts_in_french(product):
    """« 1 lot(s) créé(s) et confié(s) aux workers » in the daily run record."""
    commande = CommandeFactory(product=product)
    AttributionFactory(commande=commande)

    summary = delivery_send_daily_scheduled(now=_at(9, 30))

    assert summary.endswith(f"Livraison du {paris_today():%d/%m/%Y} : 1 lot créé et confié aux workers.")
