"""Scheduled jobs of the leads app."""

from celery import shared_task


@shared_task(name="leads.tasks.lead_retention_run", acks_late=True)
def lead_retention_run() -> int:
    """Anonymize leads past the retention period (§16). Safe to run twice: done leads are skipped."""
    from leads.services_rgpd import lead_retention_anonymize

    return lead_retention_anonymize()
