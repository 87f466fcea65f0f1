"""Demo landing forms and their history, for `demo_data` and `landing_demo` (embedded default only).

Two forms, one per entity: `demo-pv` (ZR7, A/B variants) and `demo-ite` (MDL). Their history
(visits, starts and submitted leads over the demo period) goes through the real services: each
lead is submitted with `form_lead_submit`, routed, and forwarded by `crm_forward_run` to two
stand-in CRMs started in this process for the time of the run. Most leads are accepted by their
form's CRM; some are refused with 401, so they fall back to the other company's CRM (§11); a
few older ones are refused by both, and stay `failed` (older than the beat's retry horizon, so
no job sends them again). The forwarding rows of the timeline and the CRM attempts are then
dated a few seconds after their lead, as they would have been.
"""

import dataclasses
import datetime
import random
import string

from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings

from leads.models import Lead, LeadEvent, LeadForm, Product, TrackingEvent
from leads.services import LeadError, LeadInput
from leads.services_forms import form_lead_submit, leadform_create
from rdz.core.models import OutboxItem, OutboxStatus
from rdz.core.services import settings_get, settings_update
from routing.crm import CRM_FORWARD_KIND, crm_forward_run
from routing.fake_crm import FakeCrm
from routing.models import CrmAttempt


@dataclasses.dataclass(frozen=True)
class DemoForm:
    code: str
    name: str
    entity: str
    product: str
    variants: tuple = ()
    departements: tuple = ()


DEMO_FORMS = {
    "demo-pv": DemoForm(
        "demo-pv",
        "Démonstration panneaux solaires",
        "ZR7",
        "PV",
        variants=({"name": "A", "weight": 50}, {"name": "B", "weight": 50}),
        departements=("13", "83", "84", "06", "2A", "33"),
    ),
    "demo-ite": DemoForm(
        "demo-ite", "Démonstration isolation", "MDL", "ITE", departements=("29", "35", "22", "56", "44")
    ),
}
DEMO_ORIGINS = ["http://127.0.0.1:8081", "http://localhost:8081"]
FALLBACK_KEYS = {"ZR7": "demo-cle-repli-zr7", "MDL": "demo-cle-repli-mdl"}

FIRST_NAMES = ["Léa", "Hugo", "Inès", "Noël", "Maëlys", "Théo", "Agnès", "Raphaël", "Céline", "Joël"]
LAST_NAMES = ["Petit", "Durand", "Leroy", "Mercier", "Fontaine", "Chevalier", "Gauthier", "Perrin", "Roux", "Noël"]


def demo_form_ensure(code: str, *, origins: list[str] | None = None) -> LeadForm | None:
    """The demo form `code` (created on first use); None for a code that is not a demo form."""
    existing = LeadForm.objects.filter(code=code).first()
    if existing is not None or code not in DEMO_FORMS:
        return existing
    spec = DEMO_FORMS[code]
    product = Product.objects.filter(code=spec.product).first()
    if product is None:
        raise LeadError({"product": [f"Produit {spec.product} absent : lancez d'abord « manage.py demo_data »."]})
    return leadform_create(
        code=spec.code,
        name=spec.name,
        entity=spec.entity,
        product=product,
        allowed_origins=origins or DEMO_ORIGINS,
        variants=list(spec.variants),
        crm_api_key=f"demo-cle-crm-{spec.entity.lower()}",
    )


def demo_forms_ensure() -> list[LeadForm]:
    return [demo_form_ensure(code) for code in DEMO_FORMS]


def demo_form_history(*, forms: list[LeadForm], rng: random.Random, days: int, now: datetime.datetime) -> int:
    """Visits, starts and leads of the demo `forms` (`demo_forms_ensure`) over `days` days,
    their CRM forwarding done. Only when no form lead exists yet. Returns the number of leads."""
    if Lead.objects.filter(form__isnull=False).exists():
        return 0
    app_settings = settings_get()
    if not (app_settings.fallback_crm_key_zr7 or app_settings.fallback_crm_key_mdl):
        with transaction.atomic():
            settings_update(
                user=None,
                changes={"fallback_crm_key_zr7": FALLBACK_KEYS["ZR7"], "fallback_crm_key_mdl": FALLBACK_KEYS["MDL"]},
            )
    horizon = datetime.timedelta(hours=settings.CRM_RETRY_HORIZON_HOURS + 24)
    crms = {entity: FakeCrm(name=entity).start() for entity in ("ZR7", "MDL")}
    connectors = {
        entity: {**settings.CRM_CONNECTORS.get(entity, {}), "url": crm.url, "timeout": 5}
        for entity, crm in crms.items()
    }
    created = 0
    try:
        # The stand-in CRMs replace CRM_ZR7_URL / CRM_MDL_URL for this run only.
        with override_settings(CRM_CONNECTORS=connectors):
            for form in forms:
                for day in range(days, -1, -1):
                    created += _one_day(
                        rng=rng,
                        form=form,
                        start=now - datetime.timedelta(days=day),
                        now=now,
                        crms=crms,
                        horizon=horizon,
                    )
    finally:
        for crm in crms.values():
            crm.stop()
    return created


