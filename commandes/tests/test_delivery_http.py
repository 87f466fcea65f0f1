"""HTTP POST delivery (§10) and the circuit breaker (§16), against a real local HTTP server."""

import datetime
import html
import time

import pytest
from django.db import transaction
from django.utils import timezone

from commandes.delivery import delivery_send_daily
from commandes.delivery_http import circuit_name, delivery_post_process, idempotency_key
from commandes.models import Attribution, Client, DeliveryBatch, HttpDeliveryAttempt
from commandes.services import HTTP_MAX_ATTEMPTS, attribution_create
from leads.models import LeadEvent
from rdz.core.models import Alert, AlertState, AppSettings, CircuitBreaker, OutboxItem
from rdz.core.services import outbox_claim, outbox_due
from tests.factories import CommandeFactory, LeadFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.DELIVERY_HTTP_BACKOFF_SECONDS = 0  # retries are due at once


@pytest.fixture
def http_commande(http_endpoint, product):
    return CommandeFactory(
        client__entity="ZR7",
        client__api_url=http_endpoint.url,
        client__api_auth_header="X-Client-Key",
        client__api_auth_value="s3cret",
        client__api_timeout_seconds=1,
        product=product,
    )


def _attribute(commande) -> tuple[Attribution, OutboxItem]:
    lead = LeadFactory(entity=commande.entity, product=commande.product, status="routed", extra={"surface": 90})
    with transaction.atomic():
        attribution = attribution_create(lead=lead, commande=commande, now=timezone.now())
    return attribution, OutboxItem.objects.get(kind="delivery_post", ref=str(attribution.pk))


def _run_due() -> list[str]:
    """What the sweeper and the workers do: process every due HTTP delivery."""
    return [delivery_post_process(item_id=item.pk) for item in outbox_due(kinds=["delivery_post"])]


def _run_until_given_up(item: OutboxItem) -> list[str]:
    """Process the delivery, then every retry as it falls due, until it stops retrying."""
    results = [delivery_post_process(item_id=item.pk)]
    while results[-1] == "retry":
        results += _run_due()
    return results


def test_an_attribution_to_a_client_with_an_endpoint_is_posted_once_with_its_auth_header(http_endpoint, http_commande):
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "delivered"

    (request,) = http_endpoint.requests
    assert request.headers["x-client-key"] == "s3cret"
    assert request.headers["idempotency-key"] == idempotency_key(attribution.pk)
    body = request.json()
    assert body["id"] == str(attribution.lead_id)
    assert body["phone"] == attribution.lead.phone
    assert body["extra"] == {"surface": 90}
    assert body["rejection_url"].startswith("http")
    attribution.refresh_from_db()
    assert attribution.status == "delivered" and attribution.channel == "http"
    assert attribution.lead.status == "delivered"
    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert attempt.success and attempt.status_code == 200 and attempt.response_body
    assert delivery_post_process(item_id=item.pk) == "not_claimed"  # a second message is a no-op
    assert len(http_endpoint.requests) == 1


def test_a_500_is_retried_and_the_next_attempt_delivers(http_endpoint, http_commande):
    http_endpoint.script = [500]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"
    attribution.refresh_from_db()
    assert attribution.status == "pending"
    assert _run_due() == ["delivered"]

    attempts = list(HttpDeliveryAttempt.objects.filter(attribution=attribution).order_by("started_at"))
    assert [a.status_code for a in attempts] == [500, 200]
    assert http_endpoint.unique_keys() == {idempotency_key(attribution.pk)}


