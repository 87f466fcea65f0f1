"""Clients and commandes typed in the admin: what staff enter is what routing can match (§5, §7)."""

import html
import re

import pytest
from django.urls import reverse

from commandes.models import Attribution, Client, Commande
from commandes.services import commande_fills
from leads.services import LeadInput, lead_create
from tests.factories import AttributionFactory, ClientFactory, CommandeFactory

pytestmark = pytest.mark.django_db


def commande_post(client, *, client_pk: int, product_pk: int, departements: str, **fields):
    return client.post(
        reverse("admin:commandes_commande_add"),
        {
            "client": client_pk,
            "product": product_pk,
            "departements": departements,
            "weekly_quota": 5,
            "active": "on",
            "priority": 0,
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
            **fields,
        },
    )


def test_departements_typed_loosely_are_stored_as_the_codes_leads_carry(client, superuser, product, zr7_provider):
    buyer = ClientFactory(entity="ZR7")
    client.force_login(superuser)

    response = commande_post(client, client_pk=buyer.pk, product_pk=product.pk, departements='["2a", "1", 13, "13"]')

    assert response.status_code == 302
    commande = Commande.objects.get(client=buyer)
    assert commande.departements == ["2A", "01", "13"]
    assert client.get(reverse("admin:commandes_commande_changelist")).status_code == 200
    lead, _ = lead_create(
        data=LeadInput(phone="+33612345678", product=product, departement="2A"), provider=zr7_provider
    )
    assert Attribution.objects.get(lead=lead).commande == commande


@pytest.mark.parametrize(
    ("departements", "message"),
    [
        ('["13", "2C"]', "« 2C » n&#x27;est pas un code de département valide"),
        ('"13"', "Une liste de départements est attendue"),
        ('{"13": true}', "Une liste de départements est attendue"),
        ('["13", null]', "Département invalide."),
    ],
)
def test_departements_that_no_lead_could_match_are_refused_in_french(client, superuser, product, departements, message):
    buyer = ClientFactory(entity="ZR7")
    client.force_login(superuser)

    response = commande_post(client, client_pk=buyer.pk, product_pk=product.pk, departements=departements)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Commande.objects.exists()


def test_a_star_among_codes_means_every_departement(client, superuser, product):
    buyer = ClientFactory(entity="ZR7")
    client.force_login(superuser)

    commande_post(client, client_pk=buyer.pk, product_pk=product.pk, departements='["13", "*"]')

    assert Commande.objects.get(client=buyer).departements == ["*"]


@pytest.mark.parametrize("other_entity", ["ZR7", "MDL"])
def test_a_commandes_client_is_fixed_once_created(client, superuser, product, other_entity):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=2)
    AttributionFactory(commande=commande, lead__product=product)
    other = ClientFactory(entity=other_entity)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:commandes_commande_change", args=[commande.pk]),
        {
            "client": other.pk,
            "product": product.pk,
            "departements": '["*"]',
            "weekly_quota": 3,
            "active": "on",
            "priority": 0,
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
        },
    )

    assert response.status_code == 302
    commande.refresh_from_db()
    assert (commande.weekly_quota, commande.client_id, commande.entity) == (
        3,
        commande.attributions.get().client_id,
        "ZR7",
    )


def test_an_end_before_the_start_is_refused_on_the_end_field_in_plain_french(client, superuser, product):
    buyer = ClientFactory(entity="ZR7")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:commandes_commande_add"),
        {
            "client": buyer.pk,
            "product": product.pk,
            "departements": '["*"]',
            "weekly_quota": 5,
            "priority": 0,
            "starts_on": "20/11/2026",
            "ends_on": "10/11/2026",
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"ends_on": ["La fin doit tomber le 20/11/2026 (début) ou après."]}
    assert not Commande.objects.exists()


def test_a_negative_price_per_lead_is_refused_in_french_and_nothing_is_saved(client, superuser, product):
    buyer = ClientFactory(entity="ZR7")
    client.force_login(superuser)

    response = commande_post(client, client_pk=buyer.pk, product_pk=product.pk, departements='["13"]', price="-1")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"price": ["Assurez-vous que cette valeur est supérieure ou égale à 0."]}
    assert not Commande.objects.exists()
    response = commande_post(client, client_pk=buyer.pk, product_pk=product.pk, departements='["13"]', price="0")
    assert response.status_code == 302
    assert str(Commande.objects.get().price) == "0.00"


