"""Rejections (§10, §16) racing the other writers of a lead: real threads, one database
connection each. On PostgreSQL this exercises the row locks; on SQLite the IMMEDIATE
transactions serialize the writers instead, so the tests run on both."""

import datetime
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from commandes.rejections import rejection_approve, rejection_create
from commandes.tests.test_rejections import _delivered
from leads.models import Lead, LeadEvent
from tests.factories import CommandeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _until_another_transaction_waits_for_a_lock(timeout: float = 10) -> None:
    """Return once another connection waits for a row lock (PostgreSQL); SQLite has no row
    locks, so the other transaction waits to begin instead: give it a moment."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # read afresh inside the transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)


def test_approving_a_held_rejection_while_the_backlog_recycles_its_lead_answers_cleanly(
    product, zr7_staff, monkeypatch
):
    """The recycling locks the lead, then moves its aged delivery aside; the approval used to
    lock the rejection and the delivery first, then wait for the lead: a deadlock, and the
    Rejets page answered 500. Both now take the lead first: the approval waits its turn."""
    from routing import backlog

    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    delivered_at = timezone.now() - datetime.timedelta(days=40)
    attribution = _delivered(commande, at=delivered_at)
    held = rejection_create(
        attribution=attribution, reason="unreachable", by_client=True, now=delivered_at + datetime.timedelta(days=1)
    )
    assert held.status == "pending"
    CommandeFactory(product=product, client__name="Repreneur", accepts_backlog=True)
    lead_locked = threading.Event()
    route = backlog.lead_route

    def route_once_the_approval_is_under_way(**kwargs):
        lead_locked.set()
        _until_another_transaction_waits_for_a_lock()
        return route(**kwargs)

    monkeypatch.setattr(backlog, "lead_route", route_once_the_approval_is_under_way)
    outcome: dict[str, object] = {}

    def recycle():
        try:
            outcome["recycle"] = backlog.backlog_recycle()
        finally:
            connection.close()

    def approve():
        try:
            assert lead_locked.wait(30)
            outcome["approve"] = rejection_approve(rejection=held, actor=zr7_staff)
        except Exception as exc:
            outcome["approve"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=recycle), threading.Thread(target=approve)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcome["recycle"].recycled == 1 and outcome["recycle"].failed == 0
    approved = outcome["approve"]
    assert not isinstance(approved, Exception), approved
    assert approved.status == "approved"
    lead = Lead.objects.get(pk=attribution.lead_id)
    assert lead.status == "routed"  # recycled first: it stays with its new client
    event = lead.events.get(kind=LeadEvent.Kind.REJECTED)
    assert event.message.endswith("le lead reste au client qui l'a reçu depuis (attribution plus récente)")
