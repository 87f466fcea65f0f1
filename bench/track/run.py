"""Landing endpoints under load (§11): `POST /api/v1/track/` and
`POST /api/v1/forms/<code>/submit/` against the core benchmark's bare-INSERT baseline
(bench/intake/urls.py: parse the JSON body, INSERT one lead row), in the same run.

    python bench/track/run.py [--requests 600] [--rounds 3] [--concurrency 8]
                              [--database-url postgres://…/rdz_bench_track]

A gunicorn server (2 workers × 4 threads, the project's settings plus that baseline route:
bench/track/settings.py) runs on a freshly migrated benchmark database; client threads
with keep-alive connections send the requests. Rounds alternate baseline, track, submit;
the throughput of each endpoint is the median over rounds, p50/p99 over all requests.
Every submission is a new person (its own phone, visitor and address) from one of 70
departements, routed to the open commande of one of 8 clients and queued for CRM forwarding
(in-memory broker: no worker). Prints one JSON line.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_track"
ORIGIN = "https://bench.exemple.fr"
FORM = "bench-pv"
TARGETS = {"track": 0.8, "submit": 0.5}
DEPARTEMENT_GROUPS = [[f"{d:02d}" for d in range(start, start + 10)] for start in range(1, 81, 10)]
# Round-robin over the groups: consecutive (so concurrent) submissions go to different clients.
DEPARTEMENTS = [group[i] for i in range(10) for group in DEPARTEMENT_GROUPS if group[i] != "20"]


def server_env(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.track.settings",
        "DEBUG": "False",
        "SECRET_KEY": "bench-" + "x" * 50,
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }


def prepare_database(database_url: str) -> None:
    """Create the benchmark database afresh (PostgreSQL) or empty the file (SQLite), migrate, seed."""
    parts = urlsplit(database_url)
    if parts.scheme.startswith("postgres"):
        import psycopg

        name = parts.path.lstrip("/")
        admin = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(parts.path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = server_env(database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.track.wsgi:application",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=server_env(database_url),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", f"/t/{FORM}.js")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("benchmark server did not start")


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


def load(port: int, endpoint: Endpoint, *, start: int, requests: int, concurrency: int) -> dict:
    """Send `requests` POSTs with `concurrency` keep-alive clients; returns rps, latencies, errors."""
    counter = iter(range(start, start + requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[int] = []

    def client() -> None:
        headers = {"Content-Type": "application/json", "Origin": ORIGIN}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: list[float] = []
        bad: list[int] = []
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            body = json.dumps(endpoint.body(n))
            # One address per simulated visitor (documentation range, never contacted).
            headers["X-Forwarded-For"] = f"198.51.{(n // 250) % 250}.{n % 250}"
            t0 = time.perf_counter()
            try:
                conn.request("POST", endpoint.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            local.append(time.perf_counter() - t0)
            if status not in (200, 201, 204):
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(local)
            errors.extend(bad)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"rps": requests / wall, "latencies": latencies, "errors": errors}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed:
        seed()
        return

    prepare_database(args.database_url)
    port = free_port()
    server = start_server(args.database_url, port)
    results: dict[str, dict] = {e.name: {"rps": [], "latencies": [], "errors": []} for e in ENDPOINTS}
    try:
        for endpoint in ENDPOINTS:  # warm-up: imports, connections, caches
            load(port, endpoint, start=9_000_000, requests=100, concurrency=args.concurrency)
        analyze(args.database_url)  # planner statistics, as a live database has them
        offset = 0
        for _ in range(args.rounds):
            for endpoint in ENDPOINTS:
                run = load(port, endpoint, start=offset, requests=args.requests, concurrency=args.concurrency)
                offset += args.requests
                results[endpoint.name]["rps"].append(run["rps"])
                results[endpoint.name]["latencies"].extend(run["latencies"])
                results[endpoint.name]["errors"].extend(run["errors"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    summary: dict = {
        "bench": "track",
        "database": urlsplit(args.database_url).scheme.split("+")[0],
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "server": "gunicorn 2 workers x 4 threads",
    }
    baseline_rps = statistics.median(results["baseline"]["rps"])
    ok = True
    for name, data in results.items():
        rps = statistics.median(data["rps"])
        entry = {
            "rps": round(rps, 1),
            "p50_ms": round(percentile(data["latencies"], 50) * 1000, 2),
            "p99_ms": round(percentile(data["latencies"], 99) * 1000, 2),
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
