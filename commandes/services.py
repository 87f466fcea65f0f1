"""Commandes: OPEN state (§5), fill of the week, attributions (§7)."""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.db.models import Count, Model, Q, Sum

from commandes.models import Attribution, Commande, CommandeFill, DeliveryChannel
from rdz.core.fastsql import rows_insert
from rdz.core.outbox import outbox_dispatch_on_commit
from rdz.core.services import outbox_enqueue
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_now, week_start

# Outbox kinds owned by this app (registered in CommandesConfig.ready()).
OUTBOX_DELIVERY_POST = "delivery_post"
OUTBOX_DELIVERY_BATCH = "delivery_batch"
HTTP_MAX_ATTEMPTS = 5
WEEK = datetime.timedelta(days=7)

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
    """Attributions counted against the quota this ISO week and today (Paris), per commande.

    Read from the per-day counters (`CommandeFill`) the database keeps in step with the
    attributions: at most seven rows per commande.
    """
    local = paris_now(now)
    today = local.date()
    monday = week_start(today)
    if not commande_ids:
        return {}
    rows = (
        CommandeFill.objects.filter(commande_id__in=commande_ids, day__gte=monday, day__lt=monday + WEEK)
        .values("commande_id")
        .annotate(week=Sum("used"), day=Sum("used", filter=Q(day=today)))
    )
    fills = {cid: Fill(0, 0) for cid in commande_ids}
    for row in rows:
        fills[row["commande_id"]] = Fill(row["week"] or 0, row["day"] or 0)
    return fills


def commande_fill_rebuild(*, check_only: bool = False) -> list[tuple[int, datetime.date, int, int]]:
    """Compare the per-day quota counters with the attributions; rebuild them unless `check_only`.

    The database triggers keep them equal; this repairs them after an operation that
    bypassed triggers (a restore with `session_replication_role = replica`, a manual
    TRUNCATE). Returns the differences found: (commande, day, counted, kept). The table is
    locked while it compares and rewrites, so no attribution is written meanwhile.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE commandes_attribution IN SHARE MODE")
        rows = Attribution.objects.filter(counts_for_quota=True).values("commande_id", "day").annotate(n=Count("*"))
        counted = {(r["commande_id"], r["day"]): r["n"] for r in rows}
        kept = {(f.commande_id, f.day): f.used for f in CommandeFill.objects.all()}
        differences = sorted(
            (commande_id, day, counted.get((commande_id, day), 0), kept.get((commande_id, day), 0))
            for commande_id, day in set(counted) | set(kept)
            if counted.get((commande_id, day), 0) != kept.get((commande_id, day), 0)
        )
        if differences and not check_only:
            CommandeFill.objects.all().delete()
            CommandeFill.objects.bulk_create(
                CommandeFill(commande_id=commande_id, day=day, used=n) for (commande_id, day), n in counted.items()
            )
    return differences


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


@transaction.atomic(savepoint=False)  # one INSERT: a savepoint would only cost two round trips
def attribution_create(
    *,
    lead,
    commande,
    now: datetime.datetime,
    is_backlog: bool = False,
    explanation: dict | None = None,
    insert_with: Sequence[Sequence[Model]] = (),
) -> Attribution:
    """Store the attribution; for a client with an HTTP endpoint, also its outbox row (§10, §16).

    `insert_with`: groups of other new rows written by the same INSERT statement, ahead of
    the attribution (intake: the lead and its timeline, rdz.core.fastsql.rows_insert).

    `commande` is a `Commande` or the routing engine's candidate row (pk, client_id,
    entity, client.api_url). Runs inside the intake transaction: the only extra write is
    the outbox row, and the POST itself is enqueued after commit (a lead is committed
    before any outside call). The database trigger counts it in the commande's fill.
    """
    local = paris_now(now)
    http = bool(commande.client.api_url)
    attribution = Attribution(
        lead=lead,
        commande_id=commande.pk,
        client_id=commande.client_id,
        entity=commande.entity,
        phone=lead.phone,
        product_id=lead.product_id,
        is_backlog=is_backlog,
        created_at=now,
        week_start=week_start(local.date()),
        day=local.date(),
        explanation=explanation or {},
        channel=DeliveryChannel.HTTP if http else DeliveryChannel.CSV,
    )
    rows_insert(*insert_with, [attribution])
    if http:
        item = outbox_enqueue(
            kind=OUTBOX_DELIVERY_POST, ref=str(attribution.pk), entity=commande.entity, max_attempts=HTTP_MAX_ATTEMPTS
        )
        outbox_dispatch_on_commit(item)
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


def commande_quota_alerts(*, now: datetime.datetime | None = None) -> list[int]:
    """§14: alert once per commande, ISO week and quota when it reaches its weekly quota.

    Run by beat every few minutes (kept out of the intake transaction). The alert key
    holds the commande, the week and the quota, so a cleared alert is not raised again
    for that quota that week. An open alert closes itself once its commande is no longer
    full: a new week, a quota raised mid-week (which alerts again when the new quota is
    reached), a rejection credited back, the commande or its client deactivated (neither
    takes leads any more: nothing for staff to act on).
    """
    from rdz.core.models import Alert, AlertState
    from rdz.core.services import alert_clear, alert_raise

    monday = week_start(paris_now(now).date())
    full = list(
        CommandeFill.objects.filter(
            day__gte=monday, day__lt=monday + WEEK, commande__active=True, commande__client__active=True
        )
        .values("commande_id", "commande__weekly_quota")
        .annotate(week=Sum("used"))
        .filter(week__gte=models.F("commande__weekly_quota"))
    )
    keys = {
        row["commande_id"]: f"commande_quota:{row['commande_id']}:{monday.isoformat()}:{row['commande__weekly_quota']}"
        for row in full
    }
    over = (
        Alert.objects.filter(state=AlertState.OPEN, key__startswith="commande_quota:")
        .exclude(key__in=keys.values())
        .values_list("key", flat=True)
    )
    for key in list(over):
        alert_clear(key=key)
    raised = []
    for row in full:
        key = keys[row["commande_id"]]
        if Alert.objects.filter(key=key).exists():
            continue
        commande = Commande.objects.select_related("client", "product").get(pk=row["commande_id"])
        alert = alert_raise(
            entity=commande.entity,
            kind="quota_atteint",
            key=key,
            message=(
                f"La commande #{commande.pk} de {commande.client.name} ({commande.product.code}) a atteint son quota "
                f"hebdomadaire : {row['week']}/{count_noun(row['commande__weekly_quota'], 'lead')} pour la semaine du "
                f"{monday:%d/%m/%Y}."
            ),
        )
        if alert is not None:
            raised.append(commande.pk)
    return raised
