"""Lead statistics: the daily rollups (write side) and the reads the dashboard, the
Statistiques page and the stats API make on them (§13, §15).

A rollup row counts the leads received on one Paris day by their *current* status, so a
number on the dashboard matches the lead list filtered the same way. Statuses change after
reception (delivery, rejection, CRM forwarding, backlog recycling), so recent days are
rebuilt often by a scheduled job and older days nightly; today is rebuilt on demand when
its rows are older than `TODAY_MAX_AGE`.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from leads.models import DailyRollup, Lead, LeadEvent, LeadStatus
from rdz.core import locks
from rdz.core.locks import advisory_xact_lock
from rdz.core.timeutils import PARIS, paris_day_bounds, paris_today

ROLLUP_DIMENSIONS = ("entity", "product_id", "source", "provider_id", "form_id", "status", "crm_status")
TODAY_MAX_AGE = datetime.timedelta(seconds=60)
# Longest period the stats APIs answer for, bounds included: a year, a leap one too.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
PERIOD_REVERSED = "La date de début doit précéder la date de fin."
PERIOD_TOO_LONG = f"Période limitée à {MAX_PERIOD_DAYS} jours."
_FRESH_KEY = "leads:rollup:refreshed:{day}"

# Statuses a lead reaches once it was given to a client (the "attribués" figure).
ATTRIBUTED_STATUSES = (LeadStatus.ROUTED, LeadStatus.DELIVERED, LeadStatus.REJECTED)
DASHBOARD_STATUSES = (
    LeadStatus.ROUTED,
    LeadStatus.DELIVERED,
    LeadStatus.NO_ORDER,
    LeadStatus.DUPLICATE,
    LeadStatus.BLACKLISTED,
    LeadStatus.REJECTED,
    LeadStatus.OPPOSED,
)


class StatsPeriodError(ValueError):
    """A stats period that is read as typed cannot be answered; the message says why, in French."""


def stats_period(
    *, start: datetime.date | None, end: datetime.date | None, today: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period a stats read covers (§15), the same for the Statistiques page and the stats
    APIs: the end defaults to today, the start to 30 days up to the end. A start after the end
    or a period longer than `MAX_PERIOD_DAYS` is refused, never swapped nor cut."""
    end = end or today
    start = start or end - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise StatsPeriodError(PERIOD_REVERSED)
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise StatsPeriodError(PERIOD_TOO_LONG)
    return start, end


# --- Write side --------------------------------------------------------------------------
def _days(start: datetime.date, end: datetime.date) -> Iterable[datetime.date]:
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


def _lock_day(day: datetime.date) -> None:
    """Serialize rebuilds of one day (scheduled job vs. on-demand refresh): two interleaved
    delete-then-insert would count the day twice."""
    advisory_xact_lock(locks.ROLLUP_DAY, day.toordinal())


@transaction.atomic
def rollup_refresh_day(*, day: datetime.date) -> int:
    """Rebuild the rollup rows of one Paris day from the leads (idempotent). Returns the lead count."""
    _lock_day(day)
    start, end = paris_day_bounds(day)
    groups = (
        Lead.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values(*ROLLUP_DIMENSIONS)
        .annotate(n=Count("id"))
    )
    rows = [DailyRollup(day=day, count=g.pop("n"), **g) for g in groups]
    DailyRollup.objects.filter(day=day).delete()
    DailyRollup.objects.bulk_create(rows, batch_size=1000)
    transaction.on_commit(lambda: cache.set(_FRESH_KEY.format(day=day.isoformat()), timezone.now().timestamp(), 86400))
    return sum(r.count for r in rows)


def rollup_refresh(*, start: datetime.date, end: datetime.date) -> int:
    """Rebuild every day of [start, end], one short transaction per day."""
    return sum(rollup_refresh_day(day=day) for day in _days(start, end))


def rollup_refresh_recent(*, days: int) -> int:
    """Rebuild the last `days` days up to today (scheduled job)."""
    today = paris_today()
    return rollup_refresh(start=today - datetime.timedelta(days=days - 1), end=today)


def rollup_refresh_touched(*, since: datetime.datetime, before: datetime.date) -> int:
    """Rebuild the days before `before` whose leads changed since `since` (nightly job).

    The scheduled jobs rebuild recent days by date; a lead received months ago can still
    change (recycled from the backlog, opposed, erased), and its day would keep counting it
    under its old status. Every such change writes a timeline row: the days to rebuild are
    the reception days of the leads with a row since `since`.
    """
    cutoff, _ = paris_day_bounds(before)
    days = (
        LeadEvent.objects.filter(created_at__gte=since, lead__created_at__lt=cutoff)
        .annotate(day=TruncDate("lead__created_at", tzinfo=PARIS))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )
    return sum(rollup_refresh_day(day=day) for day in sorted(days))


