"""A real Celery worker on the real broker: a worker killed mid-delivery loses nothing (§16)."""

import datetime
import re
import time

import pytest
from django.db import transaction
from django.utils import timezone

from commandes.delivery_http import idempotency_key
from commandes.models import Attribution, DeliveryBatch, HttpDeliveryAttempt
from commandes.services import attribution_create
from commandes.tasks import daily_jobs_catch_up_run, delivery_send_daily_run
from leads.models import Lead, LeadEvent
from rdz.core.models import OutboxItem
from rdz.core.services import settings_update
from rdz.core.tasks import outbox_sweep
from rdz.core.timeutils import paris_now
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory, ProductFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _restart_mailing_to(celery_worker, smtp_server) -> None:
    """Restart the worker so that ZR7's e-mails go to the local SMTP server."""
    celery_worker.stop()
    celery_worker.extra_env = {
        "ZR7_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "ZR7_EMAIL_FROM": "livraison@zr7.test",
    }
    celery_worker.start()


def _wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_worker_killed_mid_post_is_restarted_and_the_lead_is_delivered_exactly_once(celery_worker, http_endpoint):
    http_endpoint.script = [("slow", 5)]  # the first POST hangs: the worker dies during it
    commande = CommandeFactory(
        client__api_url=http_endpoint.url, client__api_timeout_seconds=10, product=ProductFactory(code="PV")
    )
    lead = LeadFactory(status="routed")
    with transaction.atomic():  # as in intake: the POST is enqueued after commit
        attribution = attribution_create(lead=lead, commande=commande, now=timezone.now())

    assert http_endpoint.received.wait(30), celery_worker.log()
    celery_worker.kill()
    item = OutboxItem.objects.get(kind="delivery_post", ref=str(attribution.pk))
    assert item.status == "running"
    # The claim's lease would run out after its timeout; fast-forward instead of waiting.
    OutboxItem.objects.filter(pk=item.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))

    celery_worker.start()
    outbox_sweep()  # what beat runs every minute

    assert _wait_for(lambda: Attribution.objects.get(pk=attribution.pk).status == "delivered"), celery_worker.log()
    assert http_endpoint.unique_keys() == {idempotency_key(attribution.pk)}
    assert HttpDeliveryAttempt.objects.filter(attribution=attribution, success=True).count() == 1
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.DELIVERED).count() == 1
    assert OutboxItem.objects.get(pk=item.pk).status == "done"


def test_the_scheduled_daily_task_hands_each_batch_to_the_worker_which_emails_it(celery_worker, smtp_server, superuser):
    # A run before its time of day is the previous day's (taken late): this one is today's.
    settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(0, 0)})
    _restart_mailing_to(celery_worker, smtp_server)
    commande = CommandeFactory(client__entity="ZR7", product=ProductFactory(code="PV"))
    lead = LeadFactory(status="routed")
    attribution = AttributionFactory(lead=lead, commande=commande)

    delivery_send_daily_run()  # what beat triggers at the delivery time (Paris)

    assert _wait_for(lambda: Attribution.objects.get(pk=attribution.pk).status == "delivered"), celery_worker.log()
    (message,) = smtp_server.messages
    assert message["From"] == "livraison@zr7.test"
    assert commande.client.emails[0] in message["To"]
    assert DeliveryBatch.objects.get(client=commande.client).status == "sent"


def test_a_worker_killed_mid_email_is_restarted_and_the_batch_is_emailed_exactly_once(
    celery_worker, smtp_server, superuser
):
    settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(0, 0)})
    _restart_mailing_to(celery_worker, smtp_server)
    smtp_server.stall_seconds = 5  # the first e-mail hangs: the worker dies during it
    attribution = AttributionFactory(commande=CommandeFactory(client__entity="ZR7"), lead=LeadFactory(status="routed"))

    delivery_send_daily_run()  # what beat triggers at the delivery time (Paris)

    assert smtp_server.stalled.wait(30), celery_worker.log()
    celery_worker.kill()
    batch = DeliveryBatch.objects.get(client=attribution.client)
    item = OutboxItem.objects.get(kind="delivery_batch", ref=str(batch.pk))
    assert (batch.status, item.status) == ("sending", "running")
    # The claim's lease would run out after its timeout; fast-forward instead of waiting.
    OutboxItem.objects.filter(pk=item.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))

    celery_worker.start()
    outbox_sweep()  # what beat runs every minute

    assert _wait_for(lambda: Attribution.objects.get(pk=attribution.pk).status == "delivered"), celery_worker.log()
    time.sleep(1)  # a second e-mail would have arrived by now
    assert len(smtp_server.messages) == 1
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.count) == ("sent", 2, 1)
    assert OutboxItem.objects.get(pk=item.pk).status == "done"
    assert LeadEvent.objects.filter(lead=attribution.lead, kind=LeadEvent.Kind.DELIVERED).count() == 1


def test_a_catch_up_whose_backlog_recycling_runs_long_still_hands_out_the_days_mailing(celery_worker, superuser):
    """The catch-up recycles the backlog, then hands out the mailing, in one task: a recycling
    cut by the time limit took the mailing with it, and so every 5 minutes, all day."""
    if paris_now().time() < datetime.time(0, 11):
        pytest.skip("the catch-up waits 10 minutes after the delivery time (00:00 here)")
    celery_worker.stop()
    celery_worker.pool = "prefork"  # the solo pool enforces no time limit
    celery_worker.extra_env = {"CELERY_TASK_SOFT_TIME_LIMIT": "2", "CELERY_TASK_TIME_LIMIT": "4"}
    celery_worker.start()
    settings_update(user=superuser, changes={"daily_delivery_time": datetime.time(0, 0)})
    product = ProductFactory(code="PV")
    full = CommandeFactory(product=product, accepts_backlog=True, weekly_quota=1)
    AttributionFactory(commande=full, lead=LeadFactory(product=product, status="routed"))  # its week is full
    Lead.objects.bulk_create(  # a backlog it covers: each one examined, none taken
        Lead(entity="ZR7", product=product, phone=f"+3361{n:07d}", departement="13", source="t", status="no_order")
        for n in range(1500)
    )
    waiting = AttributionFactory(commande=CommandeFactory(product=product), lead=LeadFactory(product=product))

    daily_jobs_catch_up_run.delay()  # what beat sends every 5 minutes

    ended = re.compile(r"daily_jobs_catch_up\[[\w-]+\] (succeeded|raised)")
    assert _wait_for(lambda: ended.search(celery_worker.log()), 60), celery_worker.log()
    log = celery_worker.log()
    assert "SoftTimeLimitExceeded" not in log and "arrêt à la limite de temps" in log, log
    assert DeliveryBatch.objects.filter(client=waiting.client).exists(), log
