"""Dashboard and stats API on 1M leads over 90 days (PostgreSQL), against the raw
`GROUP BY` over the same rows, in the same run (§13, §15).

    python bench/dashboard/run.py [--leads 1000000] [--days 90] [--repeat 7]
                                  [--database-url postgres://…/rdz_bench_dashboard]

The benchmark database is created afresh and migrated; leads are generated in SQL
(`generate_series`), the daily rollups are built once (as the scheduled job does), then
each measure is the median of `--repeat` runs after a warm-up:
- raw: the 30-day GROUP BY (Paris day, entity, status) over the leads table;
- dashboard: GET / (all charts, both entities) through Django's full stack;
- stats_api: GET /api/v1/stats/daily/ for 30 days;
- lead_list: GET /leads/ with a filter (LEAD_LISTS below), first page.
Prints one JSON line.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, SECRET_KEY, database_recreate

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_dashboard"
TARGETS = {"dashboard_vs_raw": 0.2, "dashboard_ms": 300, "lead_list_ms": 200}
# First page (50 rows, newest first) of the lead list, as a superuser (both entities).
LEAD_LISTS = {
    "status_entity": "/leads/?status=delivered&entity=ZR7",
    "status_product": "/leads/?status=rejected&product=ITE",
    "departement_product": "/leads/?departement=13&product=PAC",
    "source": "/leads/?source=prov-zr7-1",
    "phone_search": "/leads/?q=06+10+00+12+34",
    "date_range_7d": "/leads/?from={week_ago}&to={today}&status=no_order",
}


def _setup(database_url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "rdz.settings",
            "DEBUG": "False",
            "SECRET_KEY": SECRET_KEY,
            "SECURE_SSL_REDIRECT": "False",
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
            "CACHE_URL": "locmemcache://",
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
            # DEBUG=False serves hashed static names: collected once into a scratch folder.
            "STATIC_ROOT": str(ROOT / "var" / "bench-static"),
        }
    )


def _defaults_sql(model, given: dict[str, str]) -> tuple[str, str]:
    """Column list and SELECT expressions: `given` plus a neutral value for every other
    NOT NULL column (so the generator keeps working when fields are added)."""
    from django.db import models

    columns, values = [], []
    for field in model._meta.concrete_fields:
        column = field.column
        if column in given:
            expression = given[column]
        elif field.null or isinstance(field, models.AutoField):
            continue
        elif isinstance(field, models.BooleanField):
            expression = "false"
        elif isinstance(field, models.JSONField):
            expression = "'[]'::jsonb" if field.default is list else "'{}'::jsonb"
        elif isinstance(field, models.IntegerField | models.DecimalField | models.FloatField):
            expression = "0"
        elif isinstance(field, models.DateTimeField):
            expression = "now()"
        else:
            expression = "''"
        columns.append(f'"{column}"')
        values.append(expression)
    return ", ".join(columns), ", ".join(values)


def seed(*, leads: int, days: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from commandes.models import Attribution, Client, Commande
    from leads.models import Lead, LeadForm, Product
    from providers.models import Provider
    from rdz.core.timeutils import paris_today, week_start

    products = [
        Product.objects.create(code=c, label=label)
        for c, label in [("PV", "Panneaux solaires"), ("PAC", "Pompe à chaleur"), ("ITE", "Isolation")]
    ]
    providers = [
        Provider.objects.create(name=f"Provider {e} {i}", slug=f"prov-{e.lower()}-{i}", entity=e)
        for e in ("ZR7", "MDL")
        for i in range(3)
    ]
    forms = [
        LeadForm.objects.create(
            code=f"form-{e.lower()}", name=f"Formulaire {e}", entity=e, product=products[0], target_crm=e
        )
        for e in ("ZR7", "MDL")
    ]
    commandes = []
    for e in ("ZR7", "MDL"):
        for i, product in enumerate(products):
            client = Client.objects.create(entity=e, name=f"Client {e} {i}", emails=[f"c{i}@{e.lower()}.fr"])
            commandes.append(
                Commande.objects.create(client=client, product=product, departements=["*"], weekly_quota=100_000)
            )
    User = get_user_model()
    User.objects.create_superuser("bench", "bench@rdz.local", "bench-password-2026")

    provider_ids = "ARRAY[" + ",".join(str(p.pk) for p in providers) + "]"
    product_ids = "ARRAY[" + ",".join(str(p.pk) for p in products) + "]"
    form_ids = {f.entity: f.pk for f in forms}
    # One lead in six comes from a form (not locked, CRM forwarded), the rest from providers.
    given = {
        "id": "gen_random_uuid()",
        "entity": "g.entity",
        "entity_locked": "g.provider_id IS NOT NULL",
        "product_id": f"({product_ids})[1 + (g.n % 3)]",
        "phone": "'+336' || lpad((10000000 + g.n)::text, 8, '0')",
        "email": "'p' || g.n || '@exemple.fr'",
        "first_name": "'Jean'",
        "last_name": "'Martin'",
        "departement": "lpad((1 + g.n % 95)::text, 2, '0')",
        "source": "CASE WHEN g.provider_id IS NULL THEN g.form_code ELSE 'prov-' || lower(g.entity) || '-' || (g.n % 3) END",
        "provider_id": "g.provider_id",
        "form_id": "g.form_id",
        "created_at": f"now() - (random() * interval '{days} days')",
        "status": "(ARRAY['routed','delivered','delivered','delivered','no_order','duplicate','blacklisted','rejected'])[1 + (g.n * 7 % 8)]",
        "crm_status": "CASE WHEN g.form_id IS NULL THEN '' ELSE (ARRAY['sent','sent','sent','fallback_sent','failed','pending'])[1 + (g.n % 6)] END",
    }
    columns, values = _defaults_sql(Lead, given)
    generator = f"""
        SELECT n,
               CASE WHEN n % 2 = 0 THEN 'ZR7' ELSE 'MDL' END AS entity,
               CASE WHEN n % 6 = 5 THEN NULL ELSE ({provider_ids})[1 + (n % 2) * 3 + (n % 3)] END AS provider_id,
               CASE WHEN n % 6 = 5 THEN (CASE WHEN n % 2 = 0 THEN {form_ids["ZR7"]} ELSE {form_ids["MDL"]} END) END AS form_id,
               CASE WHEN n % 2 = 0 THEN 'form-zr7' ELSE 'form-mdl' END AS form_code
        FROM generate_series(1, {leads}) AS n
    """
    # The provider of a ZR7 lead must be a ZR7 provider: providers[0..2] are ZR7, [3..5] MDL,
    # and n % 2 = 0 is ZR7 → index 1 + 0*3 + n%3; odd n is MDL → 1 + 3 + n%3.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "leads_lead" ({columns}) SELECT {values} FROM ({generator}) AS g')
        # Attributions of this week's attributed leads: the commande fill on the dashboard.
        monday = week_start(paris_today())
        commande_of = " ".join(
            f"WHEN l.entity = '{c.entity}' AND l.product_id = {c.product_id} THEN {c.pk}" for c in commandes
        )
        client_of = " ".join(f"WHEN {c.pk} THEN {c.client_id}" for c in commandes)
        attr_given = {
            "lead_id": "x.id",
            "commande_id": "x.commande_id",
            "client_id": f"CASE x.commande_id {client_of} END",
            "entity": "x.entity",
            "phone": "x.phone",
            "product_id": "x.product_id",
            "created_at": "x.created_at",
            "week_start": f"DATE '{monday.isoformat()}'",
            "day": "(x.created_at AT TIME ZONE 'Europe/Paris')::date",
            "counts_for_quota": "true",
            "status": "CASE WHEN x.status = 'routed' THEN 'pending' ELSE 'delivered' END",
            "explanation": "'{}'::jsonb",
        }
        attr_columns, attr_values = _defaults_sql(Attribution, attr_given)
        cursor.execute(
            f"""INSERT INTO "commandes_attribution" ({attr_columns})
                SELECT {attr_values} FROM (
                    SELECT l.*, CASE {commande_of} END AS commande_id FROM leads_lead l
                    WHERE l.status IN ('routed', 'delivered')
                      AND l.created_at >= %s
                ) AS x""",
            [datetime.datetime.combine(monday, datetime.time.min, tzinfo=datetime.UTC) - datetime.timedelta(hours=2)],
        )
        cursor.execute("ANALYZE")
    return {"generate_s": round(time.perf_counter() - started, 1)}


def _median_ms(func, repeat: int) -> float:
    func()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def measure(*, repeat: int, days: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from leads.stats import rollup_refresh
    from rdz.core.timeutils import paris_day_bounds, paris_today

    today = paris_today()
    started = time.perf_counter()
    rollup_refresh(start=today - datetime.timedelta(days=days), end=today)
    rollup_s = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_dailyrollup")

    start30 = today - datetime.timedelta(days=29)
    since = paris_day_bounds(start30)[0]

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT (created_at AT TIME ZONE 'Europe/Paris')::date AS day, entity, status, count(*)
                   FROM leads_lead WHERE created_at >= %s GROUP BY 1, 2, 3""",
                [since],
            )
            cursor.fetchall()

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))

    def get(url):
        def run():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return run

    rows = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead WHERE created_at >= %s", [since])
        rows = cursor.fetchone()[0]
    results = {
        "raw_group_by_30d_ms": _median_ms(raw, repeat),
        "dashboard_ms": _median_ms(get("/"), repeat),
        "stats_api_30d_ms": _median_ms(get(f"/api/v1/stats/daily/?from={start30}&to={today}"), repeat),
        **{
            f"lead_list_{name}_ms": _median_ms(
                get(url.format(week_ago=today - datetime.timedelta(days=6), today=today)), repeat
            )
            for name, url in LEAD_LISTS.items()
        },
        "rollup_build_s": rollup_s,
        "rows_30d": rows,
    }
    results["dashboard_vs_raw"] = round(results["dashboard_ms"] / results["raw_group_by_30d_ms"], 3)
    results["targets_met"] = (
        results["dashboard_vs_raw"] <= TARGETS["dashboard_vs_raw"]
        and results["dashboard_ms"] < TARGETS["dashboard_ms"]
        and max(results[f"lead_list_{name}_ms"] for name in LEAD_LISTS) < TARGETS["lead_list_ms"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    _setup(args.database_url)
    database_recreate(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    info = seed(leads=args.leads, days=args.days)
    info.update(measure(repeat=args.repeat, days=args.days))
    print(json.dumps({"bench": "dashboard", "leads": args.leads, "days": args.days, **info, "targets": TARGETS}))


if __name__ == "__main__":
    main()