def test_each_failed_http_attempt_that_will_be_retried_is_told_on_the_leads_timeline(http_endpoint, http_commande):
    # §16: until it is delivered, the lead's page says why it is still waiting.
    http_endpoint.script = [503]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"

    (event,) = attribution.lead.events.filter(kind=LeadEvent.Kind.DELIVERY_FAILED)
    assert event.message.startswith(f"Tentative 1/{HTTP_MAX_ATTEMPTS} de livraison HTTP à {http_commande.client.name}")
    assert "HTTP 503" in event.message and "nouvel essai dans" in event.message
    assert event.data["attribution"] == attribution.pk
    assert _run_due() == ["delivered"]
    kinds = list(attribution.lead.events.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == [LeadEvent.Kind.DELIVERY_FAILED, LeadEvent.Kind.DELIVERED]


def test_a_timeout_is_recorded_and_retried(http_endpoint, http_commande):
    http_endpoint.script = [("slow", 2)]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"

    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert not attempt.success and "délai dépassé" in attempt.error
    assert _run_due() == ["delivered"]


def test_after_the_last_failure_the_lead_falls_back_to_the_csv_batch(http_endpoint, http_commande, entity_smtp):
    http_endpoint.default = 503
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 100})
    attribution, item = _attribute(http_commande)

    results = _run_until_given_up(item)

    assert results == ["retry"] * (HTTP_MAX_ATTEMPTS - 1) + ["fallback"]
    attribution.refresh_from_db()
    assert attribution.channel == "csv" and attribution.status == "pending"
    assert attribution.lead.events.filter(kind=LeadEvent.Kind.DELIVERY_FAILED, message__contains="repli").exists()
    delivery_send_daily()
    assert len(entity_smtp.messages) == 1
    attribution.refresh_from_db()
    assert attribution.status == "delivered"


def test_a_permanent_refusal_falls_back_to_csv_without_retrying(http_endpoint, http_commande):
    http_endpoint.script = [422]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "fallback"

    assert len(http_endpoint.requests) == 1
    attribution.refresh_from_db()
    assert attribution.channel == "csv"
    assert OutboxItem.objects.get(pk=item.pk).status == "failed"


def test_a_few_leads_refused_for_their_data_do_not_pause_a_healthy_endpoint(http_endpoint, http_commande):
    """A 400/409/413/422 refuses one lead's data, not the endpoint: counted as failures, three
    bad leads in a row paused the client and held every good lead behind them."""
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 3})
    http_endpoint.script = [422, 400, 409, 413]
    refused = [_attribute(http_commande) for _ in range(4)]

    assert [delivery_post_process(item_id=item.pk) for _, item in refused] == ["fallback"] * 4
    _, item = _attribute(http_commande)
    assert delivery_post_process(item_id=item.pk) == "delivered"

    assert len(http_endpoint.requests) == 5  # each refused lead posted once, not retried
    breaker = CircuitBreaker.objects.get(name=circuit_name(http_commande.client))
    assert breaker.state == "closed"
    assert not Alert.objects.filter(kind="circuit_ouvert").exists()
    for refused_attribution, _ in refused:
        refused_attribution.refresh_from_db()
        assert (refused_attribution.channel, refused_attribution.status) == ("csv", "pending")
    event = refused[0][0].lead.events.get(kind=LeadEvent.Kind.DELIVERY_FAILED)
    assert "lead refusé par le point d'accès (HTTP 422" in event.message


def test_a_lead_refusal_between_two_outages_neither_resets_nor_feeds_the_breaker(http_endpoint, http_commande):
    # The endpoint answered, but it did not take the lead: that is no proof it is healthy again.
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 3})
    http_endpoint.script = [500, 422, 503]
    pairs = [_attribute(http_commande) for _ in range(3)]

    assert [delivery_post_process(item_id=item.pk) for _, item in pairs] == ["retry", "fallback", "retry"]

    breaker = CircuitBreaker.objects.get(name=circuit_name(http_commande.client))
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 2)
    assert "HTTP 503" in breaker.last_error


@pytest.mark.parametrize("status", [401, 403, 404, 405, 410, 408, 429])
def test_an_answer_that_blames_the_endpoint_is_retried_and_counts_towards_its_pause(
    http_endpoint, http_commande, status
):
    # A key revoked, a route missing during the client's deployment: every lead gets the same
    # answer, so they wait for the endpoint (and its pause alert) instead of each leaving for the CSV.
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 2})
    http_endpoint.script = [status]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"

    assert CircuitBreaker.objects.get(name=circuit_name(http_commande.client)).consecutive_failures == 1
    attribution.refresh_from_db()
    assert (attribution.channel, attribution.status) == ("http", "pending")
    assert _run_due() == ["delivered"]


