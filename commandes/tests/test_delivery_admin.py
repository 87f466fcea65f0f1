"""Admin pages of the delivery: they render and show only the account's entities (§2)."""

import pytest
from django.utils import timezone

from tests.factories import (
    AttributionFactory,
    CommandeFactory,
    DeliveryBatchFactory,
    HttpDeliveryAttemptFactory,
    LeadFactory,
    RejectionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["deliverybatch", "httpdeliveryattempt", "rejection", "backloglead", "attribution"])
def test_each_delivery_admin_list_shows_only_the_accounts_entity(page, client, zr7_staff, product):
    rows = {}
    for entity in ("ZR7", "MDL"):
        commande = CommandeFactory(client__entity=entity, client__name=f"Client {entity}", product=product)
        lead = LeadFactory(entity=entity, product=product, status="no_order", last_name=f"Nom{entity}")
        rows[entity] = {
            "deliverybatch": DeliveryBatchFactory(client=commande.client),
            "httpdeliveryattempt": HttpDeliveryAttemptFactory(attribution__commande=commande),
            "rejection": RejectionFactory(attribution__commande=commande, attribution__delivered_at=timezone.now()),
            "attribution": AttributionFactory(commande=commande),
            "backloglead": lead,
        }[page]
    client.force_login(zr7_staff)

    response = client.get(f"/admin/commandes/{page}/")

    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert rows["ZR7"].pk in shown and rows["MDL"].pk not in shown
