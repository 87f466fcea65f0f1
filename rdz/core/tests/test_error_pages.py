"""Error pages in French for people, JSON for API clients (rdz/core/errors.py)."""

import pytest
from django.test import Client
from django.urls import path

from rdz import urls as rdz_urls


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [*rdz_urls.urlpatterns, path("boom/", _boom), path("api/v1/boom/", _boom)]
handler404 = rdz_urls.handler404
handler500 = rdz_urls.handler500


@pytest.mark.django_db
def test_a_page_the_account_may_not_open_answers_a_french_403(client, zr7_staff):
    client.force_login(zr7_staff)
    response = client.get("/comptes/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Accès refusé" in body and "Réservé aux administrateurs." in body
    assert "Forbidden" not in body
    # The sidebar does not offer it either.
    assert 'href="/comptes/"' not in client.get("/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "title", "detail"),
    [
        ("nulle-part/", 404, "Page introuvable", "Introuvable."),
        ("boom/", 500, "Erreur du serveur", "Erreur interne du serveur."),
    ],
)
def test_people_get_a_french_page_and_api_clients_json(settings, path, status, title, detail):
    settings.ROOT_URLCONF = __name__  # adds a view that crashes
    client = Client(raise_request_exception=False)
    page = client.get(f"/{path}")
    assert page.status_code == status
    assert title in page.content.decode()
    api = client.get(f"/api/v1/{path}")
    assert api.status_code == status
    assert api.json() == {"detail": detail}


@pytest.mark.django_db
def test_a_back_office_form_posted_without_its_csrf_token_says_so_in_french():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/connexion/", {"username": "admin", "password": "x"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "Formulaire expiré" in body and "rien n'a été enregistré" in body


def test_favicon_ico_leads_to_the_icon_for_pages_that_name_none(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("backoffice/favicon.svg")


@pytest.mark.django_db
def test_a_400_outside_the_views_is_a_field_errors_body_for_api_clients(settings):
    """§15: an API client reads every 400 as {"field": ["message"]}, also the ones Django
    answers before any view (a Host header the site does not serve)."""
    settings.ALLOWED_HOSTS = ["rdz.example"]
    client = Client(raise_request_exception=False)
    response = client.post("/api/v1/leads/", {}, content_type="application/json", HTTP_HOST="autre.example")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Requête invalide."]}
    assert "Requête invalide" in client.get("/connexion/", HTTP_HOST="autre.example").content.decode()