def test_a_redirect_is_not_followed_and_counts_as_an_endpoint_failure(http_endpoint, http_commande):
    """Followed, a 302 would come back as a GET whose 200 counted as a delivery, with the
    client's key sent wherever the redirect points. It says nothing about the lead (a
    maintenance page, a moved URL): the lead is posted again later, like after a 503."""
    elsewhere = http_endpoint.url.replace("/leads", "/ailleurs")
    http_endpoint.script = [("redirect", 302, elsewhere)]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"

    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert not attempt.success and attempt.status_code == 302
    assert f"redirection vers « {elsewhere} » non suivie" in attempt.error
    assert CircuitBreaker.objects.get(name=circuit_name(http_commande.client)).consecutive_failures == 1
    assert _run_due() == ["delivered"]
    assert [(r.method, r.path) for r in http_endpoint.requests] == [("POST", "/leads")] * 2


def test_a_huge_answer_is_read_only_up_to_what_the_log_keeps(http_endpoint, http_commande):
    http_endpoint.script = [("big", 200 * 1024 * 1024)]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "delivered"

    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert attempt.success and attempt.response_body == "x" * 2000


def test_an_answer_trickled_a_byte_at_a_time_is_a_timeout_not_a_held_worker(http_endpoint, http_commande):
    # Each byte comes well within the 1 s timeout, the whole body would take 60 s.
    http_endpoint.script = [("trickle", 200, 0.3)]
    attribution, item = _attribute(http_commande)

    started = time.monotonic()
    assert delivery_post_process(item_id=item.pk) == "retry"

    assert time.monotonic() - started < 5
    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert not attempt.success and "délai dépassé" in attempt.error
    assert Attribution.objects.get(pk=attribution.pk).status == "pending"


@pytest.mark.parametrize(
    ("where", "told"),
    [
        # OpenSSL's own words in parentheses vary with its version.
        ("self-signed", "erreur de connexion : certificat TLS du serveur refusé (self"),
        ("no tls", "erreur de connexion : échec de la négociation TLS ("),
        ("closed", "erreur de connexion : connexion refusée par le serveur"),
        ("unknown host", "erreur de connexion : nom d'hôte introuvable (nom-inconnu.invalid)"),
    ],
)
def test_why_an_endpoint_could_not_be_reached_is_told_in_french(request, http_endpoint, http_commande, where, told):
    # Staff read it in the attempt log and the pause alert: a certificate to renew is not a URL to fix.
    urls = {
        "no tls": lambda: http_endpoint.url.replace("http://", "https://"),
        "self-signed": lambda: request.getfixturevalue("https_endpoint").url,
        "unknown host": lambda: "http://nom-inconnu.invalid/leads",
    }
    if where == "closed":
        http_endpoint.stop()
    else:
        Client.objects.filter(pk=http_commande.client_id).update(api_url=urls[where]())
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "retry"

    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert not attempt.success and attempt.error.startswith(told)


def test_a_claim_lasts_past_the_tasks_hard_time_limit(settings, http_commande):
    # Until the hard limit kills a stuck worker, it may still be posting: the sweeper must
    # not hand the row to a second worker, which would post the same lead at the same time.
    settings.CELERY_TASK_TIME_LIMIT = 300
    _, item = _attribute(http_commande)

    claimed = outbox_claim(item_id=item.pk)

    assert claimed.claimed_until >= timezone.now() + datetime.timedelta(seconds=300)
    assert outbox_due(kinds=["delivery_post"]) == []


def test_a_post_interrupted_at_every_attempt_ends_in_the_csv_batch_without_posting_again(http_endpoint, http_commande):
    # Each run died during the POST (worker killed by the hard time limit): the row was
    # handed out again when its lease ran out, past its last attempt.
    attribution, item = _attribute(http_commande)
    OutboxItem.objects.filter(pk=item.pk).update(attempts=item.max_attempts)

    assert delivery_post_process(item_id=item.pk) == "fallback"

    assert http_endpoint.requests == []
    attribution.refresh_from_db()
    assert (attribution.channel, attribution.status) == ("csv", "pending")
    row = OutboxItem.objects.get(pk=item.pk)
    assert row.status == "failed" and "interrompu" in row.last_error


