"""The lead page answers « why did this lead go there? » (§16) and the list finds leads."""

import datetime

import pytest
from django.urls import reverse

from leads.admin import duration_display
from leads.models import Lead
from tests.factories import CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed_lead(api_client, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", client__name="Soleil du Sud", product=product, priority=3)
    CommandeFactory(client__entity="ZR7", client__name="Éco Habitat", product=product, priority=1)
    response = api_client.post(
        "/api/v1/leads/",
        {"phone": "06 12 34 56 78", "product": "PV", "departement": "13", "last_name": "Lefèvre"},
        format="json",
        HTTP_X_API_KEY=zr7_provider.api_key,
    )
    return Lead.objects.get(pk=response.json()["id"])


def test_the_lead_page_shows_the_timeline_with_durations_and_the_routing_explanation(client, zr7_staff, routed_lead):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_change", args=[routed_lead.pk])).content.decode()
    for text in ("Chronologie", "Reçu", "Validé", "Attribué", "Depuis la réception", "Depuis l'étape précédente"):
        assert text in page
    assert "Pourquoi ce routage ?" in page
    assert "Soleil du Sud" in page and "choisie" in page
    assert "Éco Habitat" in page and "non retenue" in page
    assert "0,000 s" in page  # the first step, zero since reception


def test_the_lead_page_is_read_only(client, zr7_staff, routed_lead):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_change", args=[routed_lead.pk])).content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    client.post(
        reverse("admin:leads_lead_change", args=[routed_lead.pk]), {"phone": "+33699999999", "status": "rejected"}
    )
    routed_lead.refresh_from_db()
    assert (routed_lead.phone, routed_lead.status) == ("+33612345678", "routed")


@pytest.mark.parametrize("who", ["zr7_staff", "zr7_viewer"])
def test_staff_see_the_attributions_of_a_lead_and_the_leads_of_a_batch(request, client, who, routed_lead):
    """Both read-only lists were shown to superusers only: they asked for Django model
    permissions that no RDZ role grants, so staff never saw which commande received the lead,
    nor which leads a delivered CSV batch held."""
    from tests.factories import DeliveryBatchFactory

    attribution = routed_lead.attributions.get()
    batch = DeliveryBatchFactory(client=attribution.client)
    attribution.batch = batch
    attribution.save(update_fields=["batch"])
    client.force_login(request.getfixturevalue(who))

    lead_page = client.get(reverse("admin:leads_lead_change", args=[routed_lead.pk])).content.decode()
    assert "commandes ayant reçu ce lead" in lead_page
    assert str(attribution.commande) in lead_page

    batch_page = client.get(reverse("admin:commandes_deliverybatch_change", args=[batch.pk])).content.decode()
    assert "eads du lot" in batch_page
    assert str(routed_lead) in batch_page


def test_the_list_shows_the_client_the_lead_went_to(client, zr7_staff, routed_lead):
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_changelist")).content.decode()
    assert "Soleil du Sud" in page
    assert "+33612345678" in page


@pytest.mark.parametrize(
    "term", ["06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "612345678", "Lefèvre", "345678"]
)
def test_the_search_finds_a_lead_by_phone_in_any_format_or_by_name(client, zr7_staff, routed_lead, product, term):
    LeadFactory(product=product, phone="+33698765432", last_name="Autre")
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_changelist"), {"q": term}).content.decode()
    assert "+33612345678" in page
    assert "+33698765432" not in page


def test_the_search_never_reaches_the_other_entity(client, mdl_staff, routed_lead):
    client.force_login(mdl_staff)
    page = client.get(reverse("admin:leads_lead_changelist"), {"q": "06 12 34 56 78"}).content.decode()
    assert "+33612345678" not in page


def test_the_search_finds_a_lead_by_email(client, zr7_staff, product):
    LeadFactory(product=product, email="zoe@exemple.fr", phone="+33611111111")
    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_changelist"), {"q": "zoe@exemple.fr"}).content.decode()
    assert "+33611111111" in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"status__exact": "routed"}, "+33612345678", "+33611111111"),
        ({"status__exact": "no_order"}, "+33611111111", "+33612345678"),
        ({"product__id__exact": "__product__"}, "+33612345678", "+33622222222"),
        # As the admin's own date filter writes them: aware, Paris time.
        (
            {"created_at__gte": "2020-01-01 00:00:00+01:00", "created_at__lt": "2020-01-02 00:00:00+01:00"},
            "+33611111111",
            "+33612345678",
        ),
    ],
)
def test_the_list_filters_by_status_product_and_date(client, zr7_staff, routed_lead, product, query, shown, hidden):
    from tests.factories import ProductFactory

    LeadFactory(
        product=product, phone="+33611111111", created_at=datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.UTC)
    )
    LeadFactory(product=ProductFactory(code="PAC"), phone="+33622222222")
    query = {k: (str(product.pk) if v == "__product__" else v) for k, v in query.items()}
    client.force_login(zr7_staff)
    response = client.get(reverse("admin:leads_lead_changelist"), query)
    assert response.status_code == 200
    page = response.content.decode()
    assert shown in page and hidden not in page


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (datetime.timedelta(0), "0,000 s"),
        (datetime.timedelta(milliseconds=42), "0,042 s"),
        (datetime.timedelta(minutes=3, seconds=20), "3 min 20 s"),
        (datetime.timedelta(hours=5, minutes=7), "5 h 7 min"),
        (datetime.timedelta(days=2, hours=4), "2 j 4 h"),
    ],
)
def test_durations_read_naturally_in_french(delta, text):
    assert duration_display(delta) == text


def test_the_routing_explanation_of_a_recycled_lead_is_the_recycling_that_placed_it(
    api_client, client, zr7_staff, zr7_provider, product
):
    from routing.backlog import backlog_recycle

    response = api_client.post(
        "/api/v1/leads/",
        {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"},
        format="json",
        HTTP_X_API_KEY=zr7_provider.api_key,
    )
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.status == "no_order"
    CommandeFactory(client__entity="ZR7", client__name="Repreneur", product=product, accepts_backlog=True)
    assert backlog_recycle().recycled == 1

    client.force_login(zr7_staff)
    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    explanation = page.split("Pourquoi ce routage ?", 1)[1]
    assert "Recyclé depuis le Lead Backlog" in explanation
    assert "Repreneur" in explanation and "<strong>choisie</strong>" in explanation
