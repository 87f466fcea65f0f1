"""Provider intake under load (§15, §16): `POST /api/v1/leads/` against a bare-INSERT
baseline, in the same run, on PostgreSQL with ~100k existing leads.

    python bench/intake/run.py [--leads 100000] [--requests 1000] [--rounds 3]
                               [--concurrency 8] [--rate 100] [--rate-seconds 10]
                               [--database-url postgres://…/rdz_bench_intake] [--keep-db]

The benchmark database is created afresh, migrated, seeded (products, a ZR7 provider and
its key, 40 clients with open commandes (about ten PV candidates per departement), `--leads` existing leads of the last 60 days with
their attributions and timeline, bulk inserted), and dropped at the end (`--keep-db` keeps
it). A gunicorn server (bench.common.SERVER: the Dockerfile's 2 workers x 4 threads; the
project's settings plus a baseline route: bench/intake/settings.py) listens on 127.0.0.1 only.

Two measures, both endpoints on the same server:
- throughput: rounds alternate baseline (A) and intake (B); `--concurrency` keep-alive
  clients send `--requests` POSTs per round; requests/s is the median over rounds;
- latency at a fixed rate: `--rate` requests/s for `--rate-seconds`, open loop (each
  latency counts from the scheduled send time, so a stall is not hidden), p50/p99.
Every intake is a new person, routed to an open commande. The number of SQL queries of
one intake is counted in a separate process on the same database. Prints one JSON line.
"""