def test_the_circuit_opens_after_n_failures_pauses_the_endpoint_and_closes_after_a_probe(http_endpoint, http_commande):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 3})
    http_endpoint.default = 500
    pairs = [_attribute(http_commande) for _ in range(4)]

    results = [delivery_post_process(item_id=item.pk) for _, item in pairs]

    assert results == ["retry", "retry", "retry", "postponed"]
    assert len(http_endpoint.requests) == 3  # the fourth never reached the paused endpoint
    breaker = CircuitBreaker.objects.get(name=circuit_name(http_commande.client))
    assert breaker.state == "open"
    alert = Alert.objects.get(kind="circuit_ouvert", state=AlertState.OPEN)
    assert _run_due() == ["postponed"] * 3  # nothing dropped, nothing sent while paused
    assert Attribution.objects.filter(status="pending").count() == 4

    http_endpoint.default = "ok"
    # Five minutes pass: the probe time comes, for the breaker and for the paused rows.
    past = timezone.now() - datetime.timedelta(seconds=1)
    CircuitBreaker.objects.filter(pk=breaker.pk).update(next_probe_at=past)
    OutboxItem.objects.filter(kind="delivery_post", status="pending").update(next_attempt_at=past)
    first_due = outbox_due(kinds=["delivery_post"])[0]
    assert delivery_post_process(item_id=first_due.pk) == "delivered"  # the probe

    breaker.refresh_from_db()
    assert breaker.state == "closed"
    alert.refresh_from_db()
    assert alert.state == AlertState.CLEARED
    assert _run_due() == ["delivered"] * 3  # the paused work was brought forward
    assert Attribution.objects.filter(status="delivered").count() == 4


def test_a_lead_held_by_a_paused_endpoint_says_so_on_its_timeline_once(http_endpoint, http_commande):
    # §16: staff can answer « why is this lead not delivered yet? » from its page.
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.default = 500
    _attribute(http_commande)
    _run_due()
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "postponed"
    # Five minutes later the endpoint is still paused (another row's probe failed): still waiting.
    OutboxItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    assert delivery_post_process(item_id=item.pk) == "postponed"

    (event,) = attribution.lead.events.exclude(kind=LeadEvent.Kind.ROUTED)
    assert event.kind == LeadEvent.Kind.NOTE
    assert event.message.startswith(f"Point d'accès HTTP de {http_commande.client.name} en pause (disjoncteur ouvert)")
    assert "livraison en attente, prochain essai vers " in event.message
    assert event.data == {"attribution": attribution.pk}


