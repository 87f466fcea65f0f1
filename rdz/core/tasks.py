from celery import shared_task

from rdz.core.outbox import outbox_dispatch, outbox_registered_kinds
from rdz.core.services import outbox_due


@shared_task(name="rdz.core.tasks.outbox_sweep", acks_late=True)
def outbox_sweep() -> int:
    """Every minute (beat): re-enqueue outbox rows left pending or stuck running (§16)."""
    count = 0
    for item in outbox_due(kinds=outbox_registered_kinds()):
        if outbox_dispatch(item):
            count += 1
    return count
