"""Counts read as French: no plural for 0 and 1 (« 0 alerte active », « 1 lead reçu »)."""

import re

import pytest

from rdz.core.templatetags.backoffice import pluriel
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


@pytest.mark.parametrize(
    ("value", "ending"), [(0, ""), (1, ""), (-1, ""), (2, "s"), ("12", "s"), (None, ""), ("x", "")]
)
def test_the_plural_ending_follows_the_french_rule(value, ending):
    assert pluriel(value) == ending


def test_empty_counts_on_the_pages_are_singular(client, superuser):
    client.force_login(superuser)

    dashboard = _text(client.get("/"))
    assert "0 alerte active" in dashboard
    assert "0 envoyé, 0 en repli" in dashboard
    assert "(0 surveillé)" in dashboard
    assert "0 lead reçu, 0 attribué (—), 0 rejeté depuis. 0 rejet demandé sur la période" in _text(
        client.get("/statistiques/")
    )
    assert "0 lead dans le backlog" in _text(client.get("/backlog/"))
    assert "0 image" in _text(client.get("/medias/"))
    assert "0 images" not in _text(client.get("/medias/"))


def test_one_alert_is_singular_and_two_are_plural(client, superuser):
    client.force_login(superuser)
    AlertFactory(entity="ZR7")
    assert "1 alerte active" in _text(client.get("/"))
    AlertFactory(entity="MDL")
    assert "2 alertes actives" in _text(client.get("/"))
