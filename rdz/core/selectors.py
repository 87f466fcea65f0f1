"""Reads of the Pilotage pages: the dashboard (§13) is built from the daily rollups, the
week fill of commandes and the circuit breakers — never from a scan of the leads."""

import datetime
from urllib.parse import urlencode

from django.db.models import QuerySet

from commandes.models import Commande
from commandes.services import commande_closed_reason, commande_fills, commande_quota_reason
from leads.models import LeadForm, LeadStatus
from leads.stats import ATTRIBUTED_STATUSES, rollup_ensure_today, rollup_group, status_totals
from providers.models import Provider
from rdz.core.charts import PALETTE, Series, fill_bars, horizontal_bars, stacked_bars
from rdz.core.forms import settings_fields_hidden
from rdz.core.models import Alert, AlertState, CircuitBreaker, CircuitState, SettingsAudit
from rdz.core.scoping import scope_queryset, user_entities
from rdz.core.timeutils import paris_today

STATUS_COLORS = {
    LeadStatus.ROUTED: PALETTE[0],
    LeadStatus.DELIVERED: PALETTE[1],
    LeadStatus.NO_ORDER: PALETTE[2],
    LeadStatus.DUPLICATE: PALETTE[3],
    LeadStatus.BLACKLISTED: PALETTE[6],
    LeadStatus.REJECTED: PALETTE[7],
    LeadStatus.OPPOSED: PALETTE[5],
}
CARDS = [
    ("received", "Reçus", None),
    ("attributed", "Attribués", ATTRIBUTED_STATUSES),
    ("delivered", "Livrés", (LeadStatus.DELIVERED,)),
    ("no_order", "Sans commande", (LeadStatus.NO_ORDER,)),
    ("duplicate", "Doublons", (LeadStatus.DUPLICATE,)),
    ("blacklisted", "Blacklistés", (LeadStatus.BLACKLISTED,)),
    ("rejected", "Rejetés", (LeadStatus.REJECTED,)),
]
CRM_SERIES = [
    ("sent", "Envoyé", PALETTE[1]),
    ("fallback_sent", "Envoyé (repli)", PALETTE[4]),
    ("pending", "En attente", PALETTE[2]),
    ("failed", "Échec", PALETTE[7]),
    # Stopped by RDZ itself (opposition, erasure): no CRM failure, but the form's leads must add up.
    ("stopped", "Non transmis", PALETTE[6]),
]


def settings_audits_visible(*, user) -> QuerySet[SettingsAudit]:
    """The settings' change history an account may read: not the other entity's settings (§2)."""
    return SettingsAudit.objects.exclude(field__in=settings_fields_hidden(user_entities(user)))


def lead_list_url(*, entity: str, start: datetime.date, end: datetime.date, statuses=None) -> str:
    params = [("entity", entity), ("from", start.isoformat()), ("to", end.isoformat())]
    params += [("status", s) for s in statuses or ()]
    return "/leads/?" + urlencode(params)


def _days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=i) for i in range((end - start).days + 1)]


def _names(qs: QuerySet, ids) -> dict:
    ids = [i for i in ids if i is not None]
    return {obj.pk: str(obj.name) for obj in qs.filter(pk__in=ids)} if ids else {}


