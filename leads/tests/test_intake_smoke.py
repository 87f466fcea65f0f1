import pytest

from tests.factories import CommandeFactory

pytestmark = pytest.mark.django_db


def test_a_provider_lead_is_routed_to_an_open_commande(api_client, zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=2)
    response = api_client.post(
        "/api/v1/leads/",
        {"phone": "06 12 34 56 78", "product": "PV", "departement": "2a", "first_name": "  Zoé "},
        format="json",
        HTTP_X_API_KEY=zr7_provider.api_key,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "routed"
    assert body["entity"] == "ZR7"
    assert commande.attributions.count() == 1
