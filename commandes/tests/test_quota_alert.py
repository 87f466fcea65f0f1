import pytest

from commandes.models import Attribution
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


def test_a_quota_alert_closes_when_its_week_is_over_and_the_next_week_alerts_again(product):
    import datetime

    from django.utils import timezone

    from rdz.core.timeutils import paris_today, week_start

    commande = CommandeFactory(product=product, weekly_quota=1)
    AttributionFactory(commande=commande)
    assert commande_quota_alerts() == [commande.pk]
    alert = Alert.objects.get(kind="quota_atteint")

    next_week = timezone.now() + datetime.timedelta(days=7)
    assert commande_quota_alerts(now=next_week) == []
    alert.refresh_from_db()
    assert alert.state == "cleared"  # a new week: the commande is open again

    monday = week_start(paris_today()) + datetime.timedelta(days=7)
    AttributionFactory(commande=commande, week_start=monday, day=monday)
    assert commande_quota_alerts(now=next_week) == [commande.pk]
    assert Alert.objects.filter(kind="quota_atteint", state="open").count() == 1


def test_a_quota_raised_mid_week_closes_the_alert_and_the_new_quota_alerts_again_once_reached(product):
    commande = CommandeFactory(product=product, weekly_quota=2)
    AttributionFactory(commande=commande)
    AttributionFactory(commande=commande)
    assert commande_quota_alerts() == [commande.pk]

    # Staff sell three more leads this week: the commande is open again, the alert is over.
    commande.weekly_quota = 5
    commande.save()
    assert commande_quota_alerts() == []
    assert not Alert.objects.filter(kind="quota_atteint", state="open").exists()

    for _ in range(3):
        AttributionFactory(commande=commande)
    assert commande_quota_alerts() == [commande.pk]
    alert = Alert.objects.get(kind="quota_atteint", state="open")
    assert "5/5" in alert.message
    assert commande_quota_alerts() == []  # still once


def test_a_rejection_credited_back_reopens_the_commande_and_closes_its_quota_alert(product):
    commande = CommandeFactory(product=product, weekly_quota=1)
    attribution = AttributionFactory(commande=commande)
    assert commande_quota_alerts() == [commande.pk]

    Attribution.objects.filter(pk=attribution.pk).update(counts_for_quota=False)  # what a rejection does (§10)
    commande_quota_alerts()
    assert not Alert.objects.filter(kind="quota_atteint", state="open").exists()


def test_a_full_commande_of_an_inactive_client_raises_no_alert_and_its_open_one_closes(product):
    commande = CommandeFactory(product=product, weekly_quota=1)
    AttributionFactory(commande=commande)
    assert commande_quota_alerts() == [commande.pk]
    commande.client.active = False
    commande.client.save()

    assert commande_quota_alerts() == []
    assert not Alert.objects.filter(kind="quota_atteint", state="open").exists()
    other = CommandeFactory(product=product, weekly_quota=1, client__active=False)
    AttributionFactory(commande=other)
    assert commande_quota_alerts() == []


def test_a_quota_of_one_lead_reads_in_the_singular(product):
    """« 1/1 lead(s) pour la semaine » read like a form letter."""
    commande = CommandeFactory(product=product, weekly_quota=1)
    AttributionFactory(commande=commande)

    commande_quota_alerts()

    message = Alert.objects.get(kind="quota_atteint").message
    assert "a atteint son quota hebdomadaire : 1/1 lead pour la semaine du " in message
    commande = CommandeFactory(product=product, weekly_quota=2)
    AttributionFactory(commande=commande)
    AttributionFactory(commande=commande)
    commande_quota_alerts()
    second = Alert.objects.get(key__startswith=f"commande_quota:{commande.pk}:")
    assert "2/2 leads pour la semaine" in second.message
