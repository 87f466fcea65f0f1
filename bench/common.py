"""Helpers shared by the benchmark scripts (bench/*/run.py): benchmark databases, the
gunicorn server, the HTTP load loops and the figures computed from them.

Kept free of Django imports at module level: the scripts import it before choosing the
settings of the process (or of the child processes) they start.
"""

import http.client
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "bench-" + "x" * 50
HOST = "127.0.0.1"

# One request of a load loop, built from its sequence number n: (path, body, headers).
Request = tuple[str, str, dict[str, str]]


# --- databases ---------------------------------------------------------------------------


def admin_url(database_url: str) -> tuple[str, str]:
    """(URL of the `postgres` maintenance database, benchmark database name): a database
    cannot be created or dropped from a connection to itself."""
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("this benchmark needs PostgreSQL (--database-url postgres://…)")
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


def database_recreate(database_url: str) -> None:
    """Drop (closing its connections) and create the benchmark database: every run starts
    from the same empty state."""
    import psycopg

    admin, name = admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_ensure(database_url: str) -> None:
    """Create the benchmark database if missing (for benchmarks that empty their tables
    themselves, so a kept database saves the migrations)."""
    import psycopg

    admin, name = admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(database_url: str) -> None:
    """Drop the benchmark database (closing its connections), not to leave large seeds behind."""
    import psycopg

    admin, name = admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- child processes and server ----------------------------------------------------------


def child_env(database_url: str) -> dict[str, str]:
    """Environment of a child process running Django on the benchmark database:
    production-like, DEBUG off (no SQL query log in memory)."""
    return {**os.environ, "DATABASE_URL": database_url, "DEBUG": "False", "SECRET_KEY": SECRET_KEY}


def server_env(database_url: str, settings_module: str) -> dict[str, str]:
    """Environment of the benchmark server and of its migrate/seed processes: the given
    settings, production-like, plain HTTP on 127.0.0.1."""
    return {
        **child_env(database_url),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }


def migrate(env: dict[str, str]) -> None:
    """Apply the migrations in a child process, with the benchmark's environment."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server nothing else should reach."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# The production server of the Dockerfile: gunicorn, gthread workers, WEB_CONCURRENCY=2
# worker processes (one per core of the 2-core machine the figures come from).
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
SERVER = f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads"


def start_server(wsgi: str, env: dict[str, str], port: int, ready_path: str) -> subprocess.Popen:
    """Start gunicorn (SERVER, as in the Dockerfile) on 127.0.0.1:`port` and
    wait until GET `ready_path` answers 200, so no measure includes the start-up."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            wsgi,
            "--workers",
            str(GUNICORN_WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--bind",
            f"{HOST}:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", ready_path)
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("benchmark server did not start")


# --- load --------------------------------------------------------------------------------


def _connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST, port, timeout=30)


def post(
    conn: http.client.HTTPConnection, port: int, path: str, body: str, headers: dict[str, str]
) -> tuple[http.client.HTTPConnection, int]:
    """One POST on a keep-alive connection; returns (connection, status). A failed request
    counts as status 0 and reopens the connection, so one error does not stop a client."""
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        content = response.read()
        if response.status >= 400 and os.environ.get("BENCH_DEBUG"):
            print(response.status, content[:300], file=sys.stderr)
        return conn, response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return _connect(port), 0


def _run_clients(client: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=client) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def load(
    port: int,
    request: Callable[[int], Request],
    *,
    start: int,
    requests: int,
    concurrency: int,
    ok: Iterable[int] = (200, 201),
) -> dict:
    """Closed loop: `concurrency` keep-alive clients send `requests` POSTs (numbered from
    `start`) as fast as they are answered; returns rps, latencies (s) and error statuses."""
    counter = iter(range(start, start + requests))
    ok = frozenset(ok)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[int] = []

    def client() -> None:
        conn = _connect(port)
        local: list[float] = []
        bad: list[int] = []
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            path, body, headers = request(n)
            t0 = time.perf_counter()
            conn, status = post(conn, port, path, body, headers)
            local.append(time.perf_counter() - t0)
            if status not in ok:
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(local)
            errors.extend(bad)

    t0 = time.perf_counter()
    _run_clients(client, concurrency)
    return {"rps": requests / (time.perf_counter() - t0), "latencies": latencies, "errors": errors}


def fixed_rate(
    port: int,
    request: Callable[[int], Request],
    *,
    start: int,
    rate: float,
    seconds: float,
    clients: int = 16,
    ok: Iterable[int] = (200, 201),
) -> dict:
    """Open loop: request i is due at t0 + i/rate and its latency counts from that due time,
    so a server stall shows in the latencies instead of slowing the senders down."""
    total = int(rate * seconds)
    ok = frozenset(ok)
    due: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2
    for i in range(total):
        due.put((t0 + i / rate, start + i))

    def client() -> None:
        conn = _connect(port)
        local: list[float] = []
        bad: list[int] = []
        while True:
            try:
                at, n = due.get_nowait()
            except queue.Empty:
                break
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            path, body, headers = request(n)
            conn, status = post(conn, port, path, body, headers)
            local.append(time.perf_counter() - at)
            if status not in ok:
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(local)
            errors.extend(bad)

    _run_clients(client, clients)
    return {"latencies": latencies, "errors": errors, "achieved_rps": total / (time.perf_counter() - t0)}


# --- figures -----------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` on this machine (a PostgreSQL backend,
    say), read from /proc; None once the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation): always a latency that was measured."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(value: float) -> float:
    """Seconds to milliseconds, rounded as the JSON lines report them."""
    return round(value * 1000, 2)
