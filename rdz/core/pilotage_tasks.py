"""Scheduled jobs of the Pilotage pages (beat schedules in core/migrations/0003):
the daily rollups behind the dashboard and the stats API, and the alert checks (§14).

Every job is safe to run twice: rollups are rebuilt per day, alerts open once per key.
"""

import datetime

from celery import shared_task
from django.utils import timezone

from leads.stats import rollup_refresh_recent, rollup_refresh_touched
from rdz.core.alerts import alerts_check_crm_failures, alerts_check_silence, daily_summaries_retry, daily_summary_send
from rdz.core.entities import Entity
from rdz.core.services import alert_emails_retry
from rdz.core.timeutils import paris_today

# Statuses change after reception (delivery next morning, rejection within the window):
# the frequent job rebuilds the rejection window plus a margin, the nightly one 3 months,
# and, further back, the days whose leads changed during the last day (recycled, opposed…).
RECENT_DAYS = 9
NIGHTLY_DAYS = 92


@shared_task(name="rdz.core.pilotage_tasks.rollups_refresh_recent", acks_late=True)
def rollups_refresh_recent() -> int:
    return rollup_refresh_recent(days=RECENT_DAYS)


@shared_task(name="rdz.core.pilotage_tasks.rollups_refresh_nightly", acks_late=True)
def rollups_refresh_nightly() -> int:
    count = rollup_refresh_recent(days=NIGHTLY_DAYS)
    oldest = paris_today() - datetime.timedelta(days=NIGHTLY_DAYS - 1)
    since = timezone.now() - datetime.timedelta(hours=26)  # a day, and a margin for a late run
    return count + rollup_refresh_touched(since=since, before=oldest)


@shared_task(name="rdz.core.pilotage_tasks.alerts_check", acks_late=True)
def alerts_check() -> int:
    """Opens the silence and CRM alerts; also sends the e-mails an SMTP failure held back."""
    daily_summaries_retry()  # first: a summary sent now closes its alert, which then needs no e-mail
    alert_emails_retry()
    return alerts_check_silence() + alerts_check_crm_failures()


@shared_task(name="rdz.core.pilotage_tasks.daily_summary", acks_late=True)
def daily_summary() -> int:
    return sum(1 for entity in Entity.values if daily_summary_send(entity=entity))
