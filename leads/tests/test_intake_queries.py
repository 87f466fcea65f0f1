"""The number of SQL queries of one intake is fixed (§16: intake stays fast under load).

Counted in a real transaction (`transaction=True`), as in production: BEGIN and COMMIT
count, and so does the savepoint around the client lock. If a change adds a query,
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

# key lookup with its provider, product with its extra fields (one statement each), BEGIN,
# settings, opposition list, matching commandes with their fill and duplicate flag (one
# statement), lead INSERT (with its final status) chained with its timeline INSERT (one
# statement on PostgreSQL, two on SQLite), SAVEPOINT, client lock, fill and duplicate
# re-checked under the lock (one statement), attribution INSERT, COMMIT (the savepoint is
# not released: COMMIT ends it).
SPLIT_INSERT = 0 if connection.vendor == "postgresql" else 1
ROUTED_QUERIES = 12 + SPLIT_INSERT
# key lookup, product, BEGIN, settings, opposition list, matching commandes (none),
# lead + timeline INSERT, COMMIT.
NO_ORDER_QUERIES = 8 + SPLIT_INSERT


def post(client, key, body=BODY, **headers):
    return client.post("/api/v1/leads/", body, format="json", HTTP_X_API_KEY=key, **headers)


def test_a_routed_intake_takes_a_fixed_number_of_queries(api_client, zr7_provider, product, django_assert_num_queries):
    CommandeFactory(client__entity="ZR7", product=product)
    with django_assert_num_queries(ROUTED_QUERIES):
        response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "routed"


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
    # key lookup, product, replay lookup.
    with django_assert_num_queries(3):
        again = post(api_client, zr7_provider.api_key, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 200)