def _one_day(*, rng, form, start, now, crms, horizon) -> int:
    spec = DEMO_FORMS[form.code]
    variants = [v["name"] for v in form.variants] or [""]
    weights = [v["weight"] for v in form.variants] or [1]
    events, leads = [], 0
    for _ in range(rng.randint(4, 12)):
        visited = start + datetime.timedelta(minutes=rng.randint(0, 600))
        if visited > now:
            continue
        visitor = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
        variant = rng.choices(variants, weights)[0]
        events.append(TrackingEvent(form=form, event="visit", visitor_id=visitor, variant=variant, created_at=visited))
        # Variant B converts a little better, so the A/B numbers differ.
        if rng.random() > (0.55 if variant == "B" else 0.45):
            continue
        started = visited + datetime.timedelta(seconds=rng.randint(5, 90))
        events.append(TrackingEvent(form=form, event="start", visitor_id=visitor, variant=variant, created_at=started))
        if rng.random() < 0.5 and started + datetime.timedelta(minutes=3) < now:
            _submit(
                rng=rng,
                form=form,
                spec=spec,
                visitor=visitor,
                variant=variant,
                at=started + datetime.timedelta(minutes=2),
                crms=crms,
                horizon=horizon,
                now=now,
            )
            leads += 1
    TrackingEvent.objects.bulk_create(events)
    return leads


def _submit(*, rng, form, spec, visitor, variant, at, crms, horizon, now) -> None:
    data = LeadInput(
        phone=f"+336{rng.randint(10_000_000, 99_999_999)}",
        product=form.product,
        departement=rng.choice(spec.departements),
        first_name=rng.choice(FIRST_NAMES),
        last_name=rng.choice(LAST_NAMES),
        email=f"visiteur{rng.randint(1, 99_999)}@exemple.fr",
        source=form.code,
        consent=True,
        visitor_id=visitor,
        variant=variant,
        consent_page_url="http://127.0.0.1:8081/",
        consent_text_version="demo-v1",
    )
    lead, _ = form_lead_submit(form=form, data=data, now=at)
    draw = rng.random()
    primary, other = crms[form.target_crm], crms["MDL" if form.target_crm == "ZR7" else "ZR7"]
    if draw < 0.06 and now - at > horizon:
        # Refused by both: failed.
        refused = (422, {"erreur": "fiche refusée : numéro déjà connu"})
        primary.script, other.script = [refused], [refused]
    elif draw < 0.18:
        primary.script = [(401, {"erreur": "clé API invalide"})]  # the form's key: fallback to the other CRM
    _forward(lead)
    primary.script, other.script = [], []
    _backdate(lead, at)


def _forward(lead: Lead) -> None:
    """Run the lead's forwarding rows here, one after the other (the fallback adds one)."""
    for _ in range(4):
        item = OutboxItem.objects.filter(kind=CRM_FORWARD_KIND, ref=str(lead.pk), status=OutboxStatus.PENDING).first()
        if item is None:
            return
        crm_forward_run(item_id=item.pk)


@transaction.atomic
def _backdate(lead: Lead, at: datetime.datetime) -> None:
    """Date the forwarding rows a few seconds after the lead, as a live forwarding would be."""
    for i, event in enumerate(LeadEvent.objects.filter(lead=lead, actor="CRM", created_at__gt=at).order_by("id")):
        LeadEvent.objects.filter(pk=event.pk).update(created_at=at + datetime.timedelta(seconds=1 + i))
    for i, attempt in enumerate(CrmAttempt.objects.filter(lead=lead).order_by("id")):
        CrmAttempt.objects.filter(pk=attempt.pk).update(created_at=at + datetime.timedelta(seconds=1 + i))
