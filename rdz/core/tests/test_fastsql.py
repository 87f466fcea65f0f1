"""`rows_insert` stores exactly what `save()` stores, for the models that use it."""

import datetime
import uuid

import pytest
from django.db.models import signals

from commandes.models import Attribution
from leads.models import Lead, LeadEvent
from rdz.core.fastsql import rows_insert
from rdz.core.models import OutboxItem
from tests.factories import CommandeFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_the_models_written_with_plain_inserts_have_no_signal_receivers():
    # rows_insert sends no pre_save/post_save: a receiver added later would be skipped.
    for model in (Lead, LeadEvent, Attribution, OutboxItem):
        for signal in (signals.pre_save, signals.post_save):
            assert not signal.has_listeners(model), f"{signal} on {model.__name__}"


def test_a_lead_and_its_events_read_back_as_the_orm_would_store_them():
    product = ProductFactory()
    now = datetime.datetime(2026, 3, 9, 8, 30, 15, 123456, tzinfo=datetime.UTC)
    lead = Lead(
        entity="ZR7",
        product=product,
        phone="+33612345678",
        departement="2A",
        first_name="Zoé 🌞",
        last_name="Ñúñez",
        extra={"surface": 40, "toit": "tuiles", "nested": {"a": [1, 2]}},
        ip="2001:db8::1",
        consent=True,
        consent_at=now,
        created_at=now,
        status="no_order",
    )
    rows_insert([lead])
    events = [
        LeadEvent(lead=lead, kind="received", message="Reçu « test »", data={"ip": None}, created_at=now),
        LeadEvent(lead=lead, kind="validated", message="Validé", created_at=now),
    ]
    rows_insert(events)
    assert all(e.pk for e in events) and events[0].pk != events[1].pk
    stored = Lead.objects.get(pk=lead.pk)
    assert isinstance(stored.pk, uuid.UUID)
    assert (stored.first_name, stored.last_name, stored.departement) == ("Zoé 🌞", "Ñúñez", "2A")
    assert stored.extra == {"surface": 40, "toit": "tuiles", "nested": {"a": [1, 2]}}
    assert stored.created_at == now and stored.consent_at == now and stored.consent is True
    assert stored.ip == "2001:db8::1"
    assert (stored.status, stored.crm_status, stored.crm_attempts) == ("no_order", "", 0)  # defaults applied
    assert list(stored.events.order_by("pk").values_list("kind", "message", "data")) == [
        ("received", "Reçu « test »", {"ip": None}),
        ("validated", "Validé", {}),
    ]


def _attribution(lead: Lead, commande, **fields) -> Attribution:
    """An unsaved attribution of `lead` to `commande` on Tuesday 10 March 2026."""
    return Attribution(
        lead=lead,
        commande=commande,
        client_id=commande.client_id,
        entity=commande.entity,
        phone=lead.phone,
        product_id=lead.product_id,
        week_start=datetime.date(2026, 3, 9),
        day=datetime.date(2026, 3, 10),
        **fields,
    )


def test_an_attribution_gets_its_auto_primary_key():
    commande = CommandeFactory()
    lead = Lead(entity="ZR7", product=commande.product, phone="+33612345679", departement="13", status="routed")
    rows_insert([lead])
    attribution = _attribution(lead, commande, explanation={"status": "routed", "commandes": []})
    rows_insert([attribution])
    stored = Attribution.objects.get(pk=attribution.pk)
    assert stored.lead_id == lead.pk and stored.explanation == {"status": "routed", "commandes": []}
    assert stored.status == "pending" and stored.counts_for_quota is True


def test_chained_groups_are_one_statement_and_every_group_gets_its_keys(django_assert_num_queries):
    from django.db import connection

    commande = CommandeFactory()
    now = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=datetime.UTC)
    lead = Lead(entity="ZR7", product=commande.product, phone="+33612345670", departement="13", status="routed")
    events = [LeadEvent(lead=lead, kind=kind, message=kind, created_at=now) for kind in ("received", "routed")]
    attribution = _attribution(lead, commande, created_at=now)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
        rows_insert([lead], events, [attribution])
    assert [e.pk for e in events] == list(lead.events.order_by("pk").values_list("pk", flat=True))
    assert list(lead.events.order_by("pk").values_list("kind", flat=True)) == ["received", "routed"]
    assert Attribution.objects.get(pk=attribution.pk).lead_id == lead.pk


def _prepared_statements() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


def test_hot_statements_are_prepared_on_postgresql_and_still_logged(settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads.selectors import phone_is_opposed, product_fields

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL feature")
    before = _prepared_statements()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            assert phone_is_opposed(phone="+33600000001") is False
    assert len(ctx.captured_queries) == 3
    assert _prepared_statements() == before + 1

    settings.DB_PREPARED_STATEMENTS = False  # behind a transaction-mode pooler
    for _ in range(3):
        assert product_fields(product_id=0) == []
    assert _prepared_statements() == before + 1


def test_a_second_live_outbox_row_is_refused_and_the_transaction_stays_usable():
    from django.db import transaction

    from rdz.core.services import outbox_enqueue

    with transaction.atomic():
        first = outbox_enqueue(kind="crm_forward", ref="lead-1", entity="ZR7")
        assert first is not None and first.pk
        assert outbox_enqueue(kind="crm_forward", ref="lead-1", entity="ZR7") is None
        # No aborted transaction: the next statement runs.
        assert OutboxItem.objects.filter(ref="lead-1").count() == 1
    OutboxItem.objects.filter(pk=first.pk).update(status="done")
    again = outbox_enqueue(kind="crm_forward", ref="lead-1", entity="ZR7")  # the earlier one is finished
    assert again is not None and again.pk != first.pk


def test_psycopg_keeps_the_conversion_of_the_chained_insert():
    # The intake's chained INSERT has ~70 parameters: above psycopg's own bound, its
    # placeholders would be parsed again on every call (see fastsql).
    from psycopg import _queries

    from rdz.core.fastsql import HOT_STATEMENT_MAX_PARAMS

    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= HOT_STATEMENT_MAX_PARAMS