def dashboard_context(*, user, entities: frozenset[str], today: datetime.date | None = None) -> dict:
    rollup_ensure_today()
    today = today or paris_today()
    entities = sorted(entities)
    periods = [
        ("today", "Aujourd'hui", today, today),
        ("week", "7 jours", today - datetime.timedelta(days=6), today),
        ("month", "30 jours", today - datetime.timedelta(days=29), today),
    ]
    totals = {key: status_totals(entities=entities, start=start, end=end) for key, _, start, end in periods}
    per_entity = []
    for entity in entities:
        rows = []
        for field, label, statuses in CARDS:
            cells = []
            for key, _, start, end in periods:
                cells.append(
                    {
                        "value": totals[key][entity][field],
                        "url": lead_list_url(entity=entity, start=start, end=end, statuses=statuses),
                    }
                )
            rows.append({"label": label, "cells": cells})
        per_entity.append({"entity": entity, "rows": rows})

    start30 = today - datetime.timedelta(days=29)
    days = _days(start30, today)
    index = {d: i for i, d in enumerate(days)}
    by_status = {s: [0] * len(days) for s in STATUS_COLORS}
    for row in rollup_group(entities=entities, start=start30, end=today, by=("day", "status")):
        by_status.setdefault(row["status"], [0] * len(days))[index[row["day"]]] += row["n"]
    status_chart = stacked_bars(
        days=days,
        series=[
            Series(LeadStatus(s).label, STATUS_COLORS.get(s, PALETTE[8]), values)
            for s, values in by_status.items()
            if any(values)
        ],
        title="Leads reçus par jour et par statut (30 jours)",
    )

    sources = [
        (row["source"] or "(sans source)", row["n"])
        for row in rollup_group(entities=entities, start=start30, end=today, by=("source",))
    ]
    provider_rows = rollup_group(entities=entities, start=start30, end=today, by=("provider_id",))
    provider_names = _names(
        scope_queryset(Provider.objects.all(), user, entities=frozenset(entities)),
        [r["provider_id"] for r in provider_rows],
    )
    providers = [(provider_names.get(r["provider_id"], "?"), r["n"]) for r in provider_rows if r["provider_id"]]
    form_rows = rollup_group(entities=entities, start=start30, end=today, by=("form_id",))
    form_names = _names(
        scope_queryset(LeadForm.objects.all(), user, entities=frozenset(entities)), [r["form_id"] for r in form_rows]
    )
    forms = [(form_names.get(r["form_id"], "?"), r["n"]) for r in form_rows if r["form_id"]]

    commandes = list(
        scope_queryset(Commande.objects.select_related("client", "product"), user, entities=frozenset(entities)).filter(
            active=True
        )
    )
    fills = commande_fills(commande_ids=[c.pk for c in commandes])
    fill_items = []
    for c in sorted(commandes, key=lambda c: (c.entity, -c.priority, c.pk)):
        fill = fills[c.pk]
        is_open = commande_closed_reason(c, today=today) is None and commande_quota_reason(c, fill) is None
        label = f"{c.entity} · {c.client.name} {c.name or c.product.code}"
        fill_items.append((label, fill.week, c.weekly_quota, is_open))

    start14 = today - datetime.timedelta(days=13)
    days14 = _days(start14, today)
    index14 = {d: i for i, d in enumerate(days14)}
    crm = {key: [0] * len(days14) for key, _, _ in CRM_SERIES}
    for row in rollup_group(entities=entities, start=start14, end=today, by=("day", "crm_status")):
        if row["crm_status"] in crm:
            crm[row["crm_status"]][index14[row["day"]]] += row["n"]
    crm_total = {key: sum(values) for key, values in crm.items()}
    crm_chart = stacked_bars(
        days=days14,
        series=[Series(label, color, crm[key]) for key, label, color in CRM_SERIES],
        title="Transmission CRM des leads de formulaires (14 jours)",
        width=480,
    )
    breakers = list(
        scope_queryset(CircuitBreaker.objects.all(), user, entities=frozenset(entities)).order_by("state", "name")
    )
    open_alerts = scope_queryset(Alert.objects.filter(state=AlertState.OPEN), user, entities=frozenset(entities))
    return {
        "periods": [{"key": k, "label": label, "start": s, "end": e} for k, label, s, e in periods],
        "per_entity": per_entity,
        "status_chart": status_chart,
        "source_chart": horizontal_bars(items=sources, title="Leads par source (30 jours)"),
        "provider_chart": horizontal_bars(items=providers, title="Leads par provider (30 jours)", color=PALETTE[4]),
        "form_chart": horizontal_bars(items=forms, title="Leads par formulaire (30 jours)", color=PALETTE[3]),
        "fill_chart": fill_bars(items=fill_items, title="Remplissage des commandes cette semaine"),
        "crm_chart": crm_chart,
        "crm_total": crm_total,
        "crm_failed_url": "/leads/?" + urlencode([("crm_status", "failed"), ("from", start14.isoformat())]),
        "crm_stopped_url": "/leads/?" + urlencode([("crm_status", "stopped"), ("from", start14.isoformat())]),
        "breakers_open": [b for b in breakers if b.state == CircuitState.OPEN],
        "breakers_count": len(breakers),
        "open_alerts": list(open_alerts[:5]),
        "open_alerts_count": open_alerts.count(),
        "month_total": sum(totals["month"][e]["received"] for e in entities),
    }