def rollup_ensure_today() -> None:
    """On demand: rebuild today's rows when they are older than TODAY_MAX_AGE."""
    today = paris_today()
    stamp = cache.get(_FRESH_KEY.format(day=today.isoformat()))
    if stamp is None or timezone.now().timestamp() - stamp > TODAY_MAX_AGE.total_seconds():
        rollup_refresh_day(day=today)


# --- Reads -------------------------------------------------------------------------------
def rollup_queryset(*, entities: Iterable[str], start: datetime.date, end: datetime.date):
    """Rollup rows of `entities` over [start, end]. `entities` comes from rdz.core.scoping."""
    return DailyRollup.objects.filter(entity__in=sorted(entities), day__gte=start, day__lte=end)


def rollup_group(*, entities: Iterable[str], start: datetime.date, end: datetime.date, by: tuple[str, ...]) -> list:
    """Sum of counts grouped by the `by` columns (e.g. ("day", "status"))."""
    return list(
        rollup_queryset(entities=entities, start=start, end=end).order_by().values(*by).annotate(n=Sum("count"))
    )


def status_totals(*, entities: Iterable[str], start: datetime.date, end: datetime.date) -> dict[str, dict[str, int]]:
    """{entity: {"received": n, "attributed": n, <status>: n, …}} over [start, end]."""
    totals: dict[str, dict[str, int]] = {e: _empty_totals() for e in entities}
    for row in rollup_group(entities=entities, start=start, end=end, by=("entity", "status")):
        t = totals.setdefault(row["entity"], _empty_totals())
        t[row["status"]] = t.get(row["status"], 0) + row["n"]
        t["received"] += row["n"]
        if row["status"] in ATTRIBUTED_STATUSES:
            t["attributed"] += row["n"]
    return totals


def _empty_totals() -> dict[str, int]:
    return {"received": 0, "attributed": 0, **dict.fromkeys(DASHBOARD_STATUSES, 0)}


REJECTION_STATUSES = ("approved", "pending", "refused")


def rejections_by_day(
    *, entities: Iterable[str], start: datetime.date, end: datetime.date
) -> dict[tuple[datetime.date, str], dict[str, int]]:
    """{(Paris day, entity): {"approved": n, "pending": n, "refused": n}}: the rejections clients
    or staff *made* each day (§10), by the client's entity.

    `rejected` in a daily row counts the leads *received* that day that are rejected now, which
    matches the lead list; a rejection comes days after reception (delivery the next morning,
    a window of several days), so the rejections made on a day are counted here, by that day.
    """
    from commandes.models import Rejection

    first, _ = paris_day_bounds(start)
    _, last = paris_day_bounds(end)
    rows = (
        Rejection.objects.filter(entity__in=sorted(entities), created_at__gte=first, created_at__lt=last)
        .annotate(paris_day=TruncDate("created_at", tzinfo=PARIS))
        .order_by()
        .values("paris_day", "entity", "status")
        .annotate(n=Count("id"))
    )
    result: dict[tuple[datetime.date, str], dict[str, int]] = {}
    for row in rows:
        counts = result.setdefault((row["paris_day"], row["entity"]), dict.fromkeys(REJECTION_STATUSES, 0))
        counts[row["status"]] = counts.get(row["status"], 0) + row["n"]
    return result


def daily_rows(*, entities: Iterable[str], start: datetime.date, end: datetime.date) -> list[dict]:
    """One row per day and entity (zeros included): counts by status, CRM outcome, rejections (§15)."""
    entities = sorted(entities)
    table: dict[tuple, dict] = {}
    for day in _days(start, end):
        for entity in entities:
            table[(day, entity)] = {
                "day": day,
                "entity": entity,
                "received": 0,
                "attributed": 0,
                "rejected": 0,
                "by_status": dict.fromkeys(LeadStatus.values, 0),
                "crm": defaultdict(int),
                "rejections": dict.fromkeys(REJECTION_STATUSES, 0),
            }
    for row in rollup_group(entities=entities, start=start, end=end, by=("day", "entity", "status", "crm_status")):
        item = table.get((row["day"], row["entity"]))
        if item is None:
            continue
        item["received"] += row["n"]
        item["by_status"][row["status"]] = item["by_status"].get(row["status"], 0) + row["n"]
        if row["status"] in ATTRIBUTED_STATUSES:
            item["attributed"] += row["n"]
        if row["status"] == LeadStatus.REJECTED:
            item["rejected"] += row["n"]
        if row["crm_status"]:
            item["crm"][row["crm_status"]] += row["n"]
    for key, counts in rejections_by_day(entities=entities, start=start, end=end).items():
        if key in table:
            table[key]["rejections"] = counts
    result = []
    for item in table.values():
        item["crm"] = {k: item["crm"].get(k, 0) for k in ("pending", "sent", "fallback_sent", "failed", "stopped")}
        result.append(item)
    return result
