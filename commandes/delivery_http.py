"""HTTP POST delivery to clients with an endpoint (§10) and its circuit breaker (§16).

Each POST is an outbox row written with the attribution (commandes.services.attribution_create),
claimed by a worker with a conditional UPDATE; the endpoint gets an `Idempotency-Key`, so a
retry after a crash is recognised. Retries back off exponentially; after the last failure
(or the endpoint's refusal of the lead itself, see `lead_refused`) the lead falls back to the
daily CSV batch.
"""

import datetime
import logging
import re
import time

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from commandes.delivery import attributions_cancel_opposed, attributions_mark_delivered, backoff_base
from commandes.models import (
    HEADER_NAME_VALIDATOR,
    HEADER_VALUE_CHARS,
    Attribution,
    AttributionStatus,
    BatchStatus,
    Client,
    DeliveryChannel,
    HttpDeliveryAttempt,
    internal_address_message,
)
from commandes.rejections import rejection_link
from commandes.services import HTTP_MAX_ATTEMPTS, OUTBOX_DELIVERY_POST
from leads.models import LeadEvent
from leads.services import lead_event_add, lead_events_bulk_add
from rdz.core.http import connection_error_text, http_post_json, url_refused_address
from rdz.core.locks import BATCH_CLAIM, advisory_xact_lock
from rdz.core.models import Alert, AlertState, CircuitBreaker, CircuitState, OutboxItem
from rdz.core.outbox import outbox_bring_forward, outbox_dispatch_on_commit
from rdz.core.services import (
    alert_raise,
    alert_restate,
    backoff_seconds,
    circuit_allows,
    circuit_record_failure,
    circuit_record_success,
    circuit_reset,
    outbox_claim,
    outbox_done,
    outbox_enqueue,
    outbox_interrupted,
    outbox_postpone,
    outbox_retry_later,
)
from rdz.core.timeutils import PARIS, paris_now

logger = logging.getLogger(__name__)


CIRCUIT_PREFIX = "client-http:"
HTTP_GAVE_UP_ALERT_PREFIX = "http_repli:"


def circuit_name(client: Client) -> str:
    return f"{CIRCUIT_PREFIX}{client.pk}"


def _http_payload(attribution: Attribution) -> dict:
    lead = attribution.lead
    return {
        "id": str(lead.id),
        "attribution_id": attribution.pk,
        "entity": attribution.entity,
        "commande_id": attribution.commande_id,
        "product": attribution.product.code,
        "phone": lead.phone,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "departement": lead.departement,
        "extra": lead.extra or {},
        "is_backlog": attribution.is_backlog,
        "created_at": lead.created_at.isoformat(),
        "attributed_at": attribution.created_at.isoformat(),
        "rejection_url": rejection_link(attribution_id=attribution.pk),
    }


def idempotency_key(attribution_id: int) -> str:
    return f"rdz-attribution-{attribution_id}"


# The answers by which an endpoint refuses one lead's data rather than failing as an endpoint.
LEAD_REFUSAL_CODES = frozenset({400, 409, 413, 422})


def lead_refused(status_code: int | None) -> bool:
    """Whether the endpoint's answer refuses this lead, not the endpoint failing (§10, §16).

    Decision: 400, 409, 413 and 422 blame the lead itself (a field the client's API rejects,
    a lead it already has, a body too big for it): posting the same lead again gets the same
    answer, and the next lead may well go through. Such a refusal is not retried — the lead
    leaves for the CSV batch at once, as after the last failure — and it neither counts
    towards the client's breaker nor resets it: a few bad leads in a row must not pause a
    healthy endpoint and hold every other lead, and an answer that did not take the lead is
    no proof that the endpoint is back.

    Every other failure is the endpoint's: a 5xx, a timeout, a connection error, 401/403 (key
    revoked), 404/405/410 (route gone, a deployment under way), 408/425/429 (busy), a redirect
    (never followed). It is retried with backoff and counts towards the breaker, so an endpoint
    down or misconfigured is paused after N failures in a row and its leads wait for it.
    """
    return status_code in LEAD_REFUSAL_CODES


