"""Dispatch of outbox rows to their Celery task, by kind.

Apps register the task that processes a kind (`outbox_register("delivery_post",
"commandes.tasks.delivery_post_run")`) in their `AppConfig.ready()`; the task takes
the outbox row id, claims it with `outbox_claim`, and is safe to run twice.
"""

import logging

from celery import current_app
from django.db import transaction
from django.utils import timezone

from rdz.core.models import OutboxItem, OutboxStatus

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, str] = {}


def outbox_register(kind: str, task_name: str) -> None:
    _REGISTRY[kind] = task_name


def outbox_registered_kinds() -> list[str]:
    return sorted(_REGISTRY)


def outbox_dispatch(item: OutboxItem, *, countdown: float | None = None) -> bool:
    """Send the row's id to its task. False if the broker is down: the sweeper retries."""
    task_name = _REGISTRY.get(item.kind)
    if task_name is None:
        logger.error("no task registered for outbox kind %s", item.kind)
        return False
    try:
        current_app.send_task(task_name, args=[item.pk], countdown=countdown)
    except Exception:  # broker outage: the row stays pending and the sweeper re-enqueues it
        logger.warning(
            "could not enqueue outbox item %s (%s); the sweeper will retry", item.pk, item.kind, exc_info=True
        )
        return False
    return True


def outbox_dispatch_on_commit(item: OutboxItem | None) -> None:
    """Enqueue after the surrounding transaction commits (never before the row exists)."""
    if item is None:
        return
    transaction.on_commit(lambda: outbox_dispatch(item))


def outbox_bring_forward(qs) -> int:
    """Make the pending rows of `qs` that wait for a later time due now, and enqueue them
    after the commit (work a breaker held). Returns how many; rows already due are the
    sweeper's and are not counted."""
    now = timezone.now()
    items = list(qs.filter(status=OutboxStatus.PENDING, next_attempt_at__gt=now))
    OutboxItem.objects.filter(pk__in=[i.pk for i in items]).update(next_attempt_at=now)
    for item in items:
        outbox_dispatch_on_commit(item)
    return len(items)
