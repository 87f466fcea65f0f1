"""Landing forms (§11): the write-once CRM key, form settings, form intake with
double-click dedupe, tracking events, and the lead's CRM forwarding state.

Kept apart from leads/services.py (provider and shared intake) to keep both small.
"""

import dataclasses
import datetime
import hashlib
import re
import time
from urllib.parse import urlsplit

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from leads.models import (
    CrmStatus,
    Lead,
    LeadEvent,
    LeadForm,
    LeadFormKeyUnlock,
    LeadStatus,
    ProductField,
    TrackingEvent,
)
from leads.services import LeadError, LeadInput, lead_create, lead_event_add, lead_intake_reads
from rdz.core.fastsql import ModelReader, hot_cursor, hot_pipeline, hot_statements_prepared
from rdz.core.services import audit_log
from rdz.core.text import count_noun

# Same form + visitor + phone within this window is one lead (double-click, reload, §16).
FORM_DEDUPE_WINDOW = datetime.timedelta(minutes=5)
# The hidden trap field the tracking script adds: a name no landing page uses for a real
# question (a page's own « website » field would have been taken for the trap, and the
# visitor who filled it shown a success with no lead stored).
HONEYPOT_FIELD = "rdz_hp"
VARIANT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}\Z")
VISITOR_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")


# --- Form settings -----------------------------------------------------------------------
DEFAULT_PORTS = {"http": 80, "https": 443}