def delivery_post_process(*, item_id: int) -> str:
    """Claim one HTTP delivery and POST it (§10); retry with backoff, CSV fallback at the end.

    The client endpoint gets an `Idempotency-Key` header: a retry after a worker crash
    (the row's lease expired, the sweeper re-enqueued it) is recognised as the same lead.
    """
    if not OutboxItem.objects.filter(pk=item_id, kind=OUTBOX_DELIVERY_POST).exists():
        return "not_found"
    item = outbox_claim(item_id=item_id)
    if item is None:
        return "not_claimed"
    attribution = Attribution.objects.select_related("client", "lead", "product").filter(pk=int(item.ref)).first()
    if (
        attribution is None
        or attribution.status != AttributionStatus.PENDING
        or attribution.channel != DeliveryChannel.HTTP
    ):
        outbox_done(item)
        return "nothing_to_do"
    client = attribution.client
    if interrupted := outbox_interrupted(item):
        with transaction.atomic():
            outbox_retry_later(item, error=interrupted, delay_seconds=0)  # attempts spent: marks it failed
            _http_fallback(attribution=attribution, reason=f"échec définitif de l'envoi HTTP ({interrupted})")
        return "fallback"
    if not client.api_url:
        _http_fallback(attribution=attribution, reason="le client n'a plus d'URL de livraison")
        outbox_done(item)
        return "fallback"
    if attributions_cancel_opposed(qs=Attribution.objects.filter(pk=attribution.pk)):
        outbox_done(item)
        return "opposed"
    name = circuit_name(client)
    if not circuit_allows(name=name, entity=client.entity, probe_after_seconds=_probe_seconds()):
        breaker = CircuitBreaker.objects.get(name=name)
        until = breaker.next_probe_at or timezone.now() + datetime.timedelta(minutes=5)
        reason = "point d'accès en pause (disjoncteur ouvert)"
        with transaction.atomic():
            outbox_postpone(item, until=until, reason=reason)
            if item.last_error != reason:  # once per wait, not at each probe time (§16 timeline)
                lead_event_add(
                    lead=attribution.lead,
                    kind=LeadEvent.Kind.NOTE,
                    message=f"Point d'accès HTTP de {client.name} en pause (disjoncteur ouvert) : livraison en "
                    f"attente, prochain essai vers {until.astimezone(PARIS):%H:%M}",
                    data={"attribution": attribution.pk},
                )
        return "postponed"
    # A URL that resolves inside RDZ's network now, or an auth header that cannot be sent:
    # not called, and no retry can change that.
    refused = url_refused_address(client.api_url)
    unsendable = internal_address_message(refused) if refused else _auth_header_error(client)
    attempt = _http_post(attribution=attribution, client=client, unsendable=unsendable)
    if attempt.success:
        circuit_record_success(name=name, entity=client.entity)  # after a probe: the held ones go now
        with transaction.atomic():
            attributions_mark_delivered(
                qs=Attribution.objects.filter(pk=attribution.pk, status=AttributionStatus.PENDING),
                now=attempt.started_at,
                message=f"Livré par HTTP POST à {client.name} (code {attempt.status_code})",
                data={"http_attempt": attempt.pk},
            )
        outbox_done(item)
        return "delivered"
    error = attempt.error or f"HTTP {attempt.status_code}"
    refusal = lead_refused(attempt.status_code)
    if not refusal:
        circuit_record_failure(
            name=name,
            entity=client.entity,
            error=error,
            probe_after_seconds=_probe_seconds(),
            label=f"Le point d'accès HTTP du client « {client.name} »",
        )
    if refusal or unsendable:
        item.attempts = item.max_attempts  # no retry: the outbox row ends as failed
    delay = backoff_seconds(item.attempts, base=backoff_base("DELIVERY_HTTP_BACKOFF_SECONDS", 30))
    # One transaction: a row marked failed while its lead still waits for HTTP would never be picked up again.
    with transaction.atomic():
        if outbox_retry_later(item, error=error, delay_seconds=delay):
            # Until it is delivered, the lead's timeline says why it still waits (§16).
            lead_event_add(
                lead=attribution.lead,
                kind=LeadEvent.Kind.DELIVERY_FAILED,
                message=f"Tentative {item.attempts}/{item.max_attempts} de livraison HTTP à {client.name} échouée : "
                f"{error[:200]} — nouvel essai dans {delay:g} s",
                data={"attribution": attribution.pk, "http_attempt": attempt.pk},
            )
            return "retry"
        why = "lead refusé par le point d'accès" if refusal else "échec définitif de l'envoi HTTP"
        _http_fallback(attribution=attribution, reason=f"{why} ({error[:200]})")
    return "fallback"


