"""CRM forwarding of form leads with fallback (§11, §16).

After the intake commits, an outbox row `crm_forward` (ref = lead id) is claimed by
`routing.tasks.crm_forward_run`, which makes one HTTP attempt to the lead's current CRM:

- 2xx → `sent` (or `fallback_sent` on the other CRM);
- 5xx, 429, timeout, connection error → retried with exponential backoff, up to
  CRM_MAX_ATTEMPTS per CRM; each failure counts on the CRM's circuit breaker;
- 401/403 (invalid key), another 4xx, a missing URL or key, or the last transient failure
  → fallback to the other CRM with its key from the settings record (§8), only if the lead
  is not entity-locked and cross-entity is ON in that direction; otherwise `failed`.

The lead id travels as `Idempotency-Key`, so a retry after a timeout (the CRM may have
stored the first call) never creates a second record. Every attempt is logged in
CrmAttempt and every step in the lead's timeline.
"""

import dataclasses
import datetime
import logging
import time

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leads.models import CrmStatus, Lead, LeadEvent, OppositionEntry
from leads.selectors import crm_failed_count, phone_is_opposed
from leads.services_forms import lead_crm_forwardable, lead_crm_state_set
from rdz.core.alerts import crm_failures_message
from rdz.core.entities import other_entity
from rdz.core.http import connection_error_text, http_post_json
from rdz.core.models import CircuitBreaker, OutboxItem, OutboxStatus
from rdz.core.outbox import outbox_bring_forward, outbox_dispatch, outbox_dispatch_on_commit
from rdz.core.services import (
    alert_raise,
    backoff_seconds,
    circuit_allows,
    circuit_record_failure,
    circuit_record_success,
    outbox_claim,
    outbox_done,
    outbox_enqueue,
    outbox_interrupted,
    outbox_postpone,
    outbox_retry_later,
    settings_get,
)
from routing.models import CrmAttempt, CrmOutcome, CrmPhase

logger = logging.getLogger(__name__)

CRM_FORWARD_KIND = "crm_forward"

# RDZ field → CRM field. CRM_<ENTITY>_FIELD_MAP (settings) is merged over these; a field
# mapped to "" is not sent.
DEFAULT_FIELD_MAPS: dict[str, dict[str, str]] = {
    "ZR7": {
        "id": "rdz_id",
        "phone": "telephone",
        "first_name": "prenom",
        "last_name": "nom",
        "email": "email",
        "departement": "departement",
        "product": "produit",
        "source": "source",
        "form": "formulaire",
        "variant": "variante",
        "consent": "consentement",
        "consent_at": "consentement_le",
        "consent_page_url": "consentement_page",
        "created_at": "date_creation",
        "extra": "informations",
    },
    "MDL": {
        "id": "external_ref",
        "phone": "phone",
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "departement": "departement",
        "product": "product_code",
        "source": "origin",
        "form": "form_code",
        "variant": "ab_variant",
        "consent": "optin",
        "consent_at": "optin_at",
        "consent_page_url": "optin_page",
        "created_at": "created_at",
        "extra": "details",
    },
}


@dataclasses.dataclass
class CrmConnector:
    entity: str
    url: str
    auth_header: str
    timeout: float
    field_map: dict[str, str]

    @classmethod
    def for_entity(cls, entity: str) -> "CrmConnector":
        conf = settings.CRM_CONNECTORS.get(entity, {})
        field_map = {**DEFAULT_FIELD_MAPS[entity], **(conf.get("field_map") or {})}
        return cls(
            entity=entity,
            url=conf.get("url", ""),
            auth_header=conf.get("auth_header") or settings.CRM_AUTH_HEADER,
            timeout=float(conf.get("timeout") or settings.CRM_TIMEOUT),
            field_map=field_map,
        )

    def payload(self, lead: Lead) -> dict:
        values = {
            "id": str(lead.id),
            "phone": lead.phone,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "email": lead.email,
            "departement": lead.departement,
            "product": lead.product.code,
            "source": lead.source,
            "form": lead.form.code if lead.form_id else "",
            "variant": lead.variant,
            "consent": lead.consent,
            "consent_at": lead.consent_at.isoformat() if lead.consent_at else None,
            "consent_page_url": lead.consent_page_url,
            "created_at": lead.created_at.isoformat(),
            "extra": lead.extra,
        }
        return {self.field_map.get(k, k): v for k, v in values.items() if self.field_map.get(k, k)}


