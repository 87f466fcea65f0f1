"""Celery tasks of CRM forwarding (§11). They take ids, re-fetch, and are safe to run twice."""

import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from leads.models import CrmStatus
from routing.crm import crm_forward_replay, crm_forward_run


@shared_task(name="routing.tasks.crm_forward_run", acks_late=True)
def crm_forward_run_task(item_id: int) -> str:
    """One attempt of the outbox row `item_id` (kind `crm_forward`)."""
    return crm_forward_run(item_id=item_id)


# A failed forwarding is tried again at most every RETRY_QUIET_HOURS, with a short budget of
# attempts per CRM: enough to catch a CRM back in service or a corrected key, without
# flooding a CRM that keeps refusing or the lead's timeline.
RETRY_QUIET_HOURS = 6
RETRY_ATTEMPTS = 2


@shared_task(name="routing.tasks.crm_retry_due", acks_late=True)
def crm_retry_due() -> int:
    """Beat (hourly): queue again the forwardings still pending or failed within the retry horizon."""
    now = timezone.now()
    return crm_forward_replay(
        created_from=now - datetime.timedelta(hours=settings.CRM_RETRY_HORIZON_HOURS),
        created_to=now,
        statuses=(CrmStatus.PENDING, CrmStatus.FAILED),
        reason="relance automatique",
        max_attempts=RETRY_ATTEMPTS,
        quiet_hours=RETRY_QUIET_HOURS,
    )
