"""Landing endpoints under load (§11): `POST /api/v1/track/` and
`POST /api/v1/forms/<code>/submit/` against the core benchmark's bare-INSERT baseline
(bench/intake/urls.py: parse the JSON body, INSERT one lead row), in the same run.

    python bench/track/run.py [--requests 600] [--rounds 3] [--concurrency 8]
                              [--database-url postgres://…/rdz_bench_track] [--keep-db]

A gunicorn server (bench.common.SERVER: the Dockerfile's 2 workers x 4 threads; the project's
settings plus that baseline route:
bench/track/settings.py) runs on a freshly migrated benchmark database (a PostgreSQL one is
dropped at the end unless `--keep-db`); client threads
with keep-alive connections send the requests. Rounds alternate baseline, track, submit;
the throughput of each endpoint is the median over rounds, p50/p99 over all requests.
Every submission is a new person (its own phone, visitor and address) from one of 70
departements, routed to the open commande of one of 8 clients and queued for CRM forwarding
(in-memory broker: no worker). Prints one JSON line.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import (
    ROOT,
    SERVER,
    database_drop,
    database_recreate,
    free_port,
    load,
    migrate,
    ms,
    percentile,
    server_env,
    start_server,
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_track"
ORIGIN = "https://bench.exemple.fr"
FORM = "bench-pv"
SETTINGS = "bench.track.settings"
TARGETS = {"track": 0.8, "submit": 0.5}
DEPARTEMENT_GROUPS = [[f"{d:02d}" for d in range(start, start + 10)] for start in range(1, 81, 10)]
# Round-robin over the groups: consecutive (so concurrent) submissions go to different clients.
DEPARTEMENTS = [group[i] for i in range(10) for group in DEPARTEMENT_GROUPS if group[i] != "20"]


def prepare_database(database_url: str) -> None:
    """Create the benchmark database afresh (PostgreSQL) or empty the file (SQLite), migrate, seed."""
    parts = urlsplit(database_url)
    if parts.scheme.startswith("postgres"):
        database_recreate(database_url)
    else:
        path = Path(parts.path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = server_env(database_url, SETTINGS)
    migrate(env)
    subprocess.run([sys.executable, __file__, "--seed"], cwd=ROOT, env=env, check=True)


def seed() -> None:
    import django

    django.setup()
    from commandes.models import Client, Commande
    from leads.models import Product
    from leads.services_forms import leadform_create

    # First product: the baseline view of bench/intake inserts its leads with product id 1.
    product, _ = Product.objects.get_or_create(code="PV", defaults={"label": "Panneaux solaires"})
    leadform_create(
        code=FORM,
        name="Bench",
        entity="ZR7",
        product=product,
        allowed_origins=[ORIGIN],
        variants=[{"name": "A", "weight": 1}, {"name": "B", "weight": 1}],
        crm_api_key="bench-key",
    )
    # Eight clients, each buying its own departements, as in production (an attribution locks
    # its client until commit: leads of different areas are routed in parallel).
    for n, group in enumerate(DEPARTEMENT_GROUPS):
        client = Client.objects.create(entity="ZR7", name=f"Client bench {n}", emails=[f"bench{n}@exemple.fr"])
        Commande.objects.create(client=client, product=product, departements=group, weekly_quota=10_000_000)


def analyze(database_url: str) -> None:
    parts = urlsplit(database_url)
    if parts.scheme.startswith("postgres"):
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    else:
        import sqlite3

        with sqlite3.connect(parts.path) as conn:
            conn.execute("ANALYZE")


class Endpoint:
    def __init__(self, name: str, path: str, body):
        self.name = name
        self.path = path
        self.body = body  # callable(n) -> dict


ENDPOINTS = [
    Endpoint(
        "baseline",
        "/bench/baseline/",
        lambda n: {"phone": f"07{10000000 + n:08d}", "departement": "13", "first_name": "Zoé", "last_name": "Martin"},
    ),
    Endpoint(
        "track",
        f"/api/v1/track/?form={FORM}",
        lambda n: {"form": FORM, "event": "visit", "visitor_id": f"visitor-{n:08d}", "variant": "A"},
    ),
    Endpoint(
        "submit",
        f"/api/v1/forms/{FORM}/submit/",
        lambda n: {
            "phone": f"06{10000000 + n:08d}",
            "departement": DEPARTEMENTS[n % len(DEPARTEMENTS)],
            "first_name": "Zoé",
            "last_name": "Martin",
            "email": f"personne{n}@exemple.fr",
            "consent": True,
            "visitor_id": f"visitor-{n:08d}",
            "variant": "B",
            "consent_page_url": f"{ORIGIN}/pv",
        },
    ),
]


def request(endpoint: Endpoint, n: int) -> tuple[str, str, dict[str, str]]:
    """Request n of an endpoint: JSON body, the landing page's origin and, as one address per
    simulated visitor, an X-Forwarded-For in a documentation range (never contacted)."""
    headers = {
        "Content-Type": "application/json",
        "Origin": ORIGIN,
        "X-Forwarded-For": f"198.51.{(n // 250) % 250}.{n % 250}",
    }
    return endpoint.path, json.dumps(endpoint.body(n)), headers


def run(port: int, endpoint: Endpoint, *, start: int, requests: int, concurrency: int) -> dict:
    """The shared closed loop on one endpoint; track and submit may answer 204."""
    return load(
        port,
        lambda n: request(endpoint, n),
        start=start,
        requests=requests,
        concurrency=concurrency,
        ok=(200, 201, 204),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database at the end")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed()
        return

    prepare_database(args.database_url)
    port = free_port()
    server = start_server(
        "bench.track.wsgi:application", server_env(args.database_url, SETTINGS), port, f"/t/{FORM}.js"
    )
    results: dict[str, dict] = {e.name: {"rps": [], "latencies": [], "errors": []} for e in ENDPOINTS}
    try:
        for endpoint in ENDPOINTS:  # warm-up: imports, connections, caches
            run(port, endpoint, start=9_000_000, requests=100, concurrency=args.concurrency)
        analyze(args.database_url)  # planner statistics, as a live database has them
        offset = 0
        for _ in range(args.rounds):
            for endpoint in ENDPOINTS:
                measured = run(port, endpoint, start=offset, requests=args.requests, concurrency=args.concurrency)
                offset += args.requests
                results[endpoint.name]["rps"].append(measured["rps"])
                results[endpoint.name]["latencies"].extend(measured["latencies"])
                results[endpoint.name]["errors"].extend(measured["errors"])
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.keep_db and urlsplit(args.database_url).scheme.startswith("postgres"):
            database_drop(args.database_url)

    summary: dict = {
        "bench": "track",
        "database": urlsplit(args.database_url).scheme.split("+")[0],
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "server": SERVER,
    }
    baseline_rps = statistics.median(results["baseline"]["rps"])
    ok = True
    for name, data in results.items():
        rps = statistics.median(data["rps"])
        entry = {
            "rps": round(rps, 1),
            "p50_ms": ms(percentile(data["latencies"], 50)),
            "p99_ms": ms(percentile(data["latencies"], 99)),
            "errors": len(data["errors"]),
        }
        if name != "baseline":
            entry["ratio"] = round(rps / baseline_rps, 3)
            entry["target"] = TARGETS[name]
            ok = ok and entry["ratio"] >= TARGETS[name]
        ok = ok and not data["errors"]
        summary[name] = entry
    summary["ok"] = ok
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