@pytest.mark.django_db(transaction=True)
def test_at_the_probe_time_two_workers_do_not_both_probe_the_paused_endpoint(http_endpoint, http_commande):
    """Half-open lets one call through: the other paused deliveries wait for its answer."""
    import threading

    from django.db import connection

    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.default = 500
    pairs = [_attribute(http_commande) for _ in range(3)]
    assert [delivery_post_process(item_id=item.pk) for _, item in pairs] == ["retry", "postponed", "postponed"]
    calls = len(http_endpoint.requests)

    # The probe time comes: the paused rows are due at once, the endpoint is still down (and slow).
    http_endpoint.default = ("slow", 0.5, 500)
    past = timezone.now() - datetime.timedelta(seconds=1)
    CircuitBreaker.objects.filter(name=circuit_name(http_commande.client)).update(next_probe_at=past)
    OutboxItem.objects.filter(kind="delivery_post", status="pending").update(next_attempt_at=past)
    barrier = threading.Barrier(2)
    results = []

    def worker(item_id):
        try:
            barrier.wait()
            results.append(delivery_post_process(item_id=item_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(item.pk,)) for _, item in pairs[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["postponed", "retry"]
    assert len(http_endpoint.requests) == calls + 1  # one probe, not one call per paused lead
    assert Attribution.objects.filter(status="pending").count() == 3


def test_staff_resume_a_paused_endpoint_by_hand_from_the_admin(http_endpoint, http_commande, superuser, client):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.script = [500]
    _, item = _attribute(http_commande)
    delivery_post_process(item_id=item.pk)
    assert CircuitBreaker.objects.get(name=circuit_name(http_commande.client)).state == "open"
    client.force_login(superuser)

    client.post(
        "/admin/commandes/client/", {"action": "resume_endpoint", "_selected_action": [http_commande.client_id]}
    )

    assert CircuitBreaker.objects.get(name=circuit_name(http_commande.client)).state == "closed"
    assert _run_due() == ["delivered"]


def test_the_breaker_admins_resume_action_sends_the_endpoints_paused_work_now(
    http_endpoint, http_commande, zr7_staff, client
):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.script = [500]
    _, first = _attribute(http_commande)
    delivery_post_process(item_id=first.pk)
    _, paused = _attribute(http_commande)
    assert delivery_post_process(item_id=paused.pk) == "postponed"  # held until the probe, minutes away
    assert _run_due() == ["postponed"]
    breaker = CircuitBreaker.objects.get(name=circuit_name(http_commande.client))
    client.force_login(zr7_staff)

    response = client.post(
        "/admin/core/circuitbreaker/", {"action": "resume", "_selected_action": [breaker.pk]}, follow=True
    )

    assert "2 envois en pause relancés" in response.content.decode()
    assert CircuitBreaker.objects.get(pk=breaker.pk).state == "closed"
    assert sorted(_run_due()) == ["delivered", "delivered"]


def test_the_breaker_pages_name_the_paused_client_and_say_why(http_endpoint, http_commande, zr7_staff, client):
    # The pause alert sends staff to this list: « client-http:12 » did not say which client to call.
    Client.objects.filter(pk=http_commande.client_id).update(name="Soleil & Fils")
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.script = [503]
    _, item = _attribute(http_commande)
    delivery_post_process(item_id=item.pk)
    breaker = CircuitBreaker.objects.get(name=circuit_name(http_commande.client))
    client.force_login(zr7_staff)

    listing = html.unescape(client.get("/admin/core/circuitbreaker/").content.decode())
    page = html.unescape(client.get(f"/admin/core/circuitbreaker/{breaker.pk}/change/").content.decode())

    assert "Point d'accès HTTP du client « Soleil & Fils »" in listing
    assert "HTTP 503" in listing  # the last error, without opening each breaker
    assert "Point d'accès HTTP du client « Soleil & Fils »" in page


def test_putting_a_paused_endpoint_back_in_service_counts_each_waiting_delivery_once(
    http_endpoint, http_commande, zr7_staff, client, settings
):
    settings.DELIVERY_HTTP_BACKOFF_SECONDS = 60
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.script = [500]
    _, first = _attribute(http_commande)
    delivery_post_process(item_id=first.pk)  # waits on its backoff
    _, paused = _attribute(http_commande)
    assert delivery_post_process(item_id=paused.pk) == "postponed"  # waits for the probe
    client.force_login(zr7_staff)

    response = client.post("/clients/", {"client": http_commande.client_id}, follow=True)

    assert "(2 envois relancés)" in response.content.decode()
    assert CircuitBreaker.objects.get(name=circuit_name(http_commande.client)).state == "closed"
    assert sorted(_run_due()) == ["delivered", "delivered"]


def test_two_successes_at_once_close_the_breaker_and_release_its_work_once(http_endpoint, http_commande, settings):
    from rdz.core.services import circuit_record_success

    settings.DELIVERY_HTTP_BACKOFF_SECONDS = 60
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.script = [500]
    _, first = _attribute(http_commande)
    delivery_post_process(item_id=first.pk)
    name = circuit_name(http_commande.client)

    released = [circuit_record_success(name=name, entity="ZR7") for _ in range(2)]

    assert released == [1, 0]
    assert CircuitBreaker.objects.get(name=name).state == "closed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost:8000/leads",
        "http://10.1.2.3/leads",
        "http://192.168.0.10/leads",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/leads",
        "http://[::ffff:127.0.0.1]/leads",
        "http://0.0.0.0/leads",
    ],
)
def test_a_client_url_on_an_internal_address_is_refused_in_french_in_production(settings, url):
    from django.core.exceptions import ValidationError

    from commandes.models import Client

    settings.DELIVERY_PRIVATE_HOSTS_ALLOWED = False
    with pytest.raises(ValidationError) as refused:
        Client(entity="ZR7", name="Interne", api_url=url).full_clean()
    assert "Adresse interne refusée" in refused.value.message_dict["api_url"][0]

    Client(entity="ZR7", name="Public", api_url="https://93.184.216.34/leads").full_clean()
    settings.DELIVERY_PRIVATE_HOSTS_ALLOWED = True  # DEBUG (demo, tests): local endpoints allowed
    Client(entity="ZR7", name="Interne", api_url=url).full_clean()


