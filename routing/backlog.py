"""Lead Backlog (§10): which leads are in it, and their recycling to OPEN commandes.

The backlog holds `no_order` leads, rejected leads, and delivered leads whose last
delivery is older than the backlog age. A scheduled job before the daily mailing offers
them to OPEN commandes that accept the backlog, through the routing engine
(`lead_route(backlog=True)`), so quotas (§5) and the 30-day rule (§6) hold as in intake.
"""

import datetime
import logging
import time
from dataclasses import dataclass, field

from django.db import OperationalError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, Trim
from django.utils import timezone

from commandes.models import Attribution, AttributionStatus, Commande
from leads.models import Lead, LeadEvent, LeadStatus, OppositionEntry
from leads.services import lead_event_add, lead_status_set
from rdz.core.entities import Entity
from rdz.core.services import settings_get
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_today
from routing.services import lead_route

logger = logging.getLogger(__name__)


def backlog_leads(*, now: datetime.datetime | None = None, age_days: int | None = None) -> QuerySet:
    """Leads in the Lead Backlog (§10), opposed numbers and anonymized leads excluded (§16):
    an anonymized lead has lost its phone, so the opposition list no longer matches it, and
    there is nobody left to sell. So are the leads of a source blacklisted since they came
    in (§8: a blacklisted source's leads are not routed; compared as at intake, by the
    lead's source and its provider's slug, trimmed and without case)."""
    now = now or timezone.now()
    app_settings = settings_get()
    if age_days is None:
        age_days = app_settings.backlog_age_days
    blacklist = sorted({s.strip().lower() for s in app_settings.blacklisted_sources or [] if s and s.strip()})
    cutoff = now - datetime.timedelta(days=age_days)
    last_delivery = (
        Attribution.objects.filter(lead=OuterRef("pk"), delivered_at__isnull=False)
        .order_by()
        .values("lead")
        .annotate(last=Max("delivered_at"))
        .values("last")
    )
    leads = (
        Lead.objects.annotate(last_delivered_at=last_delivery)
        .filter(
            Q(status__in=[LeadStatus.NO_ORDER, LeadStatus.REJECTED])
            | Q(status=LeadStatus.DELIVERED, last_delivered_at__lt=cutoff)
        )
        .filter(anonymized_at__isnull=True)
        .exclude(Exists(OppositionEntry.objects.filter(phone=OuterRef("phone"))))
    )
    if blacklist:
        # Coalesce: a form lead has no provider, and NOT (… IN …) of a NULL excludes the row.
        leads = leads.alias(
            _source=Lower(Trim("source")), _provider=Lower(Trim(Coalesce("provider__slug", Value(""))))
        ).exclude(Q(_source__in=blacklist) | Q(_provider__in=blacklist))
    return leads


def backlog_counts(*, leads: QuerySet) -> dict:
    """Counts by product and by departement, for the backlog list."""
    by_product = list(leads.order_by().values("product__code").annotate(n=Count("pk")).order_by("-n", "product__code"))
    by_departement = list(leads.order_by().values("departement").annotate(n=Count("pk")).order_by("-n", "departement"))
    return {"total": leads.count(), "by_product": by_product, "by_departement": by_departement}


@dataclass
class RecycleReport:
    examined: int = 0
    recycled: int = 0
    failed: int = 0
    out_of_time: bool = False  # stopped at its time budget: the others wait for the next run
    attributions: list[int] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Lead Backlog : {count_noun(self.examined, 'lead examiné', 'leads examinés')}, "
            f"{self.recycled} réattribué{'s' if self.recycled > 1 else ''}"
        )
        if self.failed:
            text += f", {self.failed} à reprendre au prochain passage (verrou ou conflit en base)"
        if self.out_of_time:
            text += ", arrêt à la limite de temps de la tâche (les suivants au prochain passage)"
        return text + "."