def _probe_seconds() -> int:
    return int(getattr(settings, "DELIVERY_HTTP_PROBE_SECONDS", 300))


def _auth_header_error(client: Client) -> str:
    """French reason why the client's auth header cannot be sent as saved, '' when it can (a
    value saved before the form checked it, or written by an import)."""
    if not client.api_auth_value:
        return ""
    fix = "corrigez la fiche du client"
    try:
        HEADER_NAME_VALIDATOR(client.api_auth_header or "Authorization")
    except ValidationError as exc:
        return f"en-tête d'authentification non envoyable ({fix}) : {exc.messages[0]}"
    if bad := re.search(f"[^{HEADER_VALUE_CHARS}]", client.api_auth_value):
        char = bad.group()
        shown = f" « {char} »" if char.isprintable() else ""
        return (
            f"valeur d'authentification non envoyable ({fix}) : le caractère{shown} (U+{ord(char):04X}) "
            "ne peut pas figurer dans un en-tête HTTP"
        )
    return ""


def _http_post(*, attribution: Attribution, client: Client, unsendable: str = "") -> HttpDeliveryAttempt:
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key(attribution.pk)}
    if client.api_auth_value:
        headers[client.api_auth_header or "Authorization"] = client.api_auth_value
    started = timezone.now()
    clock = time.monotonic()
    status_code = None
    body = ""
    error = unsendable
    try:
        if not error:
            answer = http_post_json(
                client.api_url, payload=_http_payload(attribution), headers=headers, timeout=client.api_timeout_seconds
            )
            status_code = answer.status_code
            body = answer.body
            if not 200 <= status_code < 300:
                error = answer.redirect_error or f"HTTP {status_code} : {body[:200]}"
    except requests.Timeout:
        error = f"délai dépassé ({client.api_timeout_seconds} s)"
    except requests.RequestException as exc:
        error = connection_error_text(exc, url=client.api_url)
    return HttpDeliveryAttempt.objects.create(
        attribution=attribution,
        client=client,
        entity=attribution.entity,
        url=client.api_url,
        started_at=started,
        duration_ms=int((time.monotonic() - clock) * 1000),
        status_code=status_code,
        response_body=body,
        error=error,
        success=not error,
    )


@transaction.atomic
def _http_fallback(*, attribution: Attribution, reason: str) -> None:
    """The lead goes into the next CSV batch instead (§10); for a client without an e-mail
    address, the next daily run posts it again (attributions_hand_to_http)."""
    updated = Attribution.objects.filter(
        pk=attribution.pk, status=AttributionStatus.PENDING, channel=DeliveryChannel.HTTP
    ).update(channel=DeliveryChannel.CSV)
    if updated:
        client = attribution.client
        then = (
            "repli sur le CSV quotidien"
            if client.emails or not client.api_url
            else "client sans adresse e-mail : nouvel essai par HTTP à la prochaine livraison quotidienne"
        )
        lead_event_add(
            lead=attribution.lead,
            kind=LeadEvent.Kind.DELIVERY_FAILED,
            message=f"Livraison HTTP à {client.name} abandonnée : {reason} — {then}",
            data={"attribution": attribution.pk},
        )
        if client.api_url:
            _http_gave_up_alert(client=client, reason=reason)


