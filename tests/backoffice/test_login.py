"""Logging in (§13): password guessing is slowed down on every way in with a password."""

import base64

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "Un-mot-de-passe-solide-2026"


@pytest.fixture
def staff(zr7_staff):
    zr7_staff.set_password(PASSWORD)
    zr7_staff.save()
    return zr7_staff


def _guess(client, url: str, username: str, count: int) -> None:
    for n in range(count):
        client.post(url, {"username": username, "password": f"devine-{n}"})


def test_repeated_wrong_passwords_block_the_back_office_login_for_a_while_in_french(client, settings, staff, mdl_staff):
    _guess(client, "/connexion/", "zr7-staff", settings.LOGIN_FAILURE_LIMIT)

    response = client.post("/connexion/", {"username": "zr7-staff", "password": PASSWORD})
    assert response.status_code == 200
    assert "Trop de tentatives de connexion échouées : réessayez dans 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another account is not blocked by these failures.
    mdl_staff.set_password(PASSWORD)
    mdl_staff.save()
    assert client.post("/connexion/", {"username": "mdl-staff", "password": PASSWORD}).status_code == 302


def test_a_wrong_password_reads_as_such_up_to_the_limit_then_the_account_waits(client, settings, staff):
    _guess(client, "/connexion/", "zr7-staff", settings.LOGIN_FAILURE_LIMIT - 1)
    page = client.post("/connexion/", {"username": "zr7-staff", "password": "encore-faux"}).content.decode()
    assert "Identifiant ou mot de passe incorrect." in page
    assert client.post("/connexion/", {"username": "zr7-staff", "password": PASSWORD}).status_code == 200


def test_the_admin_login_is_blocked_the_same_way(client, settings, staff):
    _guess(client, "/admin/login/", "zr7-staff", settings.LOGIN_FAILURE_LIMIT)
    response = client.post("/admin/login/?next=/admin/", {"username": "zr7-staff", "password": PASSWORD})
    assert response.status_code == 200
    assert "Trop de tentatives de connexion échouées" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_http_basic_on_the_staff_api_cannot_be_used_to_guess_passwords(api_client, settings, staff):
    def basic(password: str) -> dict:
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"zr7-staff:{password}".encode()).decode()}

    assert api_client.get("/api/v1/media/", **basic(PASSWORD)).status_code == 200
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        assert api_client.get("/api/v1/media/", **basic(f"devine-{n}")).status_code == 401
    assert api_client.get("/api/v1/media/", **basic(PASSWORD)).status_code == 401


def test_changing_address_within_one_ipv6_network_does_not_reset_the_count(client, settings, staff):
    """An IPv6 connection comes with a whole /64 network: a new address for each guess must
    not give each guess a fresh budget."""
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            "/connexion/", {"username": "zr7-staff", "password": f"devine-{n}"}, REMOTE_ADDR=f"2001:db8:7:7::{n + 1:x}"
        )

    response = client.post(
        "/connexion/", {"username": "zr7-staff", "password": PASSWORD}, REMOTE_ADDR="2001:db8:7:7:ffff::1"
    )
    assert "Trop de tentatives de connexion échouées" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Staff in another network are not held by these failures.
    assert (
        client.post(
            "/connexion/", {"username": "zr7-staff", "password": PASSWORD}, REMOTE_ADDR="2001:db8:7:8::1"
        ).status_code
        == 302
    )


def test_opening_the_logout_address_asks_for_the_button_and_logs_out_only_on_post(client, zr7_staff):
    client.force_login(zr7_staff)

    page = client.get("/deconnexion/")

    assert page.status_code == 200
    assert "Se déconnecter" in page.content.decode() and 'method="post"' in page.content.decode()
    assert "_auth_user_id" in client.session  # a GET (a link, an image) never logs out
    assert client.post("/deconnexion/").status_code == 302
    assert "_auth_user_id" not in client.session
    assert "Vous êtes déconnecté" in client.get("/deconnexion/").content.decode()


def test_staff_can_still_log_in_when_the_cache_is_down_or_silent(client, settings, staff, unavailable_redis):
    """The failure counters live in the cache (Redis in production): its outage must not lock
    staff out of the back-office, where they follow the outage's alerts."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": unavailable_redis,
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }

    wrong = client.post("/connexion/", {"username": "zr7-staff", "password": "faux"})
    assert wrong.status_code == 200 and "Identifiant ou mot de passe incorrect" in wrong.content.decode()
    assert client.post("/connexion/", {"username": "zr7-staff", "password": PASSWORD}).status_code == 302
    assert "_auth_user_id" in client.session
