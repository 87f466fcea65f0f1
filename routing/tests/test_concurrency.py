"""§16 concurrency: parallel intakes never overrun a quota nor duplicate a lead for a client.

Real parallelism: HTTP requests against a live server (one thread and one database
connection per request) or threads calling the service, each with its own connection.
On PostgreSQL this exercises the client row lock; on SQLite the IMMEDIATE transactions
(see rdz/settings.py) serialize the writers instead, so the tests run on both.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from commandes.models import Attribution
from leads.models import Lead, LeadEvent
from leads.services import LeadInput, lead_create
from tests.factories import CommandeFactory

pytestmark = pytest.mark.django_db(transaction=True)


class _WideBacklogServer(ThreadedWSGIServer):
    # The default listen backlog (5) resets connections when 40 clients connect at once.
    request_queue_size = 128


class _ServerThread(LiveServerThread):
    server_class = _WideBacklogServer


class _Server:
    def __init__(self, url: str):
        self.url = url


@pytest.fixture
def http_server():
    """A real threaded HTTP server (one thread and one database connection per request)."""
    thread = _ServerThread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield _Server(f"http://127.0.0.1:{thread.port}")
    thread.terminate()


def run_together(count: int, work):
    """Run `work(i)` in `count` threads released at the same instant; returns the results."""
    barrier = threading.Barrier(count)

    def task(i):
        try:
            barrier.wait(timeout=30)
            return work(i)
        finally:
            # Each thread opened its own connection: close it or the test database
            # cannot be flushed (PostgreSQL keeps idle connections with CONN_MAX_AGE).
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))


def post_lead(http_server, key: str, body: dict, **headers) -> requests.Response:
    return requests.post(
        f"{http_server.url}/api/v1/leads/",
        json=body,
        headers={"X-API-Key": key, **headers},
        timeout=60,
    )


def test_forty_parallel_requests_fill_five_places_exactly(http_server, zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=5)

    def work(i):
        body = {"phone": f"06 12 34 {i // 100:02d} {i % 100:02d}", "product": "PV", "departement": "13"}
        return post_lead(http_server, zr7_provider.api_key, body)

    responses = run_together(40, work)
    assert [r.status_code for r in responses] == [201] * 40
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses.count("routed") == 5
    assert statuses.count("no_order") == 35
    assert Attribution.objects.filter(commande=commande).count() == 5
    assert Lead.objects.count() == 40
    # Stored statuses and timelines agree with the answers (losers of the race corrected).
    assert Lead.objects.filter(status="routed", attributions__commande=commande).count() == 5
    assert Lead.objects.filter(status="no_order").count() == 35
    assert LeadEvent.objects.filter(kind="routed").count() == 5
    assert LeadEvent.objects.filter(kind="not_routed").count() == 35


def test_twenty_identical_leads_at_once_give_one_attribution_per_client(zr7_provider, product):
    first = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=100, priority=2)
    second = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=100, priority=1)

    def work(i):
        data = LeadInput(phone="+33612345678", product=product, departement="13")
        lead, _ = lead_create(data=data, provider=zr7_provider)
        return lead.status

    statuses = run_together(20, work)
    # Two clients: the phone may go once to each, never twice to one.
    assert statuses.count("routed") == 2
    assert statuses.count("duplicate") == 18
    assert Attribution.objects.filter(client=first.client).count() == 1
    assert Attribution.objects.filter(client=second.client).count() == 1
    assert Lead.objects.filter(status="duplicate").count() == 18
    assert LeadEvent.objects.filter(kind="routed").count() == 2


def test_parallel_replays_of_one_idempotency_key_make_one_lead(http_server, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product)
    body = {"phone": "0612345678", "product": "PV", "departement": "13"}

    responses = run_together(
        12, lambda i: post_lead(http_server, zr7_provider.api_key, body, **{"Idempotency-Key": "k1"})
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 11 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Lead.objects.count() == 1
    assert Attribution.objects.count() == 1


def test_one_idempotency_key_sent_at_once_for_two_people_makes_one_lead(http_server, zr7_provider, product):
    """The loser of the key's unique constraint reads the winner's lead: the same person is a
    replay (200), the other one is told its lead was not stored (422)."""
    CommandeFactory(client__entity="ZR7", product=product)
    phones = ["0612345678", "0698765432"]

    def work(i):
        body = {"phone": phones[i % 2], "product": "PV", "departement": "13"}
        return body["phone"], post_lead(http_server, zr7_provider.api_key, body, **{"Idempotency-Key": "k1"})

    results = run_together(12, work)
    assert sorted(r.status_code for _, r in results) == [200] * 5 + [201] + [422] * 6
    winner = Lead.objects.get()
    assert Attribution.objects.count() == 1
    taken = {phone for phone, r in results if r.status_code in (200, 201)}
    refused = {phone for phone, r in results if r.status_code == 422}
    assert taken == {"0" + winner.phone.removeprefix("+33")} and refused == set(phones) - taken


def test_parallel_replays_of_one_external_id_make_one_lead(zr7_provider, product):
    def work(i):
        data = LeadInput(phone="+33612345678", product=product, departement="13", external_id="ext-1")
        lead, created = lead_create(data=data, provider=zr7_provider)
        return lead.pk, created

    results = run_together(10, work)
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_recycling_runs_and_intakes_at_once_never_overrun_a_quota_nor_give_a_number_twice(zr7_provider, product):
    """Two backlog recyclings (beat and the command) and intakes on the same commandes, at the
    same instant: the quota holds, each lead is given once, and a phone reaches a client once."""
    from django.db.models import Count

    from routing.backlog import backlog_recycle
    from tests.factories import LeadFactory

    first = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=8, accepts_backlog=True)
    second = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=8, accepts_backlog=True)
    for i in range(30):
        LeadFactory(product=product, status="no_order", phone=f"+336111100{i % 6:02d}")

    def work(i):
        if i < 2:
            return backlog_recycle().recycled
        data = LeadInput(phone=f"+336111100{i % 6:02d}", product=product, departement="13")
        lead, _ = lead_create(data=data, provider=zr7_provider)
        return lead.status

    run_together(10, work)

    assert Attribution.objects.filter(commande=first).count() <= 8
    assert Attribution.objects.filter(commande=second).count() <= 8
    assert not Attribution.objects.values("lead").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not Attribution.objects.values("client", "phone").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Six numbers, two clients: each number once to each client, by recycling or intake.
    assert Attribution.objects.count() == 12
