"""A broker that stops answering must never hold a request: the outbox row waits (§16)."""

import os
import socket
import threading
import time

import pytest
from celery import Celery

from rdz.core.models import OutboxItem
from rdz.core.services import outbox_due
from tests.factories import CommandeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def silent_broker():
    """A Redis address that accepts connections and never answers (a hung Redis, a half-open
    network path): the case a refused connection does not cover."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    def release() -> None:  # a caller still blocked on the broker gets EOF, so a failing test ends
        stop.set()
        for conn in accepted:
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    # Whatever happens, the silence ends after half a minute.
    timer = threading.Timer(30, release)
    timer.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    timer.cancel()
    release()
    thread.join(5)
    server.close()


@pytest.fixture
def app_on_silent_broker(silent_broker, monkeypatch, settings):
    if settings.BROKER_IS_FILESYSTEM:
        if os.environ.get("CI") == "true":
            pytest.fail("CELERY_BROKER_URL must be Redis in CI")
        pytest.skip("needs the Redis broker settings (CELERY_BROKER_URL=redis://…)")
    monkeypatch.setenv("CELERY_BROKER_URL", silent_broker)  # Celery reads it over any setting
    settings.CELERY_BROKER_URL = silent_broker
    app = Celery("rdz-silent-broker", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")  # the project's broker options
    monkeypatch.setattr("rdz.core.outbox.current_app", app)
    yield app
    app.close()


def test_a_hung_broker_does_not_hold_the_intake_the_lead_is_answered_and_its_post_waits_for_the_sweeper(
    app_on_silent_broker, api_client, zr7_provider, product, django_capture_on_commit_callbacks
):
    CommandeFactory(client__entity="ZR7", client__api_url="http://127.0.0.1:9/hook", product=product)

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):  # the POST is enqueued after commit
        response = api_client.post(
            "/api/v1/leads/",
            {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"},
            format="json",
            HTTP_X_API_KEY=zr7_provider.api_key,
        )
    elapsed = time.monotonic() - started

    assert elapsed < 15, f"the request waited {elapsed:.0f} s for the broker"
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "routed"
    item = OutboxItem.objects.get(kind="delivery_post")
    assert item.status == "pending"
    assert [due.pk for due in outbox_due(kinds=["delivery_post"])] == [item.pk]  # the sweeper sends it later
