"""Celery tasks of the delivery (§10). They take ids, claim their outbox row, and are safe
to run twice; the work itself lives in commandes.delivery and routing.backlog."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="commandes.tasks.delivery_post_run", acks_late=True)
def delivery_post_run(item_id: int) -> str:
    from commandes.delivery_http import delivery_post_process

    return delivery_post_process(item_id=item_id)


@shared_task(name="commandes.tasks.delivery_batch_run", acks_late=True)
def delivery_batch_run(item_id: int) -> str:
    from commandes.delivery import delivery_batch_process

    return delivery_batch_process(item_id=item_id)


@shared_task(name="commandes.tasks.delivery_send_daily", acks_late=True)
def delivery_send_daily_run() -> str:
    """Beat, at the configured time (Paris): the day's CSV e-mails, one per client."""
    from commandes.schedules import delivery_send_daily_scheduled

    summary = delivery_send_daily_scheduled()
    logger.info(summary)
    return summary


@shared_task(name="commandes.tasks.backlog_recycle", acks_late=True)
def backlog_recycle_run() -> str:
    """Beat, before the mailing: offer the Lead Backlog to OPEN commandes accepting it."""
    from commandes.schedules import backlog_recycle_daily

    summary = backlog_recycle_daily()
    logger.info(summary)
    return summary


@shared_task(name="commandes.tasks.daily_jobs_catch_up", acks_late=True)
def daily_jobs_catch_up_run() -> list[str]:
    """Beat, every 5 minutes: the day's recycling and mailing if their scheduled run was lost."""
    from commandes.schedules import daily_jobs_catch_up

    return daily_jobs_catch_up()


@shared_task(name="commandes.tasks.commande_quota_alerts", acks_late=True)
def commande_quota_alerts_run() -> int:
    """Beat, every 5 minutes: alert once per commande and week when its quota is reached (§14)."""
    from commandes.services import commande_quota_alerts

    return len(commande_quota_alerts())
