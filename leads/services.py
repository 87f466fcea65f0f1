"""Lead intake (§4, §7, §8, §9, §15) and the lead timeline (§16)."""

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from leads.models import CrmStatus, Lead, LeadEvent, LeadStatus, Product, ProductField, ProductFieldType
from leads.selectors import intake_settings_and_opposition, lead_replay_find, product_fields
from rdz.core.fastsql import rows_insert
from rdz.core.text import text_clean

logger = logging.getLogger(__name__)


class LeadError(Exception):
    """Refused lead input: `errors` maps field → list of French messages (400 body)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class LeadReplayConflict(LeadError):
    """The provider's Idempotency-Key or external_id names an earlier lead of another phone,
    product or departement: not a replay (§15), and taking it for one would drop the new lead
    while answering 200. Answered 422 (the HTTP idempotency draft's code for a key reused with
    another payload), so the provider sees that this lead was not stored."""


@dataclass
class LeadInput:
    """Already-normalized intake data (see leads.normalization)."""

    phone: str
    product: Product
    departement: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    source: str = ""
    external_id: str = ""
    consent: bool = False
    extra: dict = field(default_factory=dict)
    ip: str | None = None
    user_agent: str = ""
    visitor_id: str = ""
    variant: str = ""
    consent_page_url: str = ""
    consent_text_version: str = ""
    # Form leads: the CRM the lead will be forwarded to, written pending with the lead
    # itself (routing.crm queues the forwarding in the same transaction).
    crm_target: str = ""


# --- Timeline --------------------------------------------------------------------------
# The steps that hold a routing decision and its explanation (« Pourquoi ce routage ? »):
# intake's, and each recycling from the Lead Backlog.
ROUTING_EVENT_KINDS = (LeadEvent.Kind.ROUTED, LeadEvent.Kind.NOT_ROUTED, LeadEvent.Kind.RECYCLED)


def lead_event_add(
    *, lead: Lead, kind: str, message: str, data: dict | None = None, actor: str = "", at=None
) -> LeadEvent:
    return LeadEvent.objects.create(
        lead=lead, kind=kind, message=message, data=data or {}, actor=actor, created_at=at or timezone.now()
    )


def lead_timeline(*, lead: Lead) -> list[dict]:
    """Events with the time elapsed since the previous one and since reception."""
    rows = []
    previous = None
    first = None
    for event in lead.events.all().order_by("created_at", "id"):
        first = first or event.created_at
        rows.append(
            {
                "event": event,
                "since_previous": (event.created_at - previous) if previous else datetime.timedelta(0),
                "since_received": event.created_at - first,
            }
        )
        previous = event.created_at
    return rows


def routing_explanation_visible(data: dict, *, entities: frozenset[str]) -> dict:
    """A routing explanation (§16) as an account of `entities` may read it (§2): after a
    cross-entity fallback (§7.3) the other company's commandes become one line per entity,
    chosen or not, without their names, ids, priorities, fills or reasons (a « doublon »
    there would tell that the other company's client already bought the number)."""
    verdicts: list = []
    hidden: dict[str, dict] = {}
    for v in data.get("commandes") or []:
        entity = v.get("entity") if isinstance(v, dict) else None
        if entity is None or entity in entities:
            verdicts.append(v)
            continue
        if entity not in hidden:
            hidden[entity] = {
                "commande_id": None,
                "label": str(entity),
                "entity": entity,
                "priority": None,
                "fill_percent": None,
                "verdict": "passed",
                "reason": f"détail réservé à {entity}",
            }
            verdicts.append(hidden[entity])
        if v.get("verdict") == "chosen":
            hidden[entity]["verdict"] = "chosen"
    return {**data, "commandes": verdicts} if hidden else data


def lead_events_visible(*, lead: Lead, events: list[LeadEvent], entities: frozenset[str]) -> None:
    """Mask, in these (unsaved) events of `lead`, what belongs to entities outside `entities`:
    their commandes in routing steps (see routing_explanation_visible), and the steps of their
    attributions (delivered to which addresses, rejected by whom) beyond their kind."""
    from commandes.models import Rejection
    from routing.services import explanation_summary

    hidden = dict(lead.attributions.exclude(entity__in=entities).values_list("pk", "entity"))
    hidden_rejections = (
        dict(Rejection.objects.filter(attribution_id__in=hidden).values_list("pk", "entity")) if hidden else {}
    )
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if isinstance(data.get("commandes"), list):
            visible = routing_explanation_visible(data, entities=entities)
            if visible is not data:
                told = explanation_summary(data)
                # The step's own words around the one-liner stay (« Recyclé depuis … : »); a
                # message written otherwise is replaced whole rather than risk a name in it.
                event.message = (
                    event.message.replace(told, explanation_summary(visible))
                    if told in event.message
                    else explanation_summary(visible)
                )
                event.data = visible
            continue
        attribution, rejection = data.get("attribution"), data.get("rejection")
        entity = (hidden.get(attribution) if isinstance(attribution, int) else None) or (
            hidden_rejections.get(rejection) if isinstance(rejection, int) else None
        )
        if entity:
            event.message = f"Attribution {entity} (repli inter-entités) : détail réservé à {entity}."


def lead_timeline_visible(*, lead: Lead, entities: frozenset[str]) -> list[dict]:
    """`lead_timeline` as an account of `entities` may read it (see lead_events_visible)."""
    rows = lead_timeline(lead=lead)
    lead_events_visible(lead=lead, events=[row["event"] for row in rows], entities=entities)
    return rows


# --- Product extra fields (§3) --------------------------------------------------------
def product_extra_validate(*, product: Product, extra, fields: list[ProductField] | None = None) -> dict:
    """Check `extra` against the product's declared fields (§3); returns the cleaned dict.

    Values are converted to their type (integer, boolean, the canonical spelling of a
    choice, trimmed text). Undeclared keys are kept as sent. Every problem is reported at
    once, in French, naming the field by its label: LeadError({"extra": [...]}).
    """
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise LeadError({"extra": ['Un objet JSON est attendu (ex. {"surface": 40}).']})
    if fields is None:
        fields = product_fields(product_id=product.pk)
    cleaned = dict(extra)
    errors: list[str] = []
    for f in fields:
        value = extra.get(f.name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if f.required:
                errors.append(f"{f.name} : ce champ est obligatoire ({f.label}).")
            cleaned.pop(f.name, None)
            continue
        try:
            cleaned[f.name] = _extra_value(f, value)
        except ValueError as exc:
            # The technical name leads, so an API client can map the message to its field.
            errors.append(f"{f.name} : {exc}")
    if errors:
        raise LeadError({"extra": errors})
    return cleaned


_TRUE = {"oui", "true", "vrai", "1", "yes", "o"}
_FALSE = {"non", "false", "faux", "0", "no", "n"}


def _extra_value(f: ProductField, value):
    """One extra value converted to the field's type; ValueError (French) when it cannot be."""
    if f.type == ProductFieldType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        digits = value.removeprefix("-") if isinstance(value, str) else ""
        if digits.isascii() and digits.isdigit() and len(value) <= 15:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("un nombre entier est attendu.")
        if abs(value) > 10**12:
            raise ValueError("nombre trop grand (1 000 milliards au plus).")
        return value
    if f.type == ProductFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        word = str(value).lower() if isinstance(value, str | int) else ""
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError("oui ou non attendu.")
    if f.type == ProductFieldType.CHOICE:
        choices = [str(c) for c in f.choices or []]
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            for choice in choices:
                if choice == text or choice.casefold() == text.casefold():
                    return choice
        allowed = ", ".join(choices) or "aucun choix configuré pour ce produit"
        raise ValueError(f"« {str(value)[:50]} » n'est pas un choix valide ({allowed}).")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError("texte attendu.")
    text = str(value).strip()
    if len(text) > 500:
        raise ValueError("500 caractères au maximum.")
    return text


# --- Intake ----------------------------------------------------------------------------
def _is_blacklisted(*, source: str, provider, blacklist: list[str]) -> str | None:
    wanted = {s.strip().lower() for s in blacklist if s and s.strip()}
    for candidate in (source, provider.slug if provider else ""):
        if candidate and candidate.strip().lower() in wanted:
            return candidate
    return None


def lead_create(
    *,
    data: LeadInput,
    provider=None,
    form=None,
    idempotency_key: str = "",
    now: datetime.datetime | None = None,
    with_rows: Callable[[Lead], list[list[Model]]] | None = None,
    reads: tuple | None = None,
) -> tuple[Lead, bool]:
    """Store a lead and route it in the same transaction. Returns (lead, created).

    A provider's replay (same `Idempotency-Key` or `external_id`) returns the first lead
    with created=False — also under concurrency: the unique constraints decide, the loser
    reads the winner's row. Provider leads take the provider's entity and are locked (§9);
    form leads take the form's entity and are not locked (§11).

    `with_rows(lead)`, called once the lead's outcome is known, returns groups of other new
    rows (one model per group, no foreign key to the lead needed) that the lead's own INSERT
    writes too (form submit: the CRM forwarding's outbox row).

    `reads`: what `lead_intake_reads` returned for this lead, `now` and entity, when the
    caller read it before opening its own transaction (form submit); else they are read
    here, before this function's transaction.
    """
    existing = lead_replay_find(provider=provider, idempotency_key=idempotency_key, external_id=data.external_id)
    if existing is not None:
        return lead_replayed(existing, data=data, idempotency_key=idempotency_key), False
    started = time.monotonic()
    now = now or timezone.now()
    if provider is not None:
        entity, locked, source = provider.entity, True, data.source or provider.slug
    elif form is not None:
        entity, locked, source = form.entity, False, data.source or form.code
    else:
        raise LeadError({"non_field_errors": ["Un lead vient d'un provider ou d'un formulaire."]})
    if reads is None:
        reads = lead_intake_reads(data=data, entity=entity, now=now)
    try:
        # Nested in a caller's transaction (form submit), only a provider's lead needs a
        # savepoint: its replay keys may collide (IntegrityError, then the winner is read).
        with transaction.atomic(savepoint=provider is not None):
            lead = _lead_create_and_route(
                data=data,
                provider=provider,
                form=form,
                idempotency_key=idempotency_key,
                now=now,
                started=started,
                entity=entity,
                locked=locked,
                source=source,
                reads=reads,
                with_rows=with_rows,
            )
    except IntegrityError:
        existing = lead_replay_find(provider=provider, idempotency_key=idempotency_key, external_id=data.external_id)
        if existing is not None:
            return lead_replayed(existing, data=data, idempotency_key=idempotency_key), False
        raise
    return lead, True


def lead_replayed(existing: Lead, *, data: LeadInput, idempotency_key: str) -> Lead:
    """`existing`, found by the replay keys of `data` (§15), if `data` is the same lead: same
    phone, product and departement (a retry may correct a name). Else LeadReplayConflict,
    naming the key that matched. An erased lead (§16) has no phone left to compare: replayed."""
    same = (existing.phone, existing.product_id, existing.departement) == (
        data.phone,
        data.product.pk,
        data.departement,
    )
    if same or existing.anonymized_at is not None:
        return existing
    field = "Idempotency-Key" if idempotency_key and existing.idempotency_key == idempotency_key else "external_id"
    raise LeadReplayConflict(
        {
            field: [
                f"Déjà utilisé pour le lead {existing.pk}, d'un autre téléphone, produit ou département : "
                "ce lead n'est pas enregistré. Donnez une valeur nouvelle à chaque nouveau lead."
            ]
        }
    )


def lead_intake_reads(*, data: LeadInput, entity: str, now: datetime.datetime) -> tuple:
    """(settings, opposed, candidates of the lead's own entity): what every intake reads
    before deciding, in one round trip on PostgreSQL, sent before the intake's transaction
    starts. Nothing is locked then: routing ranks these candidates, and the re-check under
    the chosen client's lock decides (§16). Outside a transaction, these reads are also
    the kept connection's health check (rdz.core.fastsql.hot_reads)."""
    from routing.selectors import routing_candidates_read

    candidates = routing_candidates_read(
        entity=entity, product_id=data.product.pk, departement=data.departement, phone=data.phone, now=now
    )
    return intake_settings_and_opposition(phone=data.phone, also=[candidates])


def _lead_create_and_route(
    *,
    data: LeadInput,
    provider,
    form,
    idempotency_key: str,
    now: datetime.datetime,
    started: float,
    entity: str,
    locked: bool,
    source: str,
    reads: tuple,
    with_rows=None,
) -> Lead:
    """Insert the lead once, with its routing outcome and its timeline (no UPDATE afterwards).

    Routing ranks the candidates without locks, then locks the chosen client's row for the
    re-check; a routed lead, its timeline and its attribution are then one INSERT statement
    (lead_route_in_transaction's `with_attribution`), so the client lock is held only for
    that statement and the COMMIT (§16). A lead that is not routed is written after routing.
    """
    from routing.services import lead_route_in_transaction

    app_settings, opposed, candidates = reads
    lead = Lead(
        entity=entity,
        entity_locked=locked,
        product=data.product,
        phone=data.phone,
        email=data.email,
        first_name=data.first_name,
        last_name=data.last_name,
        departement=data.departement,
        source=source,
        provider=provider,
        form=form,
        extra=data.extra,
        consent=data.consent,
        ip=data.ip,
        user_agent=text_clean(data.user_agent)[:500],
        created_at=now,
        external_id=data.external_id,
        idempotency_key=idempotency_key,
        visitor_id=data.visitor_id,
        variant=data.variant,
        consent_at=now if data.consent else None,
        consent_page_url=data.consent_page_url[:500],
        consent_text_version=data.consent_text_version[:50],
        status=LeadStatus.NO_ORDER,
        crm_status=CrmStatus.PENDING if data.crm_target else "",
        crm_target=data.crm_target,
    )
    origin = f"provider {provider.slug}" if provider else f"formulaire {form.code}"
    events = [
        LeadEvent(
            lead=lead,
            kind=LeadEvent.Kind.RECEIVED,
            created_at=now,
            actor=origin,
            message=f"Reçu de {origin} (source « {source} »), entité {entity}" + (" verrouillée" if locked else ""),
            data={"ip": data.ip, "idempotency_key": idempotency_key, "external_id": data.external_id},
        ),
        LeadEvent(
            lead=lead,
            kind=LeadEvent.Kind.VALIDATED,
            created_at=now,
            message=f"Validé : {data.phone}, département {data.departement}, produit {data.product.code}",
        ),
    ]
    blacklisted = _is_blacklisted(source=source, provider=provider, blacklist=app_settings.blacklisted_sources)
    if blacklisted or opposed:
        if blacklisted:
            lead.status, message = LeadStatus.BLACKLISTED, f"Non routé : source « {blacklisted} » blacklistée"
        else:
            lead.status, message = LeadStatus.OPPOSED, "Non routé : numéro sur la liste d'opposition"
            lead.crm_status, lead.crm_target = "", ""  # never forwarded (§16)
        decision = _decision(lead, LeadEvent.Kind.NOT_ROUTED, message, {"status": lead.status}, _elapsed(now, started))
        rows_insert([lead], [*events, decision], *(with_rows(lead) if with_rows else ()))
    else:

        def rows(result) -> list[list]:
            # The lead and its timeline, with the routing outcome and its explanation.
            lead.status = result.status
            kind, message = _routing_event(result)
            decision = _decision(lead, kind, message, result.explanation(), _elapsed(now, started))
            return [[lead], [*events, decision], *(with_rows(lead) if with_rows else ())]

        result = lead_route_in_transaction(
            lead=lead, now=now, app_settings=app_settings, with_attribution=rows, candidates=candidates
        )
        if result.attribution is None:
            rows_insert(*rows(result))
    return lead


def _elapsed(now: datetime.datetime, started: float) -> datetime.datetime:
    # Real elapsed time, so the timeline shows how long the decision took even when the
    # caller fixed `now` (imports, tests).
    return now + datetime.timedelta(seconds=time.monotonic() - started)


def _routing_event(result) -> tuple[str, str]:
    if result.status == LeadStatus.ROUTED:
        return LeadEvent.Kind.ROUTED, result.summary()
    label = "doublon" if result.status == LeadStatus.DUPLICATE else "aucune commande ouverte (backlog)"
    return LeadEvent.Kind.NOT_ROUTED, f"Non attribué — {label} : {result.summary()}"


def _decision(lead: Lead, kind: str, message: str, data: dict, at: datetime.datetime) -> LeadEvent:
    """The timeline row of the routing decision (after « reçu » and « validé »)."""
    return LeadEvent(lead=lead, kind=kind, created_at=at, message=message, data=data)


def lead_events_bulk_add(*, events: list[tuple]) -> int:
    """Timeline rows for many leads at once: (lead_id, kind, message, data) tuples."""
    now = timezone.now()
    rows = [
        LeadEvent(lead_id=lead_id, kind=kind, message=message, data=data or {}, created_at=now)
        for lead_id, kind, message, data in events
    ]
    LeadEvent.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- Status changes made by delivery, rejection and backlog recycling (§10) -----------
def leads_lock(*, lead_ids) -> None:
    """Lock the leads' rows, in one order, before any row of their attributions or rejections.

    The one lock order of every writer of a lead's later rows: the backlog recycling locks the
    lead, then the new client, then moves the aged delivery aside; a rejection or an erasure
    that held an attribution while waiting for the lead deadlocked with it. Taking the leads
    first, each writer waits its turn instead. Call inside a transaction.
    """
    list(Lead.objects.select_for_update().filter(pk__in=list(lead_ids)).order_by("pk").values_list("pk", flat=True))


def lead_status_set(*, lead_ids, status: str, only_from: list[str] | None = None) -> int:
    """Set the status of these leads (optionally only those currently in `only_from`).

    Callers write the matching timeline rows; returns the number of leads changed.
    """
    if status not in LeadStatus.values:
        raise LeadError({"status": [f"Statut inconnu : {status}."]})
    qs = Lead.objects.filter(pk__in=lead_ids)
    if only_from is not None:
        qs = qs.filter(status__in=only_from)
    return qs.update(status=status)