def _http_gave_up_alert(*, client: Client, reason: str) -> None:
    """Staff hear that a lead of this client left HTTP delivery (§14): refused by the endpoint,
    out of tries, or unsendable as the client's record stands.

    Decision: one alert per client, e-mailed to its entity's recipients when it opens and kept
    open until staff close it on the Alertes page; while it is open, the next leads that give
    up e-mail nobody again, its message only says since when and what came last. Nothing is
    raised while the client's breaker is open: its pause alert already tells staff.
    """
    if CircuitBreaker.objects.filter(name=circuit_name(client), state=CircuitState.OPEN).exists():
        return
    key = f"{HTTP_GAVE_UP_ALERT_PREFIX}{client.pk}"
    now = paris_now().strftime("%d/%m/%Y à %H:%M")
    if client.emails:
        then = "part avec le prochain CSV quotidien"
        then_plural = "partent avec le prochain CSV quotidien"
    else:
        then = "repartira par HTTP à la prochaine livraison quotidienne (client sans adresse e-mail)"
        then_plural = "repartiront par HTTP à la prochaine livraison quotidienne (client sans adresse e-mail)"
    opened = alert_raise(
        entity=client.entity,
        kind="livraison_http_repli",
        key=key,
        message=f"Un lead du client « {client.name} » n'a pas pu être livré par HTTP POST le {now} et {then}. "
        f"Motif : {reason}.",
    )
    if opened is None:
        first = Alert.objects.filter(key=key, state=AlertState.OPEN).values_list("created_at", flat=True).first()
        since = paris_now(first).strftime("%d/%m/%Y à %H:%M") if first else now
        alert_restate(
            key=key,
            message=f"Des leads du client « {client.name} » n'ont pas pu être livrés par HTTP POST depuis le "
            f"{since} et {then_plural}. Dernier le {now}, motif : {reason}.",
        )


def attributions_hand_to_http(*, client: Client, day: datetime.date) -> int:
    """The leads of a client served by HTTP only, waiting for the daily CSV, are POSTed instead
    (§10, §16 no lead lost). Returns how many.

    Decision: a client with an endpoint and no e-mail address cannot receive a CSV batch. The
    leads it still has waiting for one — attributed before it moved to HTTP delivery, or
    fallen back after their POSTs failed — are handed back to HTTP at each daily run (a fresh
    series of tries, the breaker's pause respected), instead of a batch that fails every
    morning. A lead the endpoint keeps refusing thus gets one series of tries a day until the
    endpoint takes it or staff give the client an address: it waits, it is never dropped.
    """
    with transaction.atomic():
        # The claim of a batch of this client's CSV leads and this hand-over take turns.
        advisory_xact_lock(BATCH_CLAIM, client.pk)
        waiting = Attribution.objects.filter(
            client=client, status=AttributionStatus.PENDING, channel=DeliveryChannel.CSV, day__lte=day
        ).exclude(batch__status=BatchStatus.SENDING)
        rows = list(waiting.values_list("pk", "lead_id"))
        Attribution.objects.filter(pk__in=[pk for pk, _ in rows]).update(channel=DeliveryChannel.HTTP, batch=None)
        for pk, _ in rows:
            item = outbox_enqueue(
                kind=OUTBOX_DELIVERY_POST, ref=str(pk), entity=client.entity, max_attempts=HTTP_MAX_ATTEMPTS
            )
            outbox_dispatch_on_commit(item)
        message = (
            f"Aucune adresse e-mail de livraison pour {client.name} : envoi par HTTP POST au lieu du CSV quotidien"
        )
        lead_events_bulk_add(
            events=[(lead_id, LeadEvent.Kind.NOTE, message, {"attribution": pk}) for pk, lead_id in rows]
        )
    return len(rows)


def client_breaker_release(name: str) -> int:
    """What an open client breaker held, due now that it closed (a probe went through, or staff
    closed it): every HTTP delivery of that client still waiting."""
    client_id = name.removeprefix(CIRCUIT_PREFIX)
    client = Client.objects.filter(pk=int(client_id)).first() if client_id.isdigit() else None
    return 0 if client is None else _client_waiting_bring_forward(client)


def client_breaker_label(name: str) -> str:
    client_id = name.removeprefix(CIRCUIT_PREFIX)
    client = Client.objects.filter(pk=int(client_id)).first() if client_id.isdigit() else None
    return name if client is None else f"Point d'accès HTTP du client « {client.name} »"


def client_endpoint_resume(*, client: Client, actor) -> int:
    """Staff put the client's endpoint back in service: its breaker closes, and every HTTP
    delivery still waiting goes now, retries waiting on their backoff included. Returns how many."""
    with transaction.atomic():
        return circuit_reset(name=circuit_name(client), user=actor) + _client_waiting_bring_forward(client)


def _client_waiting_bring_forward(client: Client) -> int:
    refs = [
        str(pk)
        for pk in Attribution.objects.filter(
            client=client, status=AttributionStatus.PENDING, channel=DeliveryChannel.HTTP
        ).values_list("pk", flat=True)
    ]
    return outbox_bring_forward(OutboxItem.objects.filter(kind=OUTBOX_DELIVERY_POST, ref__in=refs))
