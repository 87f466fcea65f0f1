import pytest

from commandes.services import commande_quota_alerts
from rdz.core.models import Alert
from rdz.core.services import alert_clear
from tests.factories import AttributionFactory, CommandeFactory

pytestmark = pytest.mark.django_db


def test_a_commande_reaching_its_weekly_quota_raises_one_alert_per_week(product):
    commande = CommandeFactory(product=product, weekly_quota=2)
    AttributionFactory(commande=commande)
    assert commande_quota_alerts() == []
    AttributionFactory(commande=commande)

    assert commande_quota_alerts() == [commande.pk]
    alert = Alert.objects.get(kind="quota_atteint")
    assert str(commande.pk) in alert.key and "2/2" in alert.message
    alert_clear(key=alert.key)
    assert commande_quota_alerts() == []  # cleared, but still once per week
    assert Alert.objects.filter(kind="quota_atteint").count() == 1
