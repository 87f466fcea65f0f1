"""Production settings: Django's deployment checks pass, and a missing secret stops the start.

Each case starts `manage.py` in a child process, since settings are read once per process.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_celery_time_limits_that_would_run_a_task_twice_stop_the_start():
    soft = _manage("check", CELERY_TASK_SOFT_TIME_LIMIT="300", CELERY_TASK_TIME_LIMIT="300")
    assert soft.returncode != 0
    assert "CELERY_TASK_SOFT_TIME_LIMIT doit être positif et inférieur à CELERY_TASK_TIME_LIMIT" in soft.stderr

    redis = _manage(
        "check",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/15",
        CELERY_TASK_TIME_LIMIT="900",
        CELERY_TASK_SOFT_TIME_LIMIT="800",
        CELERY_VISIBILITY_TIMEOUT="600",
    )
    assert redis.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT doit dépasser CELERY_TASK_TIME_LIMIT" in redis.stderr

    assert _manage("check", CELERY_BROKER_URL="redis://127.0.0.1:6379/15").returncode == 0


def test_the_local_broker_keeps_every_file_under_var_and_none_in_the_working_directory():
    result = _manage(
        "shell",
        "-v",
        "0",
        "-c",
        "import json; from django.conf import settings; print(json.dumps(settings.CELERY_BROKER_TRANSPORT_OPTIONS))",
        CELERY_BROKER_URL="filesystem://localhost/",
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.strip().splitlines()[-1])
    # kombu's filesystem transport writes its exchange table to `control_folder`, relative to
    # the current directory ("control/") unless set: a stray folder in the checkout.
    folders = ["data_folder_in", "data_folder_out", "processed_folder", "control_folder"]
    var = settings.BASE_DIR / "var"
    for name in folders:
        assert name in options, name
        assert Path(options[name]).is_relative_to(var), (name, options[name])


@pytest.mark.parametrize(
    ("variable", "value", "extra"),
    [
        ("DATABASE_URL", "nonsense", {}),
        ("DATABASE_URL", "mysql://rdz@127.0.0.1/rdz", {}),
        ("CONN_MAX_AGE", "soixante", {"DATABASE_URL": "postgres://rdz@127.0.0.1:5432/rdz"}),
        ("LOGIN_FAILURE_LIMIT", "cinq", {}),
        ("LOGIN_FAILURE_LIMIT", "0", {}),
        ("NUM_PROXIES", "-1", {}),
        ("CELERY_TASK_TIME_LIMIT", "5min", {}),
        ("DEBUG", "Flase", {}),
        ("MEDIA_SERVE", "oui", {}),
        ("CRM_TIMEOUT", "10s", {}),
        ("CRM_ZR7_FIELD_MAP", "{phone: tel}", {}),
        ("EMAIL_URL", "nonsense", {}),
        ("MDL_EMAIL_URL", "smtp.example.fr:587", {}),
        ("CACHE_URL", "nonsense", {}),
        ("REDIS_URL", "127.0.0.1:6379", {}),
        ("CELERY_BROKER_URL", "nonsense", {}),
        ("SITE_URL", "rdz.example.fr", {}),
        ("THROTTLE_PROVIDER", "600", {}),
    ],
)
def test_a_bad_environment_value_stops_the_start_with_a_message_naming_the_variable(variable, value, extra):
    result = _manage("check", **{**extra, variable: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Configuration invalide"), result.stderr
    assert f"{variable} " in result.stderr
    assert f"« {value} »" in result.stderr


def test_the_documented_boolean_and_url_forms_are_accepted():
    result = _manage(
        "check",
        DEBUG="true",
        MEDIA_SERVE="0",
        DB_PREPARED_STATEMENTS="off",
        SITE_URL="https://rdz.example.fr/",
        REDIS_URL="",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/15",
        THROTTLE_PROVIDER="1200/min",
        THROTTLE_FORM_IP="",
        ZR7_EMAIL_URL="smtp+tls://user:pass@smtp.example.fr:587",
        CRM_TIMEOUT="7.5",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        (
            "ZR7_EMAIL_URL",
            "smtp+tsl://rdz@zr7.fr:Mot2Passe@smtp.zr7.fr:587",
            "smtp+tsl://rdz@zr7.fr:••••@smtp.zr7.fr:587",
        ),
        ("EMAIL_URL", "smtp//rdz:Mot2Passe@smtp.example.fr:587", "••••@smtp.example.fr:587"),
        ("DATABASE_URL", "mysql://rdz:Mot2Passe@db:3306/rdz", "mysql://rdz:••••@db:3306/rdz"),
        ("REDIS_URL", "redis//:Mot2Passe@redis:6379/0", "••••@redis:6379/0"),
        ("CACHE_URL", "redis2://:Mot2Passe@cache:6379/0", "redis2://:••••@cache:6379/0"),
        ("CELERY_BROKER_URL", "amqp://rdz:Mot2Passe@rabbit:5672//", "amqp://rdz:••••@rabbit:5672//"),
    ],
)
def test_a_refused_url_never_prints_its_password(variable, value, shown):
    result = _manage("check", **{variable: value})
    assert result.returncode != 0
    assert result.stderr.startswith("Configuration invalide"), result.stderr
    assert "Mot2Passe" not in result.stderr + result.stdout
    assert f"{variable} : valeur « {shown} » refusée" in result.stderr
