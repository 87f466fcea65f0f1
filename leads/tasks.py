"""Scheduled jobs of the leads app."""

from celery import shared_task
from django.conf import settings


@shared_task(name="leads.tasks.lead_retention_run", acks_late=True)
def lead_retention_run() -> int:
    """Anonymize leads past the retention period (§16). Safe to run twice: done leads are skipped.

    A large backlog (the first run after a legacy import) takes longer than a task may run:
    each run stops well within its time limit and a new one carries on, until none is left.
    """
    from leads.services_rgpd import lead_retention_anonymize, lead_retention_due

    count = lead_retention_anonymize(budget_seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)
    # Only after progress: leads locked by another transaction must not make it loop.
    if count and lead_retention_due():
        lead_retention_run.apply_async()
    return count
