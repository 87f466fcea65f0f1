"""The production shape (docker-compose.yml, Dockerfile) agrees with the settings and the code.

Docker itself does not run here: these tests read the files and check what they name."""

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _healthcheck_path() -> str:
    test = " ".join(_compose()["services"]["web"]["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:8000(/[^'\" ]*)", test)
    assert match, test
    return match.group(1)


@pytest.mark.django_db
def test_the_web_healthcheck_answers_with_a_production_host_list_and_https_redirect(client, settings):
    """The healthcheck calls the container itself, on 127.0.0.1 over plain HTTP. A production
    ALLOWED_HOSTS (the site's name only) answers that 400, and SECURE_SSL_REDIRECT a redirect to
    https://127.0.0.1:8000 that cannot be followed: the web container was marked unhealthy as
    soon as it was configured for production."""
    settings.ALLOWED_HOSTS = ["rdz.example.fr"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get(_healthcheck_path(), HTTP_HOST="127.0.0.1:8000")

    assert response.status_code == 200
    # Anything else still goes through the host check.
    assert client.get("/connexion/", HTTP_HOST="127.0.0.1:8000").status_code == 400