def test_a_client_url_turned_internal_after_it_was_saved_is_not_posted_and_the_lead_goes_to_the_csv(
    settings, http_endpoint, http_commande
):
    settings.DELIVERY_PRIVATE_HOSTS_ALLOWED = False
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "fallback"  # no retry: it cannot get better

    assert http_endpoint.requests == []
    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert attempt.error.startswith("Adresse interne refusée (127.0.0.1)")
    attribution.refresh_from_db()
    assert attribution.channel == "csv" and attribution.status == "pending"


def test_an_opposed_number_is_never_posted(http_endpoint, http_commande):
    from tests.factories import OppositionEntryFactory

    attribution, item = _attribute(http_commande)
    OppositionEntryFactory(phone=attribution.phone)

    assert delivery_post_process(item_id=item.pk) == "opposed"
    assert http_endpoint.requests == []
    attribution.refresh_from_db()
    assert attribution.status == "cancelled"
    assert attribution.lead.status == "opposed"


def test_a_lead_anonymized_past_its_retention_while_it_waits_is_never_posted(http_endpoint, http_commande):
    from leads.models import Lead
    from leads.services_rgpd import lead_retention_anonymize

    attribution, item = _attribute(http_commande)
    Lead.objects.filter(pk=attribution.lead_id).update(created_at=timezone.now() - datetime.timedelta(days=4 * 366))
    assert lead_retention_anonymize() == 1

    delivery_post_process(item_id=item.pk)

    assert http_endpoint.requests == []
    attribution.refresh_from_db()
    assert attribution.status == "cancelled" and attribution.delivered_at is None


def test_a_worker_dying_between_the_last_failure_and_the_csv_fallback_does_not_lose_the_lead(
    http_endpoint, http_commande, monkeypatch
):
    """The outbox row must not be left failed while the lead still waits for HTTP: nothing
    would ever pick it up again (the sweeper only re-enqueues pending or expired rows)."""
    from django.db import DatabaseError

    from commandes import delivery_http

    http_endpoint.default = 422
    attribution, item = _attribute(http_commande)
    fallback = delivery_http._http_fallback

    def dies(**kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(delivery_http, "_http_fallback", dies)
    with pytest.raises(DatabaseError):
        delivery_post_process(item_id=item.pk)
    monkeypatch.setattr(delivery_http, "_http_fallback", fallback)

    assert OutboxItem.objects.get(pk=item.pk).status != "failed"
    # The lease runs out: the sweeper hands the row to a worker again.
    OutboxItem.objects.filter(pk=item.pk).update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    assert _run_due() == ["fallback"]
    attribution.refresh_from_db()
    assert attribution.channel == "csv" and attribution.status == "pending"
    assert OutboxItem.objects.get(pk=item.pk).status == "failed"


def test_the_pause_alert_names_the_client_not_an_internal_code(http_endpoint, http_commande):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 1})
    http_endpoint.default = 500
    _, item = _attribute(http_commande)
    assert delivery_post_process(item_id=item.pk) == "retry"
    alert = Alert.objects.get(kind="circuit_ouvert", state=AlertState.OPEN)
    assert f"« {http_commande.client.name} »" in alert.message
    assert circuit_name(http_commande.client) not in alert.message


