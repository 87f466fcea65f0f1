"""Error pages in French for people, JSON for API clients (rdz/core/errors.py)."""

import pytest
from django.test import Client
from django.urls import path

from rdz import urls as rdz_urls


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [*rdz_urls.urlpatterns, path("boom/", _boom), path("api/v1/boom/", _boom)]
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
def test_an_unknown_page_answers_a_french_404_and_an_unknown_api_path_json(client):
    page = client.get("/nulle-part/")
    assert page.status_code == 404
    assert "Page introuvable" in page.content.decode()
    api = client.get("/api/v1/nulle-part/")
    assert api.status_code == 404
    assert api.json() == {"detail": "Introuvable."}


@pytest.mark.django_db
def test_a_crash_answers_a_french_500_page_or_json_under_the_api(settings):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    page = client.get("/boom/")
    assert page.status_code == 500
    assert "Erreur du serveur" in page.content.decode()
    api = client.get("/api/v1/boom/")
    assert api.status_code == 500
    assert api.json() == {"detail": "Erreur interne du serveur."}


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
