"""The number of SQL queries of one intake is fixed (§16: intake stays fast under load).

Counted in a real transaction (`transaction=True`), as in production: BEGIN and COMMIT
count. The product is read through its per-process cache, emptied before each test, so
the counts below include that read unless a test says otherwise. If a change adds a query,
update the count here on purpose and say why in the commit.
"""

import pytest
from django.db import connection

from rdz.core.services import settings_get
from tests.factories import CommandeFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings_record():
    # A transactional test starts from a flushed database: create the settings record
    # that production always has (data migration), so its creation is not counted.
    settings_get()


BODY = {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"}

# key lookup with its provider, product with its extra fields (one statement each),
# settings with the opposition flag and the matching commandes with their fill and
# duplicate flag (two statements, one round trip on PostgreSQL, before the transaction),
# BEGIN, SAVEPOINT + client lock + fill and duplicate re-checked under the lock (three
# statements sent together with the BEGIN, one round trip, on PostgreSQL; SQLite has no
# row lock: two), lead + timeline + attribution INSERT (one statement on PostgreSQL; three
# on SQLite), COMMIT (the savepoint is not released: COMMIT ends it). PostgreSQL: 10
# statements in 6 round trips (5 with the product cached); in production the key lookup
# is also the kept connection's health check (no `SELECT 1`, see rdz.core.fastsql.hot_reads).
POSTGRESQL = connection.vendor == "postgresql"
ROUTED_QUERIES = 10 if POSTGRESQL else 11
# key lookup, product, settings + opposition with the matching commandes (none), BEGIN,
# lead + timeline INSERT (two on SQLite), COMMIT.
NO_ORDER_QUERIES = 7 if POSTGRESQL else 8


def post(client, key, body=BODY, **headers):
    return client.post("/api/v1/leads/", body, format="json", HTTP_X_API_KEY=key, **headers)


def test_a_routed_intake_takes_a_fixed_number_of_queries(api_client, zr7_provider, product, django_assert_num_queries):
    CommandeFactory(client__entity="ZR7", product=product)
    with django_assert_num_queries(ROUTED_QUERIES):
        response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "routed"


def test_a_provider_intake_reads_before_its_transaction_and_locks_inside_it(api_client, zr7_provider, product):
    from django.test.utils import CaptureQueriesContext

    CommandeFactory(client__entity="ZR7", product=product)
    with CaptureQueriesContext(connection) as ctx:
        response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "routed"
    sql = [q["sql"] for q in ctx.captured_queries]
    begin = next(n for n, q in enumerate(sql) if q.startswith("BEGIN"))  # SQLite: BEGIN IMMEDIATE
    reads, transaction = sql[:begin], sql[begin:]
    assert any("FROM commandes_commande c" in q for q in reads)  # candidates: no lock held yet
    assert any("leads_oppositionentry" in q for q in reads)
    # The client lock (SQLite has no row locks: its savepoint and re-check) is inside.
    assert any(("FOR UPDATE" in q) if POSTGRESQL else q.startswith("SAVEPOINT") for q in transaction)
    assert any(q.startswith("WITH i0 AS (INSERT") or q.startswith("INSERT") for q in transaction)
    assert sql[-1] == "COMMIT"


def test_the_count_does_not_grow_with_the_number_of_commandes(
    api_client, zr7_provider, product, django_assert_num_queries
):
    for priority in range(5):
        CommandeFactory(client__entity="ZR7", product=product, priority=priority)
    with django_assert_num_queries(ROUTED_QUERIES):
        response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "routed"


def test_a_no_order_intake_takes_a_fixed_number_of_queries(
    api_client, zr7_provider, product, django_assert_num_queries
):
    with django_assert_num_queries(NO_ORDER_QUERIES):
        response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "no_order"


def test_replay_keys_cost_one_lookup_and_a_replay_stops_there(
    api_client, zr7_provider, product, django_assert_num_queries
):
    CommandeFactory(client__entity="ZR7", product=product)
    body = {**BODY, "external_id": "ext-1"}
    with django_assert_num_queries(ROUTED_QUERIES + 1):
        first = post(api_client, zr7_provider.api_key, body, HTTP_IDEMPOTENCY_KEY="k1")
    # key lookup, replay lookup (the product comes from the process's cache now).
    with django_assert_num_queries(2):
        again = post(api_client, zr7_provider.api_key, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 200)


def test_the_next_intakes_read_the_product_from_the_process_cache(
    api_client, zr7_provider, product, django_assert_num_queries
):
    post(api_client, zr7_provider.api_key)
    with django_assert_num_queries(NO_ORDER_QUERIES - 1):
        response = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0612345679"})
    assert response.status_code == 201


def test_a_product_saved_in_this_process_is_read_again_at_once(api_client, zr7_provider, product):
    from leads.models import ProductField

    assert post(api_client, zr7_provider.api_key).status_code == 201
    ProductField.objects.create(product=product, name="surface", label="Surface", type="integer", required=True)
    response = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0612345679"})
    assert response.status_code == 400 and "surface" in response.json()["extra"][0]
    product.active = False
    product.save()
    response = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0612345670"})
    assert response.status_code == 400 and "product" in response.json()


# Form submit, routed: the form with its product, then the product's fields (per-process
# cache, emptied before each test: two statements), settings + opposition and matching
# commandes (two statements, one round trip, before the transaction), BEGIN, double-click
# lock + recent submission (two statements sent with the BEGIN, one round trip, on
# PostgreSQL; SQLite needs no lock), SAVEPOINT + client lock + re-check (three
# statements in one round trip; two on SQLite), lead + timeline + attribution + CRM outbox
# row INSERT (one statement on PostgreSQL; four on SQLite), COMMIT. PostgreSQL: 12
# statements in 7 round trips.
FORM_QUERIES = 12 if POSTGRESQL else 13


def test_a_routed_form_submission_takes_a_fixed_number_of_queries(api_client, product, django_assert_num_queries):
    from rdz.core.models import OutboxItem
    from tests.factories import LeadFormFactory

    LeadFormFactory(code="pv-sud", entity="ZR7", product=product, allowed_origins=["https://landing.exemple.fr"])
    CommandeFactory(client__entity="ZR7", product=product)
    body = {**BODY, "visitor_id": "visitor-000001"}
    with django_assert_num_queries(FORM_QUERIES):
        response = api_client.post(
            "/api/v1/forms/pv-sud/submit/", body, format="json", HTTP_ORIGIN="https://landing.exemple.fr"
        )
    assert response.json()["status"] == "routed"
    assert OutboxItem.objects.filter(kind="crm_forward", ref=response.json()["id"], status="pending").exists()