def test_an_auth_value_no_http_header_can_carry_is_recorded_and_the_lead_goes_to_the_csv_at_once(
    http_endpoint, http_commande
):
    """Saved before the form checked it (or by an import), « € » in the value made every POST
    crash before it left: no attempt recorded, the row held until its lease ran out, five
    times, then a fallback blamed on a stopped task."""
    from commandes.models import Client

    Client.objects.filter(pk=http_commande.client_id).update(api_auth_value="Bearer jeton€2026")
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "fallback"  # no retry: it cannot get better

    assert http_endpoint.requests == []
    attempt = HttpDeliveryAttempt.objects.get(attribution=attribution)
    assert not attempt.success and "le caractère « € » (U+20AC)" in attempt.error
    attribution.refresh_from_db()
    assert attribution.channel == "csv" and attribution.status == "pending"
    assert OutboxItem.objects.get(pk=item.pk).status == "failed"


def test_a_client_moved_to_http_delivery_without_an_email_address_gets_its_waiting_csv_leads_posted(
    http_endpoint, product
):
    # The leads were waiting for the next morning's CSV when the client's addresses were
    # replaced by an endpoint: no e-mail can carry them any more.
    commande = CommandeFactory(client__entity="ZR7", product=product)
    lead = LeadFactory(entity="ZR7", product=product, status="routed")
    with transaction.atomic():
        attribution = attribution_create(lead=lead, commande=commande, now=timezone.now())
    assert attribution.channel == "csv"
    Client.objects.filter(pk=commande.client_id).update(emails=[], api_url=http_endpoint.url)

    report = delivery_send_daily()

    assert not DeliveryBatch.objects.exists()  # no e-mail that could only fail, morning after morning
    assert report.http == [commande.client_id]
    assert "par HTTP" in report.summary()
    attribution.refresh_from_db()
    assert (attribution.channel, attribution.status) == ("http", "pending")
    assert lead.events.filter(kind=LeadEvent.Kind.NOTE, message__contains="envoi par HTTP POST").exists()
    assert _run_due() == ["delivered"]
    (request,) = http_endpoint.requests
    assert request.json()["attribution_id"] == attribution.pk
    assert Attribution.objects.get(pk=attribution.pk).status == "delivered"


def test_an_http_only_clients_lead_whose_posts_failed_is_posted_again_at_the_next_daily_run(
    http_endpoint, http_commande
):
    Client.objects.filter(pk=http_commande.client_id).update(emails=[])
    http_endpoint.script = [422]
    attribution, item = _attribute(http_commande)

    assert delivery_post_process(item_id=item.pk) == "fallback"
    event = attribution.lead.events.get(kind=LeadEvent.Kind.DELIVERY_FAILED)
    # Not « repli sur le CSV quotidien »: this client receives no CSV.
    assert "sans adresse e-mail" in event.message and "prochaine livraison quotidienne" in event.message

    delivery_send_daily()

    assert not DeliveryBatch.objects.exists()
    assert _run_due() == ["delivered"]
    assert http_endpoint.unique_keys() == {idempotency_key(attribution.pk)}
    assert Attribution.objects.get(pk=attribution.pk).status == "delivered"


def test_a_client_with_an_email_address_keeps_its_fallen_back_leads_in_the_csv_batch(
    http_endpoint, http_commande, entity_smtp
):
    http_endpoint.script = [422]
    attribution, item = _attribute(http_commande)
    assert delivery_post_process(item_id=item.pk) == "fallback"

    report = delivery_send_daily()

    assert report.http == [] and len(report.sent) == 1
    assert len(http_endpoint.requests) == 1
    assert Attribution.objects.get(pk=attribution.pk).status == "delivered"


def test_the_clients_page_says_an_http_only_client_gets_no_csv(http_commande, zr7_staff, client):
    CommandeFactory(
        client__entity="ZR7", client__name="Par e-mail et HTTP", client__api_url=http_commande.client.api_url
    )
    Client.objects.filter(pk=http_commande.client_id).update(name="Par HTTP seulement", emails=[])
    client.force_login(zr7_staff)

    rows = {row.split("</td>")[0]: row for row in client.get("/clients/").content.decode().split("<tr><td>")[1:]}

    assert "HTTP POST + CSV" in rows["Par e-mail et HTTP"]
    assert "HTTP POST" in rows["Par HTTP seulement"] and "CSV" not in rows["Par HTTP seulement"]


