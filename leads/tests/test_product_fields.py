"""Product extra fields (§3) on both intake paths (provider API and landing form), and the
consent proof stored with a provider lead (§16)."""

import pytest

from leads.models import Lead
from leads.services import LeadError, product_extra_validate
from tests.factories import LeadFormFactory, ProductFieldFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://pv.exemple.fr"


@pytest.fixture
def fields(product):
    ProductFieldFactory(product=product, name="surface", label="Surface du toit (m²)", type="integer", required=True)
    ProductFieldFactory(
        product=product, name="toit", label="Type de toit", type="choice", choices=["Tuiles", "Ardoise"]
    )
    ProductFieldFactory(product=product, name="proprietaire", label="Propriétaire", type="boolean", required=True)
    ProductFieldFactory(product=product, name="remarque", label="Remarque", type="text")


def submit_provider(api_client, provider, extra, **body):
    return api_client.post(
        "/api/v1/leads/",
        {"phone": "0612345678", "product": "PV", "departement": "13", "extra": extra, **body},
        format="json",
        HTTP_X_API_KEY=provider.api_key,
    )


def submit_form(api_client, product, extra):
    LeadFormFactory(code="pv-extra", product=product, allowed_origins=[ORIGIN])
    return api_client.post(
        "/api/v1/forms/pv-extra/submit/",
        {"phone": "0612345678", "departement": "13", "extra": extra},
        format="json",
        HTTP_ORIGIN=ORIGIN,
    )


@pytest.fixture(params=["provider", "form"])
def intake(request, api_client, zr7_provider, product):
    if request.param == "provider":
        return lambda extra: submit_provider(api_client, zr7_provider, extra)
    return lambda extra: submit_form(api_client, product, extra)


def test_valid_extra_fields_are_converted_and_stored_on_both_intake_paths(intake, fields):
    response = intake({"surface": "40", "toit": "tuiles", "proprietaire": "oui", "remarque": "  sud  ", "autre": 1})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.extra == {"surface": 40, "toit": "Tuiles", "proprietaire": True, "remarque": "sud", "autre": 1}


def test_every_wrong_extra_field_is_reported_in_french_on_both_intake_paths(intake, fields):
    response = intake({"surface": "grande", "toit": "Chaume", "remarque": ["x"]})
    assert response.status_code == 400
    assert response.json()["extra"] == [
        "surface : un nombre entier est attendu.",
        "toit : « Chaume » n'est pas un choix valide (Tuiles, Ardoise).",
        "proprietaire : ce champ est obligatoire (Propriétaire).",
        "remarque : texte attendu.",
    ]
    assert not Lead.objects.exists()


def test_extra_must_be_an_object(intake, fields):
    response = intake(["surface", 40])
    assert response.status_code == 400
    assert "extra" in response.json()
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("integer", 40.0, 40),
        ("integer", " 12 ", 12),
        ("boolean", "Non", False),
        ("boolean", 1, True),
        ("choice", "ARDOISE", "Ardoise"),
    ],
)
def test_values_are_normalized_to_their_type(product, type_, value, expected):
    field = ProductFieldFactory(product=product, name="champ", type=type_, choices=["Tuiles", "Ardoise"])
    assert product_extra_validate(product=product, extra={"champ": value}, fields=[field]) == {"champ": expected}


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("integer", True),
        ("integer", 4.5),
        ("integer", "²"),
        ("integer", "--5"),
        ("integer", "-"),
        ("boolean", "peut-être"),
    ],
)
def test_wrong_types_are_refused(product, type_, value):
    field = ProductFieldFactory(product=product, name="champ", type=type_)
    with pytest.raises(LeadError) as exc:
        product_extra_validate(product=product, extra={"champ": value}, fields=[field])
    assert "attendu" in str(exc.value.errors)  # French, not Python's own message


def test_a_provider_lead_keeps_its_consent_proof(api_client, zr7_provider, product):
    response = submit_provider(
        api_client,
        zr7_provider,
        {},
        consent=True,
        consent_page_url="https://partenaire.example/devis-solaire",
        consent_text_version="2024-03",
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert lead.consent and lead.consent_at is not None
    assert lead.consent_page_url == "https://partenaire.example/devis-solaire"
    assert lead.consent_text_version == "2024-03"


def test_a_consent_page_that_is_not_a_url_is_refused(api_client, zr7_provider, product):
    response = submit_provider(api_client, zr7_provider, {}, consent=True, consent_page_url="pas une url")
    assert response.status_code == 400
    assert "consent_page_url" in response.json()


def test_the_landing_snippet_renders_the_product_extra_fields_with_browser_checks(fields, product):
    from leads.views_tracking import tracking_snippet

    ProductFieldFactory(product=product, name="note", label='<b>"Note"</b>', type="text")
    html = tracking_snippet(form=LeadFormFactory(code="pv-snippet", product=product), base_url="https://rdz.example")
    assert '<input name="extra.surface" type="number" step="1" placeholder="Surface du toit (m²)" required>' in html
    assert '<option value="Tuiles">Tuiles</option>' in html
    assert '<input name="extra.proprietaire" type="checkbox">' in html
    assert "&lt;b&gt;&quot;Note&quot;&lt;/b&gt;" in html and "<b>" not in html
