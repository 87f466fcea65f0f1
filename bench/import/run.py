"""Legacy import benchmark (§12): N generated legacy leads from a `mongoexport` file into
PostgreSQL, rows/s and peak memory, for several sizes to show memory stays flat.

    python bench/import/run.py [--sizes 50000,200000] [--database-url postgres://…/rdz_bench_import]

Each size runs in its own process on an emptied database (peak RSS is per process); the
result is one JSON line on stdout. The benchmark database is created if missing and never
the one of DATABASE_URL unless given explicitly.
"""

import argparse
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, child_env, database_ensure, process_cpu_seconds

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_import"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write `rows` legacy lead documents in mongoexport format (one Extended JSON per line)."""
    from bson import ObjectId, json_util

    rng = random.Random(seed)
    start = datetime.datetime(2022, 1, 1, tzinfo=datetime.UTC)
    statuses = ["nouveau", "livre", "attribue", "doublon", "rejete"]
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(rows):
            postal = rng.choice(["13001", "75011", "69003", "20090", "20200", "97110", "33000", "59000"])
            doc = {
                "_id": ObjectId(),
                "telephone": f"06{12000000 + n:08d}",
                "nom": rng.choice(["Martin", "Bernard", "Dubois", "Lefèvre"]),
                "prenom": rng.choice(["Zoé", "Jean", "Anaïs", "Luc"]),
                "mail": f"personne{n}@exemple.fr",
                "cp": postal,
                "ville": "Ville",
                "produit": "PV",
                "entite": rng.choice(["ZR7", "MDL"]),
                "statut": rng.choice(statuses),
                "date_creation": start + datetime.timedelta(minutes=n),
                "consentement": True,
                "ip": f"203.0.113.{n % 250}",
                "surface": rng.randint(10, 80),
            }
            handle.write(json_util.dumps(doc) + "\n")


class ServerCpu:
    """CPU time used by this database's PostgreSQL backends during the import, read from
    /proc (same machine): polled, because the writer's backend exits with its connection."""

    def __init__(self, url: str):
        import threading

        self.url = url
        self.seen: dict[int, tuple[float, float]] = {}  # pid → (first, last) CPU seconds
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            own = conn.info.backend_pid
            while not self.stop.is_set():
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s", (own,)
                ).fetchall()
                for (pid,) in pids:
                    cpu = process_cpu_seconds(pid)
                    if cpu is not None:
                        first = self.seen.get(pid, (cpu, cpu))[0]
                        self.seen[pid] = (first, cpu)
                self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(last - first for first, last in self.seen.values())


def child(rows: int, file: Path) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from leads.legacy.importer import LegacyImporter
    from leads.legacy.readers import FileSource
    from leads.models import Lead, LeadEvent, Product

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_leadevent, leads_lead CASCADE")
    Product.objects.get_or_create(code="PV", defaults={"label": "Panneaux solaires"})
    usage = resource.getrusage(resource.RUSAGE_SELF)
    baseline, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    with ServerCpu(os.environ["DATABASE_URL"]) as server:
        report = LegacyImporter(source=FileSource(file, "leads")).run()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    leads = report.collections["leads"]
    assert Lead.objects.count() == leads.created == rows, (Lead.objects.count(), leads.created, leads.invalid[:3])
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        # The importer's own CPU time (the PostgreSQL server's is not included): on a shared,
        # loaded machine wall-clock rows/s understates what the code does.
        "importer_cpu_seconds": round(cpu, 2),
        "rows_per_importer_cpu_second": round(rows / cpu) if cpu else None,
        # PostgreSQL backends' CPU (approximate: polled every 50 ms). With the writer thread
        # the two overlap, so an idle 2-core machine runs at about rows / max(importer, server).
        "server_cpu_seconds": round(server.seconds, 2),
        "rows_per_second_if_cpu_were_free": round(rows / max(cpu, server.seconds)) if cpu else None,
        "events": LeadEvent.objects.count(),
        "invalid": len(leads.invalid),
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_growth_during_import_mb": round((peak - baseline) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdz.settings")
    if args.child:
        print(json.dumps(child(args.child, args.file)))
        return
    database_ensure(args.database_url)
    env = child_env(args.database_url)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in [int(s) for s in args.sizes.split(",")]:
            file = Path(tmp) / f"leads-{rows}.jsonl"
            generate(file, rows)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(rows), "--file", str(file)],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["file_mb"] = round(file.stat().st_size / 1e6, 1)
            results.append(result)
    print(json.dumps({"bench": "import_legacy", "database": "postgresql", "runs": results}))


if __name__ == "__main__":
    main()
