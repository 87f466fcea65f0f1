"""Daily CSV benchmark (§10): build the daily CSVs of N pending attributions over 50
clients, timed against PostgreSQL's own `COPY … TO` of the same rows, and the peak memory
for two sizes to show the build streams.

    python bench/daily_csv/run.py [--sizes 10000,100000] [--clients 50] [--database-url postgres://…/rdz_bench_daily_csv]

Each size is seeded, then measured in a fresh process (peak RSS is per process); the
result is one JSON line on stdout. The benchmark database is created if missing and never
the one of DATABASE_URL unless given explicitly.
"""

import argparse
import datetime
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, child_env, database_ensure

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_daily_csv"
REPEAT = 3

COPY_SQL = """
COPY (
    SELECT l.id, a.created_at, l.first_name, l.last_name, l.phone, l.email, l.departement, p.code,
           c.id, c.name, a.is_backlog, l.extra
    FROM commandes_attribution a
    JOIN leads_lead l ON l.id = a.lead_id
    JOIN leads_product p ON p.id = a.product_id
    JOIN commandes_commande c ON c.id = a.commande_id
    WHERE a.client_id = %s AND a.status = 'pending' AND a.channel = 'csv'
    ORDER BY a.created_at, a.id
) TO STDOUT WITH (FORMAT csv, DELIMITER ';', HEADER)
"""


def seed(rows: int, clients: int) -> None:
    """Empty the tables, then `rows` pending attributions spread over `clients` clients."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from commandes.models import Attribution, Client, Commande
    from leads.models import Lead, Product, ProductField
    from rdz.core.timeutils import paris_today, week_start

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE commandes_attribution, commandes_deliverybatch, commandes_commande, commandes_client, "
            "leads_leadevent, leads_lead CASCADE"
        )
    product, _ = Product.objects.get_or_create(code="PAC", defaults={"label": "Pompe à chaleur"})
    ProductField.objects.get_or_create(product=product, name="surface", defaults={"label": "Surface (m²)"})
    commandes = []
    for n in range(clients):
        client = Client.objects.create(entity="ZR7" if n % 2 else "MDL", name=f"Client {n}", emails=[f"c{n}@ex.fr"])
        commandes.append(
            Commande.objects.create(client=client, product=product, departements=["*"], weekly_quota=10**6)
        )
    today = paris_today()
    now = timezone.now()
    chunk = 5000
    for start in range(0, rows, chunk):
        leads = [
            Lead(
                entity=commandes[i % clients].entity,
                product=product,
                phone=f"+3361{i:07d}",
                email=f"personne{i}@exemple.fr",
                first_name="Anaïs",
                last_name="Lefèvre",
                departement="13",
                source="bench",
                status="routed",
                extra={"surface": 100 + i % 50},
            )
            for i in range(start, min(rows, start + chunk))
        ]
        Lead.objects.bulk_create(leads)
        Attribution.objects.bulk_create(
            [
                Attribution(
                    lead=lead,
                    commande=commandes[(start + k) % clients],
                    client_id=commandes[(start + k) % clients].client_id,
                    entity=lead.entity,
                    phone=lead.phone,
                    product=product,
                    is_backlog=(start + k) % 10 == 0,
                    created_at=now - datetime.timedelta(seconds=start + k),
                    week_start=week_start(today),
                    day=today,
                )
                for k, lead in enumerate(leads)
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(rows: int) -> dict:
    import django

    django.setup()
    from django.db import connection

    from commandes.delivery import _pending_csv, delivery_csv_write
    from commandes.models import Client
    from rdz.core.timeutils import paris_today

    today = paris_today()
    client_ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))

    def build() -> int:
        count = 0
        for client_id in client_ids:
            with tempfile.TemporaryFile(mode="w+b") as tmp:
                text = io.TextIOWrapper(tmp, encoding="utf-8", newline="")
                count += delivery_csv_write(attributions=_pending_csv(client_id=client_id, day=today), out=text)
                text.flush()
                text.detach()
        return count

    def copy() -> int:
        size = 0
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3 cursor
            for client_id in client_ids:
                with tempfile.TemporaryFile(mode="w+b") as tmp, raw.copy(COPY_SQL, (client_id,)) as copy:
                    for block in copy:
                        tmp.write(block)
                        size += len(block)
        return size

    build()  # warm-up: connection, caches, imports
    copy()
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Best of REPEAT for both, run alternately: the machine may be shared, and noise only adds time.
    build_times, copy_times = [], []
    for _ in range(REPEAT):
        started = time.perf_counter()
        written = build()
        build_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        copy()
        copy_times.append(time.perf_counter() - started)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    build_seconds, copy_seconds = min(build_times), min(copy_times)
    tracemalloc.start()
    build()
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert written == rows, (written, rows)
    return {
        "rows": rows,
        "csv_seconds": round(build_seconds, 3),
        "copy_seconds": round(copy_seconds, 3),
        "csv_over_copy": round(build_seconds / copy_seconds, 2),
        "peak_rss_mb": round(peak_rss / 1024, 1),
        "rss_growth_during_build_mb": round((peak_rss - baseline_rss) / 1024, 1),
        "python_heap_peak_mb": round(heap_peak / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdz.settings")
    if args.seed:
        seed(args.seed, args.clients)
        return
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    database_ensure(args.database_url)
    env = child_env(args.database_url)
    runs = []
    for rows in [int(s) for s in args.sizes.split(",")]:
        subprocess.run(
            [sys.executable, __file__, "--seed", str(rows), "--clients", str(args.clients)],
            env=env,
            cwd=ROOT,
            check=True,
        )
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(rows)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    small, large = runs[0], runs[-1]
    print(
        json.dumps(
            {
                "bench": "daily_csv",
                "database": "postgresql",
                "clients": args.clients,
                "runs": runs,
                "peak_rss_ratio_large_over_small": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
                "targets": {
                    "csv_over_copy_max": 5,
                    "peak_memory_ratio_max": 1.3,
                    "met": large["csv_over_copy"] <= 5 and large["peak_rss_mb"] <= 1.3 * small["peak_rss_mb"],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
