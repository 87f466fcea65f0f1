"""Fixtures of the back-office tests: one lead, client, commande and alert per entity."""

import pytest

from tests.factories import (
    AlertFactory,
    AttributionFactory,
    ClientFactory,
    CommandeFactory,
    LeadEventFactory,
    LeadFactory,
    ProviderFactory,
    StaffProfileFactory,
    UserFactory,
)


@pytest.fixture
def two_entities(db, product):
    """Mirrored rows in ZR7 and MDL, with names that say which entity they belong to."""
    data = {}
    for entity in ("ZR7", "MDL"):
        client = ClientFactory(entity=entity, name=f"Client-{entity}")
        commande = CommandeFactory(client=client, product=product, name=f"Commande-{entity}")
        provider = ProviderFactory(entity=entity, name=f"Provider-{entity}", slug=f"provider-{entity.lower()}")
        lead = LeadFactory(
            entity=entity,
            product=product,
            provider=provider,
            entity_locked=True,
            last_name=f"Nom{entity}",
            source=f"source-{entity.lower()}",
            status="routed",
        )
        LeadEventFactory(lead=lead, kind="received", message=f"Reçu {entity}")
        attribution = AttributionFactory(lead=lead, commande=commande)
        alert = AlertFactory(entity=entity, message=f"Alerte-{entity}")
        data[entity] = {
            "client": client,
            "commande": commande,
            "provider": provider,
            "lead": lead,
            "attribution": attribution,
            "alert": alert,
        }
    return data


@pytest.fixture
def zr7_admin(db):
    return StaffProfileFactory(user=UserFactory(username="zr7-admin"), scope="ZR7", role="admin").user


@pytest.fixture
def both_admin(db):
    return StaffProfileFactory(user=UserFactory(username="both-admin"), scope="BOTH", role="admin").user