def leadform_origin_normalize(raw) -> str | None:
    """`raw` as a browser writes it in its Origin header — `scheme://host[:port]`, lower
    case, the host in ASCII (punycode), no default port — or None when it is not an origin."""
    text = str(raw).strip().rstrip("/")
    if len(text) > 255:
        return None
    parts = urlsplit(text)
    try:
        port = parts.port  # raises on a port that is not one: « :abc », « :99999 »
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if (
        parts.scheme not in DEFAULT_PORTS
        or not host
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def leadform_origins_clean(value) -> list[str]:
    """Allowed origins as browsers send them (`leadform_origin_normalize`), without duplicates.

    Accepts a list or a text with one origin per line. Raises LeadError (French).
    """
    if isinstance(value, str):
        value = [line for line in re.split(r"[\s,]+", value) if line]
    if not isinstance(value, list | tuple):
        raise LeadError({"allowed_origins": ["Une liste d'origines est attendue."]})
    cleaned: list[str] = []
    errors: list[str] = []
    for raw in value:
        origin = leadform_origin_normalize(raw)
        if origin is None:
            errors.append(f"« {str(raw)[:80]} » n'est pas une origine valide (ex. https://www.exemple.fr).")
            continue
        if origin not in cleaned:
            cleaned.append(origin)
    if errors:
        raise LeadError({"allowed_origins": errors})
    return cleaned


def leadform_variants_clean(value) -> list[dict]:
    """A/B variants as [{"name": "A", "weight": 50}, …]: unique names, weights 0–1000.

    Weight 0 pauses a variant: new visitors are no longer sent to it, while the visitors
    who already got it keep it (sticky) and its figures stay in the stats. At least one
    variant must still be drawn. Accepts a list of dicts or a text with one `nom=poids`
    per line.
    """
    if isinstance(value, str):
        items = []
        for line in value.splitlines():
            line = line.strip()
            if not line:
                continue
            name, _, weight = line.partition("=")
            items.append({"name": name.strip(), "weight": weight.strip() or "1"})
        value = items
    if not isinstance(value, list | tuple):
        raise LeadError({"variants": ["Une liste de variantes est attendue."]})
    cleaned: list[dict] = []
    errors: list[str] = []
    for item in value:
        if not isinstance(item, dict):
            errors.append("Chaque variante s'écrit nom=poids (ex. A=50).")
            continue
        name = str(item.get("name", "")).strip()
        weight = item.get("weight", 1)
        if not VARIANT_NAME_RE.match(name):
            errors.append(f"« {name[:60]} » : nom de variante invalide (lettres, chiffres, - et _).")
            continue
        try:
            weight = int(weight)
        except (TypeError, ValueError):
            weight = -1
        if not 0 <= weight <= 1000:
            errors.append(f"« {name} » : le poids doit être un entier entre 0 et 1000.")
            continue
        if any(v["name"] == name for v in cleaned):
            errors.append(f"« {name} » : variante en double.")
            continue
        cleaned.append({"name": name, "weight": weight})
    if not errors and cleaned and not any(v["weight"] for v in cleaned):
        errors.append("Au moins une variante doit avoir un poids supérieur à 0 (0 met une variante en pause).")
    if errors:
        raise LeadError({"variants": errors})
    return cleaned


# Public endpoints read the form on every request (CORS check, track, submit): a short
# per-process cache saves that query. Saving a form or a product field clears it in this
# process; other processes see a change within PUBLIC_FORM_TTL seconds.
PUBLIC_FORM_TTL = 5.0
_public_forms: dict[str, tuple[float, LeadForm | None]] = {}


def leadform_public_get(code: str) -> LeadForm | None:
    """The form `code`, active or not, with its product and the product's extra fields
    (`form.product_fields`), for the public endpoints: a deactivated form's pages may still
    be online, and their visitors' leads must not be lost (§16)."""
    now = time.monotonic()
    hit = _public_forms.get(code)
    if hit is not None and hit[0] > now:
        return hit[1]
    form = LeadForm.objects.select_related("product").filter(code=code).first()
    if form is not None:
        form.product_fields = list(ProductField.objects.filter(product_id=form.product_id))
        form.origin_set = _origin_set(form)
    if len(_public_forms) > 1000:
        _public_forms.clear()
    _public_forms[code] = (now + PUBLIC_FORM_TTL, form)
    return form


def leadform_public_cache_clear(*args, **kwargs) -> None:
    _public_forms.clear()


def _origin_set(form: LeadForm) -> set[str]:
    # Compared as browsers write them: also a list stored before (a default port, capitals
    # kept by an import) matches its site.
    return {o for o in map(leadform_origin_normalize, form.allowed_origins or []) if o}


def leadform_origin_allowed(*, form: LeadForm, origin: str) -> bool:
    allowed = getattr(form, "origin_set", None)
    if allowed is None:
        allowed = _origin_set(form)
    return bool(origin) and leadform_origin_normalize(origin) in allowed


def leadform_variant_names(form: LeadForm) -> list[str]:
    return [str(v.get("name")) for v in form.variants or [] if isinstance(v, dict)]


def leadform_variant_weights(form: LeadForm) -> list[dict]:
    """The variants the tracking script draws from, [{"name", "weight"}] with whole weights
    ≥ 0. Saved forms hold 0–1000, one at least above 0 (`leadform_variants_clean`); an import keeps what it
    found: no weight counts as 1, one that is not a number or negative as 0 (never drawn)."""
    out = []
    for v in form.variants or []:
        if not isinstance(v, dict) or not v.get("name"):
            continue
        weight = v.get("weight")
        try:
            weight = 1 if weight is None else max(0, int(float(weight)))
        except (TypeError, ValueError, OverflowError):
            weight = 0
        out.append({"name": str(v["name"]), "weight": weight})
    return out


EDITABLE_FIELDS = ("name", "allowed_origins", "variants", "active", "consent_text_version")


@transaction.atomic
def leadform_update(*, form: LeadForm, user, changes: dict) -> LeadForm:
    """Change a form's settings (staff API). `crm_api_key` only while none is set (§11)."""
    errors: dict[str, list[str]] = {}
    key = changes.pop("crm_api_key", None)
    for name, value in changes.items():
        if name not in EDITABLE_FIELDS:
            errors[name] = ["Ce champ ne peut pas être modifié."]
            continue
        try:
            if name == "allowed_origins":
                value = leadform_origins_clean(value)
            elif name == "variants":
                value = leadform_variants_clean(value)
        except LeadError as exc:
            errors.update(exc.errors)
            continue
        setattr(form, name, value)
    if key is not None and form.crm_api_key:
        errors["crm_api_key"] = [
            "La clé API CRM est déjà définie : elle ne peut être ni effacée ni modifiée "
            "(rotation dans l'administration)."
        ]
    if errors:
        raise LeadError(errors)
    form.save()
    if key is not None:
        leadform_crm_key_set(form=form, key=key, user=user)
    audit_log(
        action="leadform_update",
        actor=user,
        entity=form.entity,
        obj=form,
        message=f"Formulaire {form.code} modifié : {', '.join(sorted(changes)) or '—'}",
    )
    return form


@transaction.atomic
def leadform_target_changed(*, form: LeadForm, old_target: str, user=None) -> int:
    """After staff point a form at the other CRM (§11), say while its CRM is down: its leads
    still waiting for their first CRM (pending, aimed at the old one) go to the new target, as
    its primary, with the form's key. Left aimed at the old one, the forwarding compared them
    with the form's new target and took them for fallbacks: failed without a try when the
    fallback is OFF, or sent with the fallback key and shown « envoyé (repli) ». Leads already
    on their fallback keep it. Returns how many leads were switched."""
    new_target = form.target_crm
    if not old_target or new_target == old_target:
        return 0
    waiting = list(
        Lead.objects.select_for_update()
        .filter(form=form, crm_status=CrmStatus.PENDING, crm_target=old_target)
        .values_list("pk", flat=True)
    )
    if waiting:
        Lead.objects.filter(pk__in=waiting).update(crm_target=new_target)
        now = timezone.now()
        LeadEvent.objects.bulk_create(
            LeadEvent(
                lead_id=pk,
                kind=LeadEvent.Kind.NOTE,
                message=f"CRM cible du formulaire changé ({old_target} → {new_target}) : "
                f"transmission au CRM {new_target}",
                data={"crm": new_target, "previous_crm": old_target},
                actor=str(user or ""),
                created_at=now,
            )
            for pk in waiting
        )
    audit_log(
        action="leadform_update",
        actor=user,
        entity=form.entity,
        obj=form,
        message=f"Formulaire {form.code} : CRM cible {old_target} → {new_target}, "
        f"{count_noun(len(waiting), 'lead en attente redirigé', 'leads en attente redirigés')}",
    )
    return len(waiting)


@transaction.atomic
def leadform_create(
    *,
    code: str,
    name: str,
    entity: str,
    product,
    target_crm: str | None = None,
    allowed_origins=(),
    variants=(),
    crm_api_key: str = "",
    user=None,
) -> LeadForm:
    """Create a landing form (commands, demo); the admin uses its own ModelForm."""
    if LeadForm.objects.filter(code=code).exists():
        raise LeadError({"code": [f"Le code « {code} » existe déjà."]})
    form = LeadForm.objects.create(
        code=code,
        name=name,
        entity=entity,
        product=product,
        target_crm=target_crm or entity,
        allowed_origins=leadform_origins_clean(list(allowed_origins)),
        variants=leadform_variants_clean(list(variants)),
        crm_api_key=crm_api_key.strip(),
    )
    audit_log(action="leadform_create", actor=user, entity=entity, obj=form, message=f"Formulaire {code} créé")
    return form


# --- Write-once CRM key (§11) ------------------------------------------------------------
def _key_clean(key) -> str:
    key = (key or "").strip() if isinstance(key, str) else ""
    if not key:
        raise LeadError({"crm_api_key": ["La clé API CRM ne peut pas être vide."]})
    if len(key) > 255:
        raise LeadError({"crm_api_key": ["255 caractères au maximum."]})
    return key


@transaction.atomic
def leadform_crm_key_set(*, form: LeadForm, key: str, user=None) -> LeadForm:
    """Set the key of a form that has none. Refused (LeadError) once a key exists."""
    key = _key_clean(key)
    # The base QuerySet.update bypasses LeadFormQuerySet's guard; the WHERE keeps it write-once.
    updated = models.QuerySet.update(LeadForm.objects.filter(pk=form.pk, crm_api_key=""), crm_api_key=key)
    if updated != 1:
        raise LeadError(
            {"crm_api_key": ["La clé API CRM est déjà définie : seule la rotation dans l'administration la remplace."]}
        )
    form.crm_api_key = form._stored_crm_api_key = key
    leadform_public_cache_clear()
    audit_log(
        action="leadform_crm_key_set",
        actor=user,
        entity=form.entity,
        obj=form,
        message=f"Clé API CRM {form.target_crm} définie pour {form.code} ({form.crm_api_key_hint})",
    )
    return form


@transaction.atomic
def leadform_crm_key_rotate(*, form: LeadForm, key: str, user, reason: str = "") -> LeadForm:
    """Replace the key (the only path that may change it), audited with who and why."""
    key = _key_clean(key)
    locked = LeadForm.objects.select_for_update().get(pk=form.pk)
    old_hint = locked.crm_api_key_hint or "aucune"
    if locked.crm_api_key == key:
        raise LeadError({"crm_api_key": ["La nouvelle clé est identique à l'actuelle."]})
    # The database trigger accepts the change only while this row exists (same transaction).
    unlock = LeadFormKeyUnlock.objects.create(form=locked)
    models.QuerySet.update(LeadForm.objects.filter(pk=form.pk), crm_api_key=key)
    unlock.delete()
    form.crm_api_key = form._stored_crm_api_key = key
    leadform_public_cache_clear()
    audit_log(
        action="leadform_crm_key_rotate",
        actor=user,
        entity=form.entity,
        obj=form,
        message=f"Rotation de la clé API CRM {form.target_crm} de {form.code} : {old_hint} → {form.crm_api_key_hint}"
        + (f". Motif : {reason.strip()[:300]}" if reason and reason.strip() else ""),
    )
    return form


# --- Form intake -------------------------------------------------------------------------
def _dedupe_lock_and_recent(*, form_id: int, visitor_id: str, phone: str, now: datetime.datetime) -> Lead | None:
    """Serialize identical submissions until commit, then read the lead of this form,
    visitor and phone within FORM_DEDUPE_WINDOW.

    On PostgreSQL an advisory lock on (form, visitor, phone), then the read: two statements
    sent together (rdz.core.fastsql.hot_pipeline, or one simple query when statements are
    not prepared), one round trip; the read, a statement of its own after the lock, sees
    what the previous holder of the lock committed (READ COMMITTED takes a snapshot per
    statement). SQLite needs no lock: its IMMEDIATE transactions already serialize writers.
    No ORDER BY: any lead of the window will do, and the planner then uses the (form,
    visitor_id, phone) index instead of scanning the form's recent leads.
    """
    reader = ModelReader.get(Lead, "t")
    recent = (
        f"SELECT {reader.columns} FROM leads_lead t"  # noqa: S608 (constant)
        " WHERE t.form_id = %s AND t.visitor_id = %s AND t.phone = %s AND t.created_at >= %s LIMIT 1"
    )
    params = [form_id, visitor_id, phone, connection.ops.adapt_datetimefield_value(now - FORM_DEDUPE_WINDOW)]
    if connection.vendor == "postgresql":
        digest = hashlib.blake2b(f"form-submit:{form_id}:{visitor_id}:{phone}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        if hot_statements_prepared():
            with hot_pipeline() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
                cursor.execute(recent, params)
            row = cursor.fetchone()  # the read's row
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_xact_lock(%s); {recent}", [key, *params])
                cursor.nextset()  # the read's rows
                row = cursor.fetchone()
    else:
        with hot_cursor() as cursor:
            cursor.execute(recent, params)
            row = cursor.fetchone()
    return None if row is None else reader.build(row)


def form_lead_submit(*, form: LeadForm, data: LeadInput, now: datetime.datetime | None = None) -> tuple[Lead, bool]:
    """A landing-page submission (§11, §15): same validation and routing as provider
    intake, not entity-locked. The same form + visitor + phone within FORM_DEDUPE_WINDOW
    returns the first lead (created=False) — also when identical requests race. The CRM
    forwarding's outbox row is written by the lead's own INSERT and sent after commit.
    """
    from routing.crm import crm_forward_new_item, crm_forward_queued

    now = now or timezone.now()
    outbox: list = []

    def crm_rows(lead: Lead) -> list[list]:
        item = crm_forward_new_item(lead)
        outbox.append(item)
        return [[item]] if item is not None else []

    # Read before the transaction, as for a provider's lead (a double-click's second
    # submission reads for nothing: it finds the first lead under the lock below).
    reads = lead_intake_reads(data=data, entity=form.entity, now=now)
    with transaction.atomic():
        existing = _dedupe_lock_and_recent(form_id=form.pk, visitor_id=data.visitor_id, phone=data.phone, now=now)
        if existing is not None:
            return existing, False
        data = dataclasses.replace(data, crm_target=form.target_crm)
        lead, _ = lead_create(data=data, form=form, now=now, with_rows=crm_rows, reads=reads)
        crm_forward_queued(lead=lead, item=outbox[-1])
        if not form.active:
            # Kept like any lead, but staff should know a page they retired still sends some.
            lead_event_add(
                lead=lead,
                kind=LeadEvent.Kind.NOTE,
                message=f"Reçu par le formulaire « {form.code} », désactivé : sa page est encore en ligne",
            )
    return lead, True


def tracking_event_record(*, form: LeadForm, event: str, visitor_id: str, variant: str) -> None:
    """One `visit` or `start` of a landing page (§11). Unknown variants are stored blank."""
    if event not in TrackingEvent.Event.values:
        raise LeadError({"event": ["« visit » ou « start » attendu."]})
    if not VISITOR_ID_RE.match(visitor_id or ""):
        raise LeadError({"visitor_id": ["Identifiant de visiteur invalide."]})
    if variant and variant not in leadform_variant_names(form):
        variant = ""
    TrackingEvent.objects.create(form=form, event=event, visitor_id=visitor_id, variant=variant)


# --- CRM forwarding state on the lead (written for routing.crm) --------------------------
@transaction.atomic
def lead_crm_state_set(
    *,
    lead: Lead,
    status: str | None = None,
    target: str | None = None,
    error: str | None = None,
    attempts_delta: int = 0,
    event_kind: str = "",
    message: str = "",
    data: dict | None = None,
) -> Lead:
    """Update the CRM fields of a lead and write the matching timeline row (§11, §16)."""
    updates: dict = {}
    if status is not None:
        updates["crm_status"] = status
    if target is not None:
        updates["crm_target"] = target
    if error is not None:
        updates["crm_last_error"] = error[:2000]
    if attempts_delta:
        updates["crm_attempts"] = F("crm_attempts") + attempts_delta
    if updates:
        Lead.objects.filter(pk=lead.pk).update(**updates)
        if attempts_delta:
            lead.refresh_from_db(fields=["crm_status", "crm_target", "crm_last_error", "crm_attempts"])
        else:
            for name, value in updates.items():
                setattr(lead, name, value)
    if event_kind:
        lead_event_add(lead=lead, kind=event_kind, message=message, data=data, actor="CRM")
    return lead


def lead_crm_forwardable(lead: Lead) -> bool:
    """Only form leads are forwarded, and never an opposed number (§16)."""
    return lead.form_id is not None and lead.status != LeadStatus.OPPOSED
