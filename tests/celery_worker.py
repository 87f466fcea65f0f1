"""A real Celery worker subprocess against the test database and CELERY_BROKER_URL.

Tests using it need `@pytest.mark.django_db(transaction=True)` (the worker is another
process: it only sees committed rows). It needs a real broker (Redis): without one the
tests are skipped locally and fail in CI.

    @pytest.mark.integration
    @pytest.mark.django_db(transaction=True)
    def test_…(celery_worker):
        …                          # enqueue work
        celery_worker.kill()       # SIGKILL, mid-task
        celery_worker.start()      # a fresh worker picks up
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_database_url() -> str:
    """DATABASE_URL of the database the tests are using right now (the test database)."""
    cfg = connection.settings_dict
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{cfg['NAME']}"
    auth = quote(cfg["USER"] or "")
    if cfg.get("PASSWORD"):
        auth += ":" + quote(cfg["PASSWORD"])
    host = cfg.get("HOST") or "127.0.0.1"
    port = cfg.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{cfg['NAME']}"


class Worker:
    def __init__(self, log_dir: Path, extra_env: dict | None = None) -> None:
        self.log_dir = log_dir
        self.extra_env = extra_env or {}
        # solo: one process, simplest to kill. It enforces no time limit: a test about one
        # runs "prefork" (a child process per task, as in production).
        self.pool = "solo"
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"worker-{self.starts}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "rdz.settings",
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SITE_URL": settings.SITE_URL,
            # Files the worker writes go where the test process looks for them.
            "DELIVERY_ROOT": str(settings.DELIVERY_ROOT),
            **self.extra_env,
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the subprocess's lifetime)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "rdz",
                "worker",
                f"--pool={self.pool}",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"Celery worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack — as a crash or an OOM kill."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _broker_available() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


@pytest.fixture
def celery_worker(tmp_path, transactional_db):
    """Start a worker (purging the test broker's queue first); stopped after the test."""
    if not _broker_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CELERY_BROKER_URL must be Redis in CI for the worker tests")
        pytest.skip("needs a Redis broker (CELERY_BROKER_URL=redis://…)")
    from rdz.celery import app

    app.control.purge()
    worker = Worker(tmp_path)
    worker.start()
    yield worker
    worker.stop()
    app.control.purge()
