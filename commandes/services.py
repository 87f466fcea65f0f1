"""Commandes: OPEN state (§5), fill of the week, attributions (§7)."""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q

from commandes.models import Attribution, Client, Commande
from rdz.core.timeutils import paris_now, week_start

DUPLICATE_WINDOW = datetime.timedelta(days=30)


class CommandeError(Exception):
    """A refused commande operation, with a French message."""


@dataclass(frozen=True)
class Fill:
    week: int
    day: int


def commande_closed_reason(commande: Commande, *, today: datetime.date) -> str | None:
    """Why the commande is not OPEN, ignoring the quota (French), or None (§5)."""
    if not commande.active:
        return "commande inactive"
    if not commande.client.active:
        return "client inactif"
    if commande.starts_on and today < commande.starts_on:
        return f"pas encore commencée (début le {commande.starts_on:%d/%m/%Y})"
    if commande.ends_on and today > commande.ends_on:
        return f"terminée (fin le {commande.ends_on:%d/%m/%Y})"
    return None


def commande_fills(*, commande_ids: list[int], now: datetime.datetime | None = None) -> dict[int, Fill]:
    """Attributions counted against the quota this ISO week and today (Paris), per commande."""
    local = paris_now(now)
    today = local.date()
    monday = week_start(today)
    if not commande_ids:
        return {}
    rows = (
        Attribution.objects.filter(commande_id__in=commande_ids, week_start=monday, counts_for_quota=True)
        .values("commande_id")
        .annotate(week=Count("id"), day=Count("id", filter=Q(day=today)))
    )
    fills = {cid: Fill(0, 0) for cid in commande_ids}
    for row in rows:
        fills[row["commande_id"]] = Fill(row["week"], row["day"])
    return fills


def commande_quota_reason(commande: Commande, fill: Fill) -> str | None:
    if fill.week >= commande.weekly_quota:
        return f"quota hebdomadaire atteint ({fill.week}/{commande.weekly_quota})"
    if commande.daily_cap is not None and fill.day >= commande.daily_cap:
        return f"plafond journalier atteint ({fill.day}/{commande.daily_cap})"
    return None


def commande_is_open(*, commande: Commande, now: datetime.datetime | None = None) -> bool:
    """§5: active, client active, within dates, below the weekly quota (and the daily cap)."""
    today = paris_now(now).date()
    if commande_closed_reason(commande, today=today):
        return False
    fill = commande_fills(commande_ids=[commande.pk], now=now)[commande.pk]
    return commande_quota_reason(commande, fill) is None


def duplicate_clients(*, client_ids: list[int], phone: str, product_id: int, now: datetime.datetime) -> set[int]:
    """Clients that already received this phone for this product in the last 30 days (§6)."""
    if not client_ids:
        return set()
    return set(
        Attribution.objects.filter(
            client_id__in=client_ids, phone=phone, product_id=product_id, created_at__gt=now - DUPLICATE_WINDOW
        ).values_list("client_id", flat=True)
    )


def client_lock(*, client_id: int) -> None:
    """Row lock on the client: serializes attributions to one client (quota and §6 checks)."""
    list(Client.objects.select_for_update().filter(pk=client_id).values_list("pk", flat=True))


@transaction.atomic(savepoint=False)  # one INSERT: a savepoint would only cost two round trips
def attribution_create(
    *, lead, commande: Commande, now: datetime.datetime, is_backlog: bool = False, explanation: dict | None = None
) -> Attribution:
    local = paris_now(now)
    attribution = Attribution.objects.create(
        lead=lead,
        commande=commande,
        client_id=commande.client_id,
        entity=commande.entity,
        phone=lead.phone,
        product_id=lead.product_id,
        is_backlog=is_backlog,
        created_at=now,
        week_start=week_start(local.date()),
        day=local.date(),
        explanation=explanation or {},
    )
    return attribution


@transaction.atomic
def commande_set_active(*, commandes, active: bool, actor=None) -> int:
    """Activate or deactivate commandes (already scoped by the caller), audited."""
    from rdz.core.services import audit_log

    count = 0
    for commande in commandes.select_for_update():
        if commande.active == active:
            continue
        Commande.objects.filter(pk=commande.pk).update(active=active)
        audit_log(
            action="commande_activate" if active else "commande_deactivate",
            actor=actor,
            entity=commande.entity,
            obj=commande,
            message=f"Commande #{commande.pk} {'activée' if active else 'désactivée'}",
        )
        count += 1
    return count
