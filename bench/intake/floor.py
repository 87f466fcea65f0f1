"""Where an intake's CPU goes, against the bare-INSERT baseline and against its own
database conversation replayed without Django.

    python bench/intake/floor.py [--leads 100000] [--requests 2000] [--rounds 3]
                                 [--database-url postgres://…/rdz_bench_floor] [--keep-db]

Same seed as bench/intake (its own database, dropped at the end unless `--keep-db`). In one
process, one thread, no HTTP, `DEBUG=False`, measures per request the CPU of the thread
(`time.thread_time`) and of its PostgreSQL backend (`/proc/<pid>/stat`, so PostgreSQL must
run on this machine), rounds alternating:

- baseline: the bare-INSERT view of bench/intake, called through Django's WSGI handler;
- intake: `POST /api/v1/leads/` through the same handler, every request a new routed person;
- django_request: `GET /bench/ready/` through the same handler, a view that does nothing:
  Django's own handling of a request with the project's middleware;
- conversation: the statements one intake sends, recorded at the driver (psycopg) with
  their cursors, pipelines, transaction boundaries and prepared statements, then replayed
  with bare psycopg, fetching every result, without Django or any code of RDZ (fresh UUIDs
  per replay, so each one writes its own rows).

The conversation is the part of an intake that no Python above the driver can remove: the
rows §7 and §16 ask for, their indexes, triggers and foreign-key checks, one round trip per
pipeline. Prints one JSON line (medians over the rounds).
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, database_drop, process_cpu_seconds, server_env
from bench.intake.run import SETTINGS, Endpoint, prepare_database

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/rdz_bench_floor"


def _timed(call, count: int, backend_pid: int) -> dict:
    thread0, backend0 = time.thread_time(), process_cpu_seconds(backend_pid)
    for _ in range(count):
        call()
    python_ms = (time.thread_time() - thread0) / count * 1000
    postgres_ms = (process_cpu_seconds(backend_pid) - backend0) / count * 1000
    return {"python_ms": python_ms, "postgres_ms": postgres_ms, "total_ms": python_ms + postgres_ms}


class Recorder:
    """Records what psycopg is asked to do on one connection: statements (with their
    cursor's class and index), pipelines, autocommit changes, commits and rollbacks."""

    def __init__(self):
        self.events: list[tuple] = []
        self.cursors: dict[int, int] = {}
        self.recording = False

    def install(self) -> None:
        import psycopg

        recorder = self
        execute, pipeline = psycopg.Cursor.execute, psycopg.Connection.pipeline
        commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback
        set_autocommit = psycopg.Connection._set_autocommit

        def recorded_execute(cursor, query, params=None, **kwargs):
            if recorder.recording:
                index = recorder.cursors.setdefault(id(cursor), len(recorder.cursors))
                text = query if isinstance(query, str | bytes) else query.as_string(cursor)
                binding = "client" if isinstance(cursor, psycopg.ClientCursor) else "server"
                recorder.events.append(("execute", index, binding, text, params, kwargs))
            return execute(cursor, query, params, **kwargs)

        class RecordedPipeline:
            def __init__(self, conn):
                self.inner = pipeline(conn)

            def __enter__(self):
                if recorder.recording:
                    recorder.events.append(("pipeline_enter",))
                return self.inner.__enter__()

            def __exit__(self, *exc):
                try:
                    return self.inner.__exit__(*exc)
                finally:
                    if recorder.recording:
                        recorder.events.append(("pipeline_exit",))

        def recorded(name, original):
            def wrapper(conn, *args):
                if recorder.recording:
                    recorder.events.append((name, *args))
                return original(conn, *args)

            return wrapper

        psycopg.Cursor.execute = recorded_execute
        psycopg.Connection.pipeline = lambda conn: RecordedPipeline(conn)
        psycopg.Connection.commit = recorded("commit", commit)
        psycopg.Connection.rollback = recorded("rollback", rollback)
        psycopg.Connection._set_autocommit = recorded("autocommit", set_autocommit)


def _fresh_uuids(params):
    """The same parameters with every UUID replaced, consistently (a lead's id appears in its
    timeline and attribution rows too), so a replay inserts new rows."""
    if params is None:
        return None
    fresh: dict = {}
    return [fresh.setdefault(p, uuid.uuid4()) if isinstance(p, uuid.UUID) else p for p in params]


class Replay:
    """The recorded conversation, sent again on a bare psycopg connection."""

    def __init__(self, dsn: str, events: list[tuple], prepare_threshold: int | None):
        import psycopg

        self.events = events
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.prepare_threshold = prepare_threshold
        classes = {"server": psycopg.Cursor, "client": psycopg.ClientCursor}
        count = 1 + max((e[1] for e in events if e[0] == "execute"), default=0)
        bindings = {e[1]: e[2] for e in events if e[0] == "execute"}
        self.cursors = [classes[bindings.get(i, "client")](self.conn) for i in range(count)]
        self.backend_pid = self.conn.info.backend_pid
        self.statements = sum(1 for e in events if e[0] == "execute")
        # Round trips: one per pipeline, per statement outside one, per commit or rollback.
        depth, trips = 0, 0
        for e in events:
            if e[0] == "pipeline_enter":
                depth, trips = depth + 1, trips + (depth == 0)
            elif e[0] == "pipeline_exit":
                depth -= 1
            elif (e[0] == "execute" and depth == 0) or e[0] in ("commit", "rollback"):
                trips += 1
        self.round_trips = trips

    def __call__(self) -> None:
        pipelines, pending = [], []
        for event in self.events:
            kind = event[0]
            if kind == "execute":
                _, index, _, query, params, kwargs = event
                cursor = self.cursors[index]
                cursor.execute(query, _fresh_uuids(params), **kwargs)
                if pipelines:
                    pending.append(cursor)
                elif cursor.description is not None:
                    cursor.fetchall()
            elif kind == "pipeline_enter":
                pipelines.append(self.conn.pipeline())
                pipelines[-1].__enter__()
            elif kind == "pipeline_exit":
                pipelines.pop().__exit__(None, None, None)
                if not pipelines:
                    for cursor in pending:
                        if cursor.description is not None:
                            cursor.fetchall()
                    pending = []
            elif kind == "autocommit":
                self.conn.autocommit = event[1]
            elif kind == "commit":
                self.conn.commit()
            elif kind == "rollback":
                self.conn.rollback()


def measure(key: str, requests: int, rounds: int) -> None:
    """Runs inside the benchmark database's environment (child process)."""
    recorder = Recorder()
    recorder.install()
    import django

    django.setup()
    import psycopg
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    handler = WSGIHandler()
    sequence = iter(range(10**7))

    def request(path: str, headers: dict, method: str = "POST", expect: str = "201") -> None:
        body = Endpoint.body(next(sequence)).encode() if method == "POST" else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **headers,
        }
        statuses = []
        response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
        content = b"".join(response)
        response.close()
        if not statuses[0].startswith(expect):
            raise SystemExit(f"{path}: {statuses[0]} {content[:300]!r}")

    def baseline() -> None:
        request("/bench/baseline/", {})

    def intake() -> None:
        request("/api/v1/leads/", {"HTTP_X_API_KEY": key})

    def django_request() -> None:
        request("/bench/ready/", {}, method="GET", expect="200")

    for _ in range(200):  # warm-up: imports, the kept connection, prepared statements, caches
        baseline()
        intake()
        django_request()
    recorder.recording = True
    intake()
    recorder.recording = False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        django_backend = cursor.fetchone()[0]
    db = settings.DATABASES["default"]
    dsn = psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )
    replay = Replay(dsn, recorder.events, connection.connection.prepare_threshold)
    for _ in range(200):
        replay()

    figures: dict[str, list[dict]] = {"baseline": [], "intake": [], "conversation": [], "django_request": []}
    for _ in range(rounds):
        figures["django_request"].append(_timed(django_request, requests, django_backend))
        figures["baseline"].append(_timed(baseline, requests, django_backend))
        figures["intake"].append(_timed(intake, requests, django_backend))
        figures["conversation"].append(_timed(replay, requests, replay.backend_pid))
    medians = {
        name: {k: round(statistics.median(run[k] for run in runs), 3) for k in runs[0]}
        for name, runs in figures.items()
    }
    base = medians["baseline"]["total_ms"]
    print(
        json.dumps(
            {
                "bench": "intake_floor",
                "requests_per_round": requests,
                "rounds": rounds,
                **medians,
                "conversation_statements": replay.statements,
                "conversation_round_trips": replay.round_trips,
                "baseline_over_intake": round(base / medians["intake"]["total_ms"], 3),
                "baseline_over_conversation": round(base / medians["conversation"]["total_ms"], 3),
                # The intake's Python that is neither Django's handling of a request nor
                # the driver's share of the conversation: DRF and all of RDZ's own code.
                "intake_python_above_driver_ms": round(
                    medians["intake"]["python_ms"]
                    - medians["conversation"]["python_ms"]
                    - medians["django_request"]["python_ms"],
                    3,
                ),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000, help="existing leads loaded before measuring")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measure and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database at the end")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.requests, args.rounds)
        return
    key, _ = prepare_database(args.database_url, args.leads)
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                key,
                "--requests",
                str(args.requests),
                "--rounds",
                str(args.rounds),
            ],
            cwd=ROOT,
            env=server_env(args.database_url, SETTINGS),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        if not args.keep_db:
            database_drop(args.database_url)
    print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