def test_a_clients_rejection_ceiling_above_100_percent_is_refused_like_the_settings_one(client, superuser):
    client.force_login(superuser)
    data = {
        "entity": "ZR7",
        "name": "Solaire Sud",
        "emails": '["achats@solaire.fr"]',
        "api_auth_header": "Authorization",
        "api_timeout_seconds": 10,
        "active": "on",
        "created_at_0": "24/11/2026",
        "created_at_1": "10:00:00",
    }

    response = client.post(reverse("admin:commandes_client_add"), {**data, "rejection_ceiling_percent": "150"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"rejection_ceiling_percent": ["Assurez-vous que cette valeur est inférieure ou égale à 100."]}
    assert not Client.objects.exists()
    response = client.post(reverse("admin:commandes_client_add"), {**data, "rejection_ceiling_percent": "100"})
    assert response.status_code == 302
    assert Client.objects.get().rejection_ceiling_percent == 100


def test_a_quota_changed_or_a_commande_deleted_in_the_admin_is_in_the_audit_log(client, zr7_staff, product):
    from rdz.core.models import AuditLog

    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=5)
    client.force_login(zr7_staff)
    url = reverse("admin:commandes_commande_change", args=[commande.pk])
    data = {
        "client": commande.client_id,
        "product": product.pk,
        "departements": '["13"]',
        "weekly_quota": 50,
        "active": "on",
        "priority": 0,
        "created_at_0": "24/11/2026",
        "created_at_1": "10:00:00",
    }

    assert client.post(url, data).status_code == 302

    change = AuditLog.objects.get(action="admin_change")
    assert change.entity == "ZR7" and change.actor == zr7_staff
    assert change.object_id == str(commande.pk) and "Quota hebdomadaire" in change.message
    delete = reverse("admin:commandes_commande_delete", args=[commande.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert AuditLog.objects.get(action="admin_delete").object_id == str(commande.pk)


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(response.content.decode())))


@pytest.mark.parametrize("account", ["zr7_staff", "superuser"])
def test_a_commande_or_client_holding_attributions_cannot_be_deleted_and_the_admin_says_why(
    client, product, account, request
):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=5)
    AttributionFactory.create_batch(2, commande=commande)
    client.force_login(request.getfixturevalue(account))

    for url in (
        reverse("admin:commandes_commande_delete", args=[commande.pk]),
        reverse("admin:commandes_client_delete", args=[commande.client_id]),
    ):
        text = page_text(client.get(url))
        # Not a missing right (even a superuser was told so), as if the leads' history would go with it.
        assert "permission" not in text
        assert "objets liés et protégés suivants : 2 attributions" in text and "jamais supprimées" in text, text
        assert "décochez « acti" in text
        assert client.post(url, {"post": "yes"}).status_code == 200
    bulk = client.post(
        reverse("admin:commandes_commande_changelist"),
        {"action": "delete_selected", "_selected_action": [commande.pk], "post": "yes"},
    )
    assert "2 attributions" in page_text(bulk)
    assert Commande.objects.filter(pk=commande.pk).exists()
    assert Attribution.objects.filter(commande=commande).count() == 2
    assert commande_fills(commande_ids=[commande.pk])[commande.pk].week == 2


def test_the_commande_page_shows_this_weeks_fill_beside_the_quota_and_keeps_the_creation_time(
    client, superuser, product, zr7_provider
):
    """Staff lowered a quota without seeing what the commande already held this week, and could
    type its creation time, which puts it first among commandes of equal priority and fill."""
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=10)
    for phone in ("0611111111", "0622222222", "0633333333"):
        lead_create(data=LeadInput(phone=phone, product=product, departement="13"), provider=zr7_provider)
    created = Commande.objects.get(pk=commande.pk).created_at
    client.force_login(superuser)
    url = reverse("admin:commandes_commande_change", args=[commande.pk])

    page = client.get(url).content.decode()
    assert "3 / 10 (30 %)" in page
    assert 'name="created_at_0"' not in page

    response = client.post(
        url,
        {
            "product": product.pk,
            "departements": '["13"]',
            "weekly_quota": 4,
            "active": "on",
            "priority": 0,
            "created_at_0": "01/01/2020",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    commande.refresh_from_db()
    assert commande.weekly_quota == 4 and commande.created_at == created
    add_page = client.get(reverse("admin:commandes_commande_add")).content.decode()
    assert 'name="created_at_0"' not in add_page
