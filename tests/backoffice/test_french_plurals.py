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


def test_the_back_office_messages_and_admin_totals_count_in_french(client, superuser):
    from leads.services_opposition import OppositionImportResult
    from rdz.core.models import CircuitBreaker
    from tests.backoffice.test_settings_page import _form_data

    client.force_login(superuser)
    response = client.post("/parametres/", _form_data(backlog_age_days=12), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Paramètres enregistrés (1 modification)."]
    response = client.post("/parametres/", _form_data(backlog_age_days=13, rejection_window_days=5), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Paramètres enregistrés (2 modifications)."]

    assert "Total : 0 lead" in _text(client.get("/admin/commandes/backloglead/"))
    assert "lead(s)" not in _text(client.get("/admin/commandes/backloglead/"))

    breaker = CircuitBreaker.objects.create(name="client:essai", entity="ZR7", state="open")
    response = client.post(
        "/admin/core/circuitbreaker/", {"action": "resume", "_selected_action": [breaker.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["1 disjoncteur fermé ; 0 envoi en pause relancé."]

    summary = OppositionImportResult(added=1, already=0, invalid_count=2).summary()
    assert summary == "1 numéro ajouté, 0 déjà présent, 2 lignes invalides."


def test_the_distribution_messages_count_in_french(client, superuser, product):
    from tests.backoffice.test_settings_page import _form_data
    from tests.factories import CommandeFactory

    client.force_login(superuser)
    response = client.post("/parametres/", _form_data(alert_recipients_zr7="ok@zr7.fr\nnon\nnon plus"))
    assert "Adresses e-mail invalides : non, non plus" in response.content.decode()

    commande = CommandeFactory(product=product, active=False)
    response = client.post(
        "/admin/commandes/commande/", {"action": "activate", "_selected_action": [commande.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["1 commande activée."]


def test_an_endpoint_paused_after_one_failure_reads_in_the_singular():
    from rdz.core.models import Alert
    from rdz.core.services import circuit_record_failure, settings_update

    settings_update(user=None, changes={"circuit_failure_threshold": 1})

    assert circuit_record_failure(name="client:essai", entity="ZR7", error="HTTP 500", label="Le client Essai")

    message = Alert.objects.get(kind="circuit_ouvert").message
    assert message.startswith("Le client Essai est en pause après 1 échec consécutif. Dernière erreur : HTTP 500")
