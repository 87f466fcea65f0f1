"""Non-trivial reads on leads."""

import datetime
import time
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from leads.models import CrmStatus, Lead, OppositionEntry, Product, ProductField, TrackingEvent
from rdz.core.fastsql import HotRead, ModelReader, hot_cursor, hot_reads, rows_select
from rdz.core.models import AppSettings
from rdz.core.timeutils import PARIS, paris_day_bounds


def phone_is_opposed(*, phone: str) -> bool:
    """True when the (E.164) number is on the opposition list: never route, deliver or forward it (§16).

    Plain SQL: it runs in every intake.
    """
    with hot_cursor() as cursor:
        cursor.execute("SELECT 1 FROM leads_oppositionentry WHERE phone = %s LIMIT 1", [phone])
        return cursor.fetchone() is not None


def settings_and_opposition_read(*, phone: str) -> HotRead:
    """The settings record (§8) and whether `phone` is on the opposition list (§16): the two
    reads every intake needs, in one statement; builds (settings or None, opposed)."""
    reader = ModelReader.get(AppSettings, "t")

    def build(row) -> tuple[AppSettings | None, bool]:
        if row is None:  # no record yet
            return None, False
        return reader.build(row[: reader.size]), bool(row[reader.size])

    return HotRead(
        f"SELECT {reader.columns}, EXISTS(SELECT 1 FROM leads_oppositionentry o WHERE o.phone = %s)"  # noqa: S608
        f" FROM {AppSettings._meta.db_table} t WHERE t.id = %s",
        [phone, AppSettings.SINGLETON_ID],
        build=build,
    )


def intake_settings_and_opposition(*, phone: str, also: Sequence[HotRead] = ()) -> tuple:
    """(settings, opposed, *what the reads in `also` return): one round trip with them on
    PostgreSQL (rdz.core.fastsql.hot_reads). Intake passes its routing candidates."""
    (app_settings, opposed), *others = hot_reads(settings_and_opposition_read(phone=phone), *also)
    if app_settings is None:  # no record yet: settings_get creates it
        from rdz.core.services import settings_get

        app_settings, opposed = settings_get(), phone_is_opposed(phone=phone)
    return app_settings, opposed, *others


# Provider intake reads the product of every lead: a short per-process cache saves that
# statement. Saving a product or a product field clears it in this process; other
# processes see a change within PRODUCT_CACHE_TTL seconds (as for the public forms).
PRODUCT_CACHE_TTL = 5.0
_products: dict[str, tuple[float, Product | None]] = {}


def product_for_intake(*, code: str) -> Product | None:
    """`product_active_by_code`, through the per-process cache (read-only instances: they
    are shared between the requests of a process)."""
    key = code.upper()
    now = time.monotonic()
    hit = _products.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    product = product_active_by_code(code=code)
    if len(_products) > 1000:  # unknown codes are cached too: keep it bounded
        _products.clear()
    _products[key] = (now + PRODUCT_CACHE_TTL, product)
    return product


def product_cache_clear(*args, **kwargs) -> None:
    _products.clear()


def product_active_by_code(*, code: str) -> Product | None:
    """The active product with this code, in any case, and its declared extra fields
    (`product.declared_fields`, in display order) read by the same statement: intake runs
    it on every call (rdz.core.fastsql)."""
    products, fields = ModelReader.get(Product, "p"), ModelReader.get(ProductField, "f")
    sql = (
        f"SELECT {products.columns}, {fields.columns} FROM leads_product p"  # noqa: S608 (constant)
        " LEFT JOIN leads_productfield f ON f.product_id = p.id"
        " WHERE p.active AND UPPER(p.code) = UPPER(%s) ORDER BY p.code, p.id, f.position, f.id"
    )
    with hot_cursor() as cursor:
        cursor.execute(sql, [code])
        rows = cursor.fetchall()
    if not rows:
        return None
    product = products.build(rows[0][: products.size])
    product.declared_fields = [
        fields.build(row[products.size :]) for row in rows if row[0] == product.pk and row[products.size] is not None
    ]
    return product


def product_fields(*, product_id: int) -> list[ProductField]:
    """The product's declared extra fields (§3), in their display order."""
    return rows_select(ProductField, "product_id = %s", [product_id], order_by="position, id")


def opposition_entries(*, search: str = "", source: str = ""):
    """The opposition list, newest first (§16). `search` finds a number typed in any French
    format, or a word of the reason or source."""
    from leads.services_opposition import OppositionError, opposition_phone_normalize

    entries = OppositionEntry.objects.all().order_by("-created_at", "-id")
    if source:
        entries = entries.filter(source=source)
    search = search.strip()
    if search:
        try:
            number = opposition_phone_normalize(search)
        except OppositionError:
            entries = entries.filter(Q(reason__icontains=search) | Q(source__icontains=search))
        else:
            entries = entries.filter(phone=number)
    return entries


