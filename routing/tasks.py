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


@shared_task(name="routing.tasks.crm_retry_due", acks_late=True)
def crm_retry_due() -> int:
    """Beat: queue again the forwardings still pending or failed within the retry horizon."""
    now = timezone.now()
    return crm_forward_replay(
        created_from=now - datetime.timedelta(hours=settings.CRM_RETRY_HORIZON_HOURS),
        created_to=now,
        statuses=(CrmStatus.PENDING, CrmStatus.FAILED),
        reason="relance automatique",
    )