def backlog_recycle(
    *, now: datetime.datetime | None = None, limit: int = 5000, budget_seconds: float | None = None
) -> RecycleReport:
    """Offer backlog leads to OPEN commandes accepting the backlog (§10), newest first.

    Only leads that an active commande accepting the backlog could take (its product and
    departements, its entity unless the lead may cross) are examined, so that `limit` is
    spent on them and not on the newest leads of departements nobody buys, which would
    keep the older ones out of every run. Each lead is routed in its own transaction: a
    failure never undoes others. With `budget_seconds`, it stops between two leads once that
    time is spent (a task's time limit would otherwise cut it mid-lead, and whatever the task
    does next with it: the catch-up's mailing).
    """
    now = now or timezone.now()
    started = time.monotonic()
    report = RecycleReport()
    reachable = _backlog_reachable(now=now)
    if reachable is None:
        return report
    candidates = backlog_leads(now=now).filter(reachable).order_by("-created_at").values_list("pk", flat=True)
    for lead_id in list(candidates[:limit]):
        elapsed = time.monotonic() - started
        if budget_seconds is not None and elapsed >= budget_seconds:
            report.out_of_time = True
            break
        report.examined += 1
        try:
            # Each lead at its own time, not the run's start: leads routed after midnight
            # (Paris) count in the new day's cap and, past Monday 00:00, in the new week (§5).
            attribution_id = _recycle_one(lead_id=lead_id, now=now + datetime.timedelta(seconds=elapsed))
        except OperationalError:
            # A deadlock or lock timeout with a rejection, an intake or a staff change on the
            # same lead or client: that lead's transaction is rolled back whole and it stays in
            # the backlog for the next run; the run goes on with the others.
            logger.warning("backlog recycling of lead %s rolled back", lead_id, exc_info=True)
            report.failed += 1
            continue
        if attribution_id is not None:
            report.recycled += 1
            report.attributions.append(attribution_id)
    return report


def backlog_takers(*, now: datetime.datetime | None = None) -> QuerySet:
    """Commandes the recycling offers backlog leads to (§10): active, accepting the backlog,
    their client active, today (Paris) within their dates. Their quota is checked per lead."""
    today = paris_today(now)
    return Commande.objects.filter(
        Q(starts_on__isnull=True) | Q(starts_on__lte=today),
        Q(ends_on__isnull=True) | Q(ends_on__gte=today),
        active=True,
        accepts_backlog=True,
        client__active=True,
    )


def _backlog_reachable(*, now: datetime.datetime) -> Q | None:
    """Leads that an active commande accepting the backlog, within its dates, covers; None
    when there is no such commande. One condition per product and entity, not per commande
    (SQLite nests each OR). A lead of the other entity is covered only when it may cross:
    not locked, and the cross-entity settings allow that direction (§7.3)."""
    app_settings = settings_get()
    covered: dict[tuple[int, str], set[str]] = {}
    for product_id, entity, departements in backlog_takers(now=now).values_list("product_id", "entity", "departements"):
        codes = covered.setdefault((product_id, entity), set())
        if isinstance(departements, list):
            codes.update(str(code) for code in departements)
        else:  # a value of another shape (typed before the admin checked it): routing decides
            codes.add("*")
    reachable = None
    for (product_id, entity), codes in sorted(covered.items()):
        entities = Q(entity=entity)
        crossing = [source for source in Entity.values if app_settings.cross_entity_allowed(source, entity)]
        if crossing:
            entities |= Q(entity__in=crossing, entity_locked=False)
        condition = Q(product_id=product_id) & entities
        if "*" not in codes:
            condition &= Q(departement__in=sorted(codes))
        reachable = condition if reachable is None else reachable | condition
    return reachable


@transaction.atomic
def _recycle_one(*, lead_id, now: datetime.datetime) -> int | None:
    lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
    # Read again under the lock: since the list was read, another run may have recycled the
    # lead and its new client taken it (delivered, but not aged), or its number been opposed.
    if lead is None or not backlog_leads(now=now).filter(pk=lead_id).exists():
        return None
    previous = lead.status
    result = lead_route(lead=lead, now=now, backlog=True)
    if result.attribution is None:
        return None
    if previous == LeadStatus.DELIVERED:
        # The aged delivery is now history: it no longer makes the lead "delivered".
        Attribution.objects.filter(lead=lead, status=AttributionStatus.DELIVERED).exclude(
            pk=result.attribution.pk
        ).update(status=AttributionStatus.RECYCLED)
    lead_status_set(lead_ids=[lead.pk], status=LeadStatus.ROUTED)
    origin = {
        LeadStatus.NO_ORDER: "sans commande",
        LeadStatus.REJECTED: "rejeté par un client",
        LeadStatus.DELIVERED: "livré il y a longtemps",
    }[previous]
    lead_event_add(
        lead=lead,
        kind=LeadEvent.Kind.RECYCLED,
        message=f"Recyclé depuis le Lead Backlog ({origin}) : {result.summary()}",
        data=result.explanation(),
        at=now,
    )
    return result.attribution.pk