import argparse
import datetime
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import (
    ROOT,
    SERVER,
    database_drop,
    database_recreate,
    fixed_rate,
    free_port,
    load,
    migrate,
    ms,
    percentile,
    server_env,
    start_server,
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_intake"
SETTINGS = "bench.intake.settings"
TARGETS = {"ratio": 0.5, "p99_ms": 100.0}
DEPARTEMENTS = ["13", "83", "84", "06", "29", "35", "69", "38", "75", "92", "2A", "971", "33", "59", "31", "44"]


def prepare_database(database_url: str, leads: int) -> tuple[str, float]:
    """Fresh database, migrations, seed; returns (provider API key, seconds spent loading)."""
    database_recreate(database_url)
    env = server_env(database_url, SETTINGS)
    migrate(env)
    out = subprocess.run(
        [sys.executable, __file__, "--seed", str(leads)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    seeded = json.loads(out.strip().splitlines()[-1])
    return seeded["key"], seeded["load_seconds"]


def seed(leads: int) -> None:
    """Runs inside the benchmark database's environment (subprocess)."""
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from commandes.models import Attribution, Client, Commande
    from leads.models import Lead, LeadEvent, Product
    from providers.services import provider_create
    from rdz.core.services import settings_get
    from rdz.core.timeutils import paris_now, week_start

    rng = random.Random(7)
    settings_get()
    products = [
        Product.objects.get_or_create(code=code, defaults={"label": label})[0]
        for code, label in (("PV", "Panneaux solaires"), ("PAC", "Pompe à chaleur"), ("ITE", "Isolation"))
    ]
    provider, key = provider_create(name="Bench", entity="ZR7", slug="bench")
    commandes = []
    for n in range(40):
        entity = "ZR7" if n < 30 else "MDL"
        client = Client.objects.create(entity=entity, name=f"Client {n}", emails=[f"c{n}@exemple.fr"])
        # Several clients per product and departement, mostly at one priority: leads spread
        # over them by fill ratio, as in production (one hot client serializes on its lock).
        departements = ["*"] if n % 4 == 0 else rng.sample(DEPARTEMENTS, 8)
        commandes.append(
            Commande.objects.create(
                client=client,
                product=products[0] if n % 3 else products[n % 2 + 1],
                departements=departements,
                weekly_quota=10_000_000,
                priority=1 if n % 5 else 0,
            )
        )
    started = time.monotonic()
    now = timezone.now()
    batch = 5000
    with transaction.atomic():
        for first in range(0, leads, batch):
            rows, attributions, events = [], [], []
            for n in range(first, min(first + batch, leads)):
                created = now - datetime.timedelta(seconds=rng.randint(0, 60 * 86400))
                commande = commandes[n % len(commandes)]
                routed = n % 3 != 0
                lead = Lead(
                    entity=commande.entity,
                    entity_locked=True,
                    product_id=commande.product_id,
                    phone=f"+336{n:08d}",
                    email=f"personne{n}@exemple.fr",
                    first_name="Zoé",
                    last_name="Martin",
                    departement=rng.choice(DEPARTEMENTS),
                    source="bench",
                    provider=provider,
                    created_at=created,
                    status="routed" if routed else "no_order",
                )
                rows.append(lead)
                events.append(LeadEvent(lead=lead, kind="received", message="Reçu (bench)", created_at=created))
                if routed:
                    local = paris_now(created).date()
                    attributions.append(
                        Attribution(
                            lead=lead,
                            commande=commande,
                            client_id=commande.client_id,
                            entity=commande.entity,
                            phone=lead.phone,
                            product_id=commande.product_id,
                            created_at=created,
                            week_start=week_start(local),
                            day=local,
                        )
                    )
            Lead.objects.bulk_create(rows)
            Attribution.objects.bulk_create(attributions)
            LeadEvent.objects.bulk_create(events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(json.dumps({"key": key, "load_seconds": round(time.monotonic() - started, 1)}))


def count_queries(key: str) -> None:
    """Runs inside the benchmark database's environment: SQL statements of one intake."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    body = {"phone": "0799999999", "product": "PV", "departement": "13"}  # 079…: unused by the load
    with CaptureQueriesContext(connection) as ctx:
        response = client.post("/api/v1/leads/", body, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 201, response.content
    print(json.dumps({"queries": len(ctx.captured_queries), "status": response.json()["status"]}))


class Endpoint:
    def __init__(self, name: str, path: str, headers: dict):
        self.name = name
        self.path = path
        self.headers = {"Content-Type": "application/json", **headers}

    def __call__(self, n: int) -> tuple[str, str, dict[str, str]]:
        """The load loops' request n: this endpoint's path and headers, the body of person n."""
        return self.path, self.body(n), self.headers

    @staticmethod
    def body(n: int) -> str:
        # 076… numbers: never one of the 06… leads already loaded, so every intake routes.
        return json.dumps(
            {
                "phone": f"076{n % 10_000_000:07d}",
                "product": "PV",
                "departement": DEPARTEMENTS[n % len(DEPARTEMENTS)],
                "first_name": "Zoé",
                "last_name": "Martin",
                "email": f"bench{n}@exemple.fr",
                "consent": True,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000, help="existing leads loaded before measuring")
    parser.add_argument("--requests", type=int, default=1000, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="fixed rate of the latency measure (req/s)")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database at the end")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count-queries", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is not None:
        seed(args.seed)
        return
    if args.count_queries:
        count_queries(args.count_queries)
        return

    key, load_seconds = prepare_database(args.database_url, args.leads)
    port = free_port()
    baseline = Endpoint("baseline", "/bench/baseline/", {})
    intake = Endpoint("intake", "/api/v1/leads/", {"X-API-Key": key})
    results = {e.name: {"rps": [], "errors": []} for e in (baseline, intake)}
    rate_results = {}
    server = start_server(
        "bench.intake.wsgi:application", server_env(args.database_url, SETTINGS), port, "/bench/ready/"
    )
    try:
        offset = 0
        for endpoint in (baseline, intake):  # warm-up: imports, connections, caches
            load(port, endpoint, start=9_000_000 + offset, requests=100, concurrency=args.concurrency)
            offset += 100
        offset = 0
        for _ in range(args.rounds):
            for endpoint in (baseline, intake):  # A/B alternate, so drift hits both alike
                run = load(port, endpoint, start=offset, requests=args.requests, concurrency=args.concurrency)
                offset += args.requests
                results[endpoint.name]["rps"].append(run["rps"])
                results[endpoint.name]["errors"].extend(run["errors"])
        for endpoint in (baseline, intake):
            rate_results[endpoint.name] = fixed_rate(
                port, endpoint, start=offset, rate=args.rate, seconds=args.rate_seconds
            )
            offset += int(args.rate * args.rate_seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    try:
        counted = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--count-queries", key],
                cwd=ROOT,
                env=server_env(args.database_url, SETTINGS),
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    finally:
        if not args.keep_db:
            database_drop(args.database_url)

    rps = {name: statistics.median(data["rps"]) for name, data in results.items()}
    summary: dict = {
        "bench": "intake",
        "database": "postgresql",
        "existing_leads": args.leads,
        "load_seconds": load_seconds,
        "server": SERVER,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "baseline_rps": round(rps["baseline"], 1),
        "intake_rps": round(rps["intake"], 1),
        "ratio": round(rps["intake"] / rps["baseline"], 3),
        "fixed_rate_rps": args.rate,
    }
    for name, data in rate_results.items():
        summary[f"{name}_p50_ms"] = ms(percentile(data["latencies"], 50))
        summary[f"{name}_p99_ms"] = ms(percentile(data["latencies"], 99))
    summary["queries_per_intake"] = counted["queries"]
    summary["errors"] = sum(len(d["errors"]) for d in results.values()) + sum(
        len(d["errors"]) for d in rate_results.values()
    )
    statuses: dict[str, int] = {}
    for data in [*results.values(), *rate_results.values()]:
        for status in data["errors"]:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    summary["error_statuses"] = statuses
    summary["targets"] = TARGETS
    summary["ok"] = (
        summary["ratio"] >= TARGETS["ratio"] and summary["intake_p99_ms"] < TARGETS["p99_ms"] and not summary["errors"]
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
