"""No page answers a server error to a hand-typed URL: NUL characters (which no PostgreSQL
text column accepts), dates Python cannot step past, out-of-range date parts in the admin's
lists. Each of these used to be a 500 on PostgreSQL."""

import pytest
from django.contrib import admin
from django.urls import reverse
from rest_framework.test import APIClient

from rdz.core import backoffice_urls

pytestmark = pytest.mark.django_db

# Every back-office page without an id in its path (so a new page is covered), and the media library.
PAGES = [
    "/" + str(p.pattern)
    for p in backoffice_urls.urlpatterns
    if "<" not in str(p.pattern) and p.name not in ("login", "logout", "backoffice-entity")
] + ["/medias/"]
# What the pages, the APIs and the admin's lists read from their query string.
PARAMS = ["q", "page", "id", "client", "etat", "statut", "motif", "entity", "state", "kind", "jours", "from", "to"]
PARAMS += ["form", "status", "product", "date_from", "date_to", "tag", "variant", "o", "p"]
VALUES = ["\x00", "a\x00b", "9999-12-31", "0001-01-01", "99999999999999999999", "²", "é" * 3000]


def _admin_lists():
    return [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry]


def test_no_page_or_list_answers_500_to_nasty_query_parameters(client, superuser, demo_data):
    # Every parameter at once, one value at a time: a page reads the ones it knows.
    client.force_login(superuser)
    api = APIClient()
    api.force_authenticate(superuser)
    failures = []
    for getter, urls in (
        (client.get, PAGES + _admin_lists()),
        (api.get, ["/api/v1/stats/daily/", "/api/v1/forms/demo-pv/stats/", "/api/v1/media/", "/api/v1/forms/demo-pv/"]),
    ):
        for url in urls:
            for value in VALUES:
                status = getter(url, dict.fromkeys(PARAMS, value)).status_code
                if status >= 500:
                    failures.append((url, value[:12], status))
    assert failures == []


def test_a_nul_in_a_url_is_a_french_400(client, superuser):
    client.force_login(superuser)
    response = client.get("/leads/", {"q": "\x00"})
    assert response.status_code == 400
    assert "caractère nul" in response.content.decode()
    # An API client reads §15's {"field": ["message"]}, like every other 400 of the API.
    response = client.get("/api/v1/stats/daily/", {"entity": "\x00"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["L'adresse contient un caractère nul (%00), refusé."]}
    response = client.post("/api/v1/leads/?x=%00", {}, content_type="application/json")
    assert response.json() == {"non_field_errors": ["L'adresse contient un caractère nul (%00), refusé."]}


@pytest.mark.parametrize(
    "params",
    [
        {"created_at__year": "0"},
        {"created_at__year": "99999"},
        {"created_at__year": "99999999999999999999"},
        {"created_at__year": "2026", "created_at__month": "13"},
        {"created_at__year": "2026", "created_at__month": "2", "created_at__day": "x"},
    ],
)
def test_an_out_of_range_date_part_in_an_admin_list_is_djangos_wrong_parameter_answer(client, superuser, params):
    client.force_login(superuser)
    for url in [reverse("admin:leads_lead_changelist"), reverse("admin:commandes_commande_changelist")]:
        response = client.get(url, params)
        assert response.status_code == 302
        assert response["Location"].endswith("?e=1")
    assert client.get(reverse("admin:auth_user_changelist"), {"date_joined__year": "0"}).status_code == 302


def test_an_id_past_64_bits_in_an_admin_list_filter_is_djangos_wrong_parameter_answer(client, superuser, demo_data):
    """SQLite cannot even bind such a number: the list's count raised instead of finding nothing."""
    client.force_login(superuser)
    failures = []
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in [f for f in model_admin.list_filter if isinstance(f, str)]:
            response = client.get(url, {f"{name}__exact": "99999999999999999999"})
            if response.status_code >= 500:
                failures.append((url, name))
    assert failures == []
    response = client.get(reverse("admin:leads_lead_changelist"), {"product__exact": "99999999999999999999"})
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")


def test_far_dates_are_refused_in_french_by_the_filters_and_the_apis(client, superuser, api_client):
    client.force_login(superuser)
    page = client.get("/leads/", {"from": "9999-12-31"}).content.decode()
    assert "Date hors limites : entre le 01/01/2000 et le 31/12/2999." in page
    api_client.force_authenticate(superuser)
    response = api_client.get("/api/v1/stats/daily/", {"from": "0001-01-01"})
    assert response.status_code == 400
    assert response.json() == {"from": ["Date hors limites : entre le 01/01/2000 et le 31/12/2999."]}
    response = api_client.get("/api/v1/stats/daily/", {"to": "9999-12-31"})
    assert response.json() == {"to": ["Date hors limites : entre le 01/01/2000 et le 31/12/2999."]}


@pytest.mark.parametrize("value", ["abc", "", "-1", "1.5", "99999999999999999999", "\x00", "²"])
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/clients/", "client"),
        ("/commandes/", "commande"),
        ("/livraisons/", "batch"),
        ("/rejets/", "rejection"),
        ("/alertes/", "alert"),
    ],
)
def test_a_hand_made_post_naming_no_object_is_a_404(client, superuser, url, field, value):
    client.force_login(superuser)
    assert client.post(url, {field: value}).status_code == 404
