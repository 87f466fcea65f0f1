"""Production settings: Django's deployment checks pass, and a missing secret stops the start.

Each case starts `manage.py` in a child process, since settings are read once per process.
"""

import os
import secrets
import subprocess
import sys

from django.conf import settings


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "rdz.settings", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checks_without_a_warning():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="rdz.example.fr",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="False", SECRET_KEY="", ALLOWED_HOSTS="rdz.example.fr")
    assert result.returncode != 0
    assert "SECRET_KEY est obligatoire quand DEBUG=False." in result.stderr