def opposition_sources() -> list[str]:
    """Distinct origins of the list (Bloctel, demande RGPD, …) for a filter."""
    return list(
        OppositionEntry.objects.exclude(source="").order_by("source").values_list("source", flat=True).distinct()
    )


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _funnel(visits: int, visitors: int, starts: int, termine: int) -> dict:
    return {
        "visits": visits,
        "visitors": visitors,
        "starts": starts,
        "termine": termine,
        "start_rate": _rate(starts, visits),
        "conversion_rate": _rate(termine, visits),
        "completion_rate": _rate(termine, starts),
    }


def form_stats(*, form, date_from: datetime.date, date_to: datetime.date) -> dict:
    """Funnel of a landing form over Paris days [date_from, date_to] (§11).

    visits / starts: tracking events; visitors: distinct visitor ids that visited;
    Terminé: every lead created from the form, whatever its status since (routed,
    no_order, duplicate, blacklisted, rejected, delivered, opposed all count). Rates in %
    (None when the base is 0): start = starts/visits, conversion = Terminé/visits,
    completion = Terminé/starts. Per variant and per day.
    """
    start, _ = paris_day_bounds(date_from)
    _, end = paris_day_bounds(date_to)
    events = TrackingEvent.objects.filter(form=form, created_at__gte=start, created_at__lt=end)
    leads = Lead.objects.filter(form=form, created_at__gte=start, created_at__lt=end)

    def by(qs, *fields, distinct_visitors: bool = False):
        out: dict = defaultdict(int)
        rows = qs.values(*fields).annotate(n=Count("visitor_id", distinct=True) if distinct_visitors else Count("id"))
        for row in rows:
            out[tuple(row[f] for f in fields)] += row["n"]
        return out

    day = TruncDate("created_at", tzinfo=PARIS)
    ev_day = by(events.annotate(day=day), "day", "event")
    ev_variant = by(events, "variant", "event")
    visitors_variant = by(events.filter(event="visit"), "variant", distinct_visitors=True)
    leads_day = by(leads.annotate(day=day), "day")
    leads_variant = by(leads, "variant")
    statuses = by(leads, "status")
    total_visitors = events.filter(event="visit").values("visitor_id").distinct().count()

    variant_names = [str(v.get("name")) for v in form.variants or [] if isinstance(v, dict)]
    seen = {k[0] for k in ev_variant} | {k[0] for k in leads_variant}
    names = variant_names + sorted(n for n in seen if n not in variant_names)
    variants = [
        {
            "variant": name,
            **_funnel(
                ev_variant[(name, "visit")],
                visitors_variant[(name,)],
                ev_variant[(name, "start")],
                leads_variant[(name,)],
            ),
        }
        for name in names
    ]
    days = []
    current = date_from
    while current <= date_to:
        days.append(
            {
                "day": current,
                "visits": ev_day[(current, "visit")],
                "starts": ev_day[(current, "start")],
                "termine": leads_day[(current,)],
            }
        )
        current += datetime.timedelta(days=1)
    totals = _funnel(
        sum(v for (_, e), v in ev_variant.items() if e == "visit"),
        total_visitors,
        sum(v for (_, e), v in ev_variant.items() if e == "start"),
        sum(leads_variant.values()),
    )
    return {
        "form": form.code,
        "date_from": date_from,
        "date_to": date_to,
        "totals": totals,
        "statuses": {status: n for (status,), n in sorted(statuses.items())},
        "variants": variants,
        "days": days,
    }


def lead_replay_find(*, provider, idempotency_key: str, external_id: str) -> Lead | None:
    """The provider's earlier lead with this Idempotency-Key (preferred) or external_id (§15 replay)."""
    if provider is None or not (idempotency_key or external_id):
        return None
    condition = Q()
    if idempotency_key:
        condition |= Q(idempotency_key=idempotency_key)
    if external_id:
        condition |= Q(external_id=external_id)
    matches = list(Lead.objects.filter(condition, provider=provider).order_by("created_at")[:2])
    for lead in matches:
        if idempotency_key and lead.idempotency_key == idempotency_key:
            return lead
    return matches[0] if matches else None


def crm_failed_count(*, entity: str, since: datetime.datetime) -> int:
    """Form leads of `entity` received since `since` whose CRM forwarding failed (§14
    threshold), as the dashboard and the statistics count them. Leads whose forwarding RDZ
    stopped on purpose (erased, opposed) are `stopped`, not failed."""
    return Lead.objects.filter(entity=entity, crm_status=CrmStatus.FAILED, created_at__gte=since).count()