@dataclasses.dataclass
class CrmResult:
    outcome: str
    status_code: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: int = 0

    def describe(self) -> str:
        if self.error:
            return self.error
        return f"HTTP {self.status_code}"


def crm_post(*, connector: CrmConnector, lead: Lead, key: str, payload: dict) -> CrmResult:
    """One HTTP call; classifies the answer. Never raises for network errors."""
    headers = {
        connector.auth_header: key,
        "Idempotency-Key": str(lead.id),
        "Content-Type": "application/json",
        "User-Agent": "RDZ-CRM-Forwarder/1.0",
    }
    started = time.monotonic()
    try:
        answer = http_post_json(connector.url, payload=payload, headers=headers, timeout=connector.timeout)
    except requests.Timeout:
        return CrmResult(
            CrmOutcome.TRANSIENT,
            error=f"délai dépassé ({connector.timeout:g} s)",
            duration_ms=_ms(started),
        )
    except requests.RequestException as exc:
        return CrmResult(CrmOutcome.TRANSIENT, error=connection_error_text(exc, url=None), duration_ms=_ms(started))
    code = answer.status_code
    if 200 <= code < 300:
        outcome = CrmOutcome.SENT
    elif code in (401, 403):
        outcome = CrmOutcome.AUTH
    elif code >= 500 or code in (408, 425, 429):
        outcome = CrmOutcome.TRANSIENT
    else:
        outcome = CrmOutcome.REFUSED
    return CrmResult(outcome, status_code=code, body=answer.body, error=answer.redirect_error, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


CIRCUIT_PREFIX = "crm:"


def _breaker(entity: str) -> str:
    return f"{CIRCUIT_PREFIX}{entity}"


def _paused_reason(target: str) -> str:
    return f"CRM {target} en pause (disjoncteur ouvert)"


def crm_breaker_release(name: str) -> int:
    """What an open CRM breaker held, due now that it closed (a probe went through, or staff
    closed it): the forwardings it postponed to its probe time. Returns how many."""
    target = name.removeprefix(CIRCUIT_PREFIX)
    return outbox_bring_forward(
        OutboxItem.objects.filter(
            kind=CRM_FORWARD_KIND, last_error=_paused_reason(target), next_attempt_at__gt=timezone.now()
        )
    )


# --- Enqueue -----------------------------------------------------------------------------
def crm_forward_new_item(lead: Lead) -> OutboxItem | None:
    """The outbox row forwarding a new form lead, for the caller to write with the lead
    itself (form submit: `lead_create(with_rows=…)`), or None when the lead is not forwarded
    (opposed number). The lead is inserted pending for its form's CRM. Then call
    `crm_forward_queued`."""
    if not lead_crm_forwardable(lead):
        return None
    return OutboxItem(
        kind=CRM_FORWARD_KIND,
        ref=str(lead.pk),
        entity=lead.entity,
        max_attempts=settings.CRM_MAX_ATTEMPTS,
        next_attempt_at=timezone.now(),
    )


def crm_forward_queued(*, lead: Lead, item: OutboxItem | None) -> None:
    """After the lead and `crm_forward_new_item`'s row were written: send it after commit,
    or say on the timeline why the lead is not forwarded."""
    if item is None:
        _not_forwarded_note(lead)
        return
    outbox_dispatch_on_commit(item)


def _not_forwarded_note(lead: Lead) -> None:
    lead_crm_state_set(
        lead=lead, event_kind=LeadEvent.Kind.NOTE, message="Non transmis au CRM : numéro sur la liste d'opposition"
    )


def crm_forward_requeue(*, lead: Lead, reason: str = "", max_attempts: int | None = None) -> bool:
    """Queue the forwarding of a form lead again, from its form's target CRM (replay of a
    failure; call inside a transaction). `max_attempts` per CRM defaults to
    CRM_MAX_ATTEMPTS. Returns False when nothing was queued (not a form lead, opposed
    number, already queued). A new lead is queued by `crm_forward_new_item`.
    """
    if not lead_crm_forwardable(lead):
        if lead.form_id is not None:
            _not_forwarded_note(lead)
        return False
    item = outbox_enqueue(
        kind=CRM_FORWARD_KIND,
        ref=str(lead.pk),
        entity=lead.entity,
        max_attempts=max_attempts or settings.CRM_MAX_ATTEMPTS,
    )
    if item is None:
        return False
    target = lead.form.target_crm
    lead_crm_state_set(
        lead=lead,
        status=CrmStatus.PENDING,
        target=target,
        event_kind=LeadEvent.Kind.NOTE,
        message=f"Nouvelle transmission au CRM {target} programmée" + (f" ({reason})" if reason else ""),
    )
    outbox_dispatch_on_commit(item)
    return True


# --- One attempt -------------------------------------------------------------------------
def crm_forward_run(*, item_id: int) -> str:
    """Process one claimed outbox row: one HTTP attempt, then retry, fallback or finish.

    Safe to run twice: the claim is a conditional UPDATE and a sent lead is never resent.
    """
    item = outbox_claim(item_id=item_id)
    if item is None:
        return "not_claimed"
    lead = Lead.objects.select_related("form", "product").filter(pk=item.ref).first()
    if (
        lead is None
        or lead.form_id is None
        or lead.crm_status in (CrmStatus.SENT, CrmStatus.FALLBACK_SENT)
        # Erased (RGPD) or past retention: its personal data is gone and must not be sent.
        or lead.anonymized_at is not None
    ):
        outbox_done(item)
        return "nothing_to_do"
    if phone_is_opposed(phone=lead.phone):
        lead_crm_state_set(
            lead=lead,
            status=CrmStatus.STOPPED,
            error="numéro sur la liste d'opposition",
            event_kind=LeadEvent.Kind.FORWARD_FAILED,
            message="Non transmis au CRM : numéro sur la liste d'opposition",
        )
        outbox_done(item)
        return "opposed"

    target = lead.crm_target or lead.form.target_crm
    phase = CrmPhase.PRIMARY if target == lead.form.target_crm else CrmPhase.FALLBACK
    if phase == CrmPhase.FALLBACK and (why_not := _fallback_refusal(lead=lead, other=target)):
        # Decided earlier, but the settings say no now (a fallback may wait hours behind an
        # open breaker): the primary's failure stands, nothing goes to the other CRM.
        return _fallback_or_fail(
            lead=lead,
            item=item,
            phase=CrmPhase.PRIMARY,
            target=lead.form.target_crm,
            reason=lead.crm_last_error or "échec",
            data={"crm": target, "phase": phase, "attempt": item.attempts, "no_fallback": why_not},
            attempts_delta=0,
        )
    if interrupted := outbox_interrupted(item):
        data = {"crm": target, "phase": phase, "attempt": item.attempts}
        return _fallback_or_fail(lead=lead, item=item, phase=phase, target=target, reason=interrupted, data=data)
    if not circuit_allows(name=_breaker(target), entity=target):
        breaker = CircuitBreaker.objects.filter(name=_breaker(target)).first()
        until = (breaker.next_probe_at if breaker else None) or timezone.now() + datetime.timedelta(seconds=60)
        outbox_postpone(item, until=until, reason=_paused_reason(target))
        return "postponed"

    connector = CrmConnector.for_entity(target)
    key = lead.form.crm_api_key if phase == CrmPhase.PRIMARY else settings_get().fallback_crm_key(target)
    payload = connector.payload(lead)
    if not connector.url:
        result = CrmResult(CrmOutcome.REFUSED, error=f"URL du CRM {target} non configurée (CRM_{target}_URL)")
    elif not key:
        result = CrmResult(CrmOutcome.AUTH, error=f"aucune clé API pour le CRM {target}")
    else:
        result = crm_post(connector=connector, lead=lead, key=key, payload=payload)
    CrmAttempt.objects.create(
        lead=lead,
        crm=target,
        phase=phase,
        attempt=item.attempts,
        url=connector.url[:500],
        request_body=payload,
        status_code=result.status_code,
        response_body=result.body,
        error=result.error,
        outcome=result.outcome,
        duration_ms=result.duration_ms,
    )
    where = f"CRM {target}" + (" (repli)" if phase == CrmPhase.FALLBACK else "")
    data = {"crm": target, "phase": phase, "attempt": item.attempts, "http_status": result.status_code}

    if result.outcome == CrmOutcome.SENT:
        circuit_record_success(name=_breaker(target), entity=target)  # after a probe: the held ones go now
        status = CrmStatus.SENT if phase == CrmPhase.PRIMARY else CrmStatus.FALLBACK_SENT
        with transaction.atomic():
            lead_crm_state_set(
                lead=lead,
                status=status,
                error="",
                attempts_delta=1,
                event_kind=LeadEvent.Kind.FORWARDED,
                message=f"Transmis au {where} (HTTP {result.status_code}, tentative {item.attempts})",
                data=data,
            )
            outbox_done(item)
        return status

    if result.outcome == CrmOutcome.TRANSIENT:
        if connector.url:
            circuit_record_failure(
                name=_breaker(target), entity=target, error=result.describe(), label=f"Le CRM {target}"
            )
        if item.attempts < item.max_attempts:
            delay = backoff_seconds(item.attempts, base=settings.CRM_RETRY_BASE_SECONDS)
            with transaction.atomic():
                lead_crm_state_set(
                    lead=lead,
                    error=result.describe(),
                    attempts_delta=1,
                    event_kind=LeadEvent.Kind.FORWARD_FAILED,
                    message=f"Tentative {item.attempts}/{item.max_attempts} vers le {where} échouée : "
                    f"{result.describe()} — nouvel essai dans {delay:g} s",
                    data=data,
                )
                outbox_retry_later(item, error=result.describe(), delay_seconds=delay)
            item.refresh_from_db()
            transaction.on_commit(lambda: outbox_dispatch(item, countdown=delay))
            return "retry"
        reason = f"{result.describe()} après {item.attempts} tentatives"
    elif result.outcome == CrmOutcome.AUTH:
        reason = result.error or f"clé API refusée (HTTP {result.status_code})"
    else:
        reason = result.error or f"envoi refusé (HTTP {result.status_code} : {result.body[:200]})"
    return _fallback_or_fail(lead=lead, item=item, phase=phase, target=target, reason=reason, data=data)


def _fallback_refusal(*, lead: Lead, other: str) -> str:
    """Why the lead may not go to the `other` CRM (§11, settings of §8), or "" when it may."""
    app_settings = settings_get()
    if lead.entity_locked:
        return f"lead verrouillé sur {lead.entity}"
    if other != lead.entity and not app_settings.cross_entity_allowed(lead.entity, other):
        return f"repli {lead.entity} → {other} désactivé dans les paramètres"
    if not app_settings.fallback_crm_key(other):
        return f"aucune clé de repli pour le CRM {other} dans les paramètres"
    return ""


@transaction.atomic
def _fallback_or_fail(
    *, lead: Lead, item: OutboxItem, phase: str, target: str, reason: str, data: dict, attempts_delta: int = 1
) -> str:
    if phase == CrmPhase.PRIMARY:
        other = other_entity(target)
        why_not = _fallback_refusal(lead=lead, other=other)
        if not why_not:
            outbox_done(item)
            lead_crm_state_set(
                lead=lead,
                status=CrmStatus.PENDING,
                target=other,
                error=reason,
                attempts_delta=1,
                event_kind=LeadEvent.Kind.FORWARD_FAILED,
                message=f"Échec du CRM {target} : {reason} — repli vers le CRM {other}",
                data={**data, "fallback_to": other},
            )
            fallback = outbox_enqueue(
                kind=CRM_FORWARD_KIND, ref=str(lead.pk), entity=lead.entity, max_attempts=item.max_attempts
            )
            outbox_dispatch_on_commit(fallback)
            return "fallback"
    else:
        why_not = "le CRM de repli a aussi échoué"
    outbox_done(item)
    lead_crm_state_set(
        lead=lead,
        status=CrmStatus.FAILED,
        error=reason,
        attempts_delta=attempts_delta,
        event_kind=LeadEvent.Kind.FORWARD_FAILED,
        message=f"Échec de la transmission au CRM {target} : {reason} — pas de repli ({why_not})",
        data={**data, "no_fallback": why_not},
    )
    _alert_on_failures(entity=lead.entity)
    return "failed"


def _alert_on_failures(*, entity: str) -> None:
    """§14: alert when the CRM failures of the last 24 hours reach the threshold."""
    threshold = settings_get().alert_crm_failure_threshold
    since = timezone.now() - datetime.timedelta(hours=24)
    count = crm_failed_count(entity=entity, since=since)
    if count >= threshold:
        alert_raise(
            entity=entity,
            kind="crm_echecs",
            key=f"crm_failures:{entity}",
            message=crm_failures_message(entity=entity, count=count, threshold=threshold),
        )


# --- Replays -----------------------------------------------------------------------------
def crm_forward_replay(
    *,
    created_from: datetime.datetime,
    created_to: datetime.datetime,
    statuses: tuple[str, ...] = (CrmStatus.FAILED,),
    dry_run: bool = False,
    reason: str = "relance",
    max_attempts: int | None = None,
    quiet_hours: float = 0,
) -> int:
    """Queue again the forwarding of form leads created in [from, to) whose CRM status is
    in `statuses`, from the form's target CRM. Skips opposed numbers, anonymized leads,
    leads already queued and, with `quiet_hours`, leads with a CRM call in the last
    `quiet_hours` hours (so the periodic job does not flood a CRM that keeps refusing,
    nor the lead's timeline).
    Returns how many were (or, with dry_run, would be) queued."""
    live = set(
        OutboxItem.objects.filter(
            kind=CRM_FORWARD_KIND, status__in=[OutboxStatus.PENDING, OutboxStatus.RUNNING]
        ).values_list("ref", flat=True)
    )
    leads = (
        Lead.objects.select_related("form")
        .filter(
            form__isnull=False,
            crm_status__in=statuses,
            created_at__gte=created_from,
            created_at__lt=created_to,
            anonymized_at__isnull=True,
        )
        .exclude(phone__in=OppositionEntry.objects.values("phone"))
        .order_by("created_at")
    )
    if quiet_hours:
        recent = timezone.now() - datetime.timedelta(hours=quiet_hours)
        leads = leads.exclude(pk__in=CrmAttempt.objects.filter(created_at__gte=recent).values("lead_id"))
    count = 0
    for lead in leads.iterator(chunk_size=500):
        if str(lead.pk) in live:
            continue
        if dry_run:
            count += 1
            continue
        with transaction.atomic():
            # Read again under a row lock: another replay (the hourly job, a crm_replay run)
            # may have queued it since, and its worker sent it; requeuing from the stale
            # read would mark a sent lead pending and send it a second time.
            lead = (
                Lead.objects.select_for_update(of=("self",))
                .select_related("form")
                .filter(pk=lead.pk, crm_status__in=statuses)
                .first()
            )
            if lead is not None and crm_forward_requeue(lead=lead, reason=reason, max_attempts=max_attempts):
                count += 1
    return count
