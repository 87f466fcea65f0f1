"""RGPD erasure (§16) racing the other writers of a lead: real threads, one database
connection each. The writers that touch a lead's attributions (rejections, backlog recycling)
lock the lead first; the erasure must take the same order or the two deadlock."""

import threading

import pytest
from django.db import connection, transaction
from django.db.models import F

from commandes.models import Attribution
from commandes.tests.test_rejection_concurrency import _until_another_transaction_waits_for_a_lock
from leads.models import Lead
from leads.services_rgpd import rgpd_erase
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_erasure_waits_for_a_writer_holding_the_lead_instead_of_deadlocking(product):
    commande = CommandeFactory(product=product)
    lead = LeadFactory(entity=commande.entity, product=product, phone="+33612345678", status="routed")
    attribution = AttributionFactory(lead=lead, commande=commande, status="pending")
    lead_locked = threading.Event()
    outcome: dict[str, object] = {}

    def writer():
        # As a rejection or the recycling does: the lead first, then its attribution.
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=lead.pk)
                lead_locked.set()
                _until_another_transaction_waits_for_a_lock()
                Attribution.objects.filter(pk=attribution.pk).update(channel=F("channel"))
            outcome["writer"] = "done"
        except Exception as exc:
            outcome["writer"] = exc
        finally:
            connection.close()

    def erase():
        try:
            assert lead_locked.wait(30)
            outcome["erase"] = rgpd_erase(phone="06 12 34 56 78")
        except Exception as exc:
            outcome["erase"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=erase)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcome["writer"] == "done", outcome["writer"]
    assert not isinstance(outcome["erase"], Exception), outcome["erase"]
    assert outcome["erase"].leads == 1
    lead.refresh_from_db()
    assert lead.anonymized_at is not None
    assert Attribution.objects.get(pk=attribution.pk).status == "cancelled"