@pytest.fixture
def alert_recipients(db):
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"alert_recipients_zr7": ["alertes@zr7.test"]})


def test_leads_that_give_up_on_http_alert_the_clients_entity_once_while_the_alert_is_open(
    http_endpoint,
    http_commande,
    alert_recipients,
    entity_smtp,
    django_capture_on_commit_callbacks,
    settings,
    client,
    zr7_staff,
):
    """Refused or out of tries without the endpoint being paused, a lead left HTTP for the CSV
    and staff only saw it in the « À livrer » count or on the lead's timeline."""
    settings.SITE_URL = "https://rdz.example"
    Client.objects.filter(pk=http_commande.client_id).update(name="Soleil & Fils")
    http_endpoint.script = [422, 400]
    pairs = [_attribute(http_commande) for _ in range(2)]

    for _, item in pairs:  # each in its worker's own transaction
        with django_capture_on_commit_callbacks(execute=True):
            assert delivery_post_process(item_id=item.pk) == "fallback"

    (alert,) = Alert.objects.filter(state=AlertState.OPEN)
    assert (alert.kind, alert.entity) == ("livraison_http_repli", "ZR7")
    assert "« Soleil & Fils »" in alert.message and "HTTP 400" in alert.message  # says what came last
    (mail,) = entity_smtp.messages  # the second lead did not e-mail again
    assert mail["To"] == "alertes@zr7.test"
    assert mail["Subject"] == "[RDZ ZR7] Alerte : Leads non livrés par HTTP"
    body = mail.get_content()
    assert "Soleil & Fils" in body and "HTTP 422" in body and "prochain CSV quotidien" in body
    assert "À faire :" in body
    log = f"https://rdz.example/admin/commandes/httpdeliveryattempt/?client__exact={http_commande.client_id}"
    assert f"{log}&success__exact=0" in body
    client.force_login(zr7_staff)
    listing = client.get(f"{log.removeprefix('https://rdz.example')}&success__exact=0")
    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 2

    # Staff closed it: the next lead that gives up tells them again.
    from rdz.core.services import alert_clear

    alert_clear(key=alert.key)
    http_endpoint.script = [409]
    _, item = _attribute(http_commande)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_post_process(item_id=item.pk) == "fallback"
    assert Alert.objects.filter(kind="livraison_http_repli", state=AlertState.OPEN).count() == 1
    assert len(entity_smtp.messages) == 2


def test_a_lead_out_of_http_tries_alerts_staff_and_says_where_it_goes_for_a_client_without_email(
    http_endpoint, http_commande, alert_recipients
):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": 100})
    Client.objects.filter(pk=http_commande.client_id).update(emails=[])
    http_endpoint.default = 503
    _, item = _attribute(http_commande)

    results = _run_until_given_up(item)

    assert results[-1] == "fallback"
    (alert,) = Alert.objects.filter(state=AlertState.OPEN)
    assert alert.kind == "livraison_http_repli" and "HTTP 503" in alert.message
    assert "par HTTP à la prochaine livraison quotidienne" in alert.message


def test_a_lead_giving_up_as_the_endpoint_is_paused_raises_only_the_pause_alert(
    http_endpoint, http_commande, alert_recipients
):
    AppSettings.objects.update_or_create(pk=1, defaults={"circuit_failure_threshold": HTTP_MAX_ATTEMPTS})
    http_endpoint.default = 503
    _, item = _attribute(http_commande)

    results = _run_until_given_up(item)

    assert results[-1] == "fallback"
    assert list(Alert.objects.filter(state=AlertState.OPEN).values_list("kind", flat=True)) == ["circuit_ouvert"]


def test_a_client_whose_endpoint_was_removed_raises_no_http_alert(http_endpoint, http_commande, alert_recipients):
    _, item = _attribute(http_commande)
    Client.objects.filter(pk=http_commande.client_id).update(api_url="")

    assert delivery_post_process(item_id=item.pk) == "fallback"

    assert not Alert.objects.exists()
