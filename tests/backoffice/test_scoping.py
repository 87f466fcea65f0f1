"""§2 on every back-office page, the CSV export and the stats API: an account sees and
changes only its entities' data; viewers change nothing."""

import base64

import pytest

from leads.stats import rollup_refresh_day
from rdz.core.timeutils import paris_today

pytestmark = pytest.mark.django_db

LIST_PAGES = [
    "/",
    "/leads/",
    "/formulaires/",
    "/scripts/",
    "/providers/",
    "/clients/",
    "/commandes/",
    "/livraisons/",
    "/backlog/",
    "/rejets/",
    "/statistiques/",
    "/alertes/?state=all",
    "/parametres/",
]
MDL_MARKERS = ["Client-MDL", "Commande-MDL", "Provider-MDL", "NomMDL", "Alerte-MDL", "source-mdl"]


def _text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


@pytest.mark.parametrize("url", LIST_PAGES)
def test_a_zr7_account_never_sees_mdl_rows_on_any_page(client, zr7_staff, two_entities, url):
    rollup_refresh_day(day=paris_today())
    client.force_login(zr7_staff)
    response = client.get(url)
    assert response.status_code == 200
    text = _text(response)
    for marker in MDL_MARKERS:
        assert marker not in text, f"{marker} visible on {url}"


def test_the_zr7_rows_are_listed_for_the_zr7_account(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    assert "NomZR7" in _text(client.get("/leads/"))
    assert "Client-ZR7" in _text(client.get("/clients/"))
    assert "Commande-ZR7" not in _text(client.get("/commandes/?client=999999"))
    assert "Provider-ZR7" in _text(client.get("/providers/"))
    assert "Alerte-ZR7" in _text(client.get("/alertes/"))


def test_a_zr7_account_gets_404_on_an_mdl_lead_page(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    assert client.get(f"/leads/{two_entities['MDL']['lead'].pk}/").status_code == 404
    assert client.get(f"/leads/{two_entities['ZR7']['lead'].pk}/").status_code == 200


def test_the_csv_export_only_holds_the_accounts_entity(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    response = client.get("/leads/export.csv?entity=MDL")
    text = _text(response)
    assert "NomMDL" not in text and "NomZR7" not in text  # asking for MDL narrows to nothing
    text = _text(client.get("/leads/export.csv"))
    assert "NomZR7" in text and "NomMDL" not in text


def test_the_stats_api_only_returns_the_accounts_entity(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    body = client.get("/api/v1/stats/daily/").json()
    assert {row["entity"] for row in body["results"]} == {"ZR7"}
    assert sum(row["received"] for row in body["results"]) == 1
    assert client.get("/api/v1/stats/daily/?entity=MDL").status_code == 403


def test_an_mdl_alert_cannot_be_cleared_by_a_zr7_manager(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    response = client.post("/alertes/", {"alert": two_entities["MDL"]["alert"].pk})
    assert response.status_code == 404
    two_entities["MDL"]["alert"].refresh_from_db()
    assert two_entities["MDL"]["alert"].state == "open"


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/parametres/", {"backlog_age_days": "10"}),
        ("/alertes/", {"alert": "1"}),
        ("/livraisons/", {"batch": "1"}),
        ("/rejets/", {"rejection": "1", "decision": "approve"}),
        ("/comptes/nouveau/", {"username": "x"}),
        ("/commandes/", {"commande": "1", "active": "0"}),
        ("/clients/", {"client": "1"}),
    ],
)
def test_a_viewer_gets_403_on_every_change(client, zr7_viewer, two_entities, url, data):
    client.force_login(zr7_viewer)
    assert client.post(url, data).status_code == 403


def test_a_viewer_reads_every_page(client, zr7_viewer, two_entities):
    client.force_login(zr7_viewer)
    for url in LIST_PAGES:
        assert client.get(url).status_code == 200, url


def test_a_viewer_clears_nothing(client, zr7_viewer, two_entities):
    client.force_login(zr7_viewer)
    client.post("/alertes/", {"alert": two_entities["ZR7"]["alert"].pk})
    two_entities["ZR7"]["alert"].refresh_from_db()
    assert two_entities["ZR7"]["alert"].state == "open"


def test_the_entity_switcher_narrows_every_list_for_a_two_entity_account(client, both_admin, two_entities):
    client.force_login(both_admin)
    text = _text(client.get("/leads/"))
    assert "NomZR7" in text and "NomMDL" in text
    client.post("/entite/", {"entity": "MDL", "next": "/leads/"})
    text = _text(client.get("/leads/"))
    assert "NomMDL" in text and "NomZR7" not in text
    assert "Client-ZR7" not in _text(client.get("/clients/"))
    # The lead page itself still opens (scoped on the account, not on the switcher).
    assert client.get(f"/leads/{two_entities['ZR7']['lead'].pk}/").status_code == 200
    client.post("/entite/", {"entity": "", "next": "/"})
    assert "NomZR7" in _text(client.get("/leads/"))


def test_a_single_entity_account_cannot_switch_to_the_other_entity(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    client.post("/entite/", {"entity": "MDL", "next": "/leads/"})
    text = _text(client.get("/leads/"))
    assert "NomZR7" in text and "NomMDL" not in text


def test_the_lead_filters_offer_only_the_entities_the_list_can_show(client, zr7_staff, both_admin, two_entities):
    client.force_login(zr7_staff)
    page = client.get("/leads/")
    assert "entity" not in page.context["filter_form"].fields
    assert 'value="MDL"' not in _text(page)
    client.force_login(both_admin)
    choices = client.get("/leads/").context["filter_form"].fields["entity"].choices
    assert [value for value, _ in choices] == ["", "ZR7", "MDL"]
    client.post("/entite/", {"entity": "MDL", "next": "/leads/"})
    assert "entity" not in client.get("/leads/").context["filter_form"].fields


def test_anonymous_visitors_are_sent_to_the_french_login_page(client, db):
    response = client.get("/leads/")
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/")
    assert "Connexion à RDZ" in client.get("/connexion/").content.decode()


def test_an_account_without_entity_is_refused(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="no-profile"))
    assert client.get("/").status_code == 403


def test_a_viewer_cannot_reject_a_lead_nor_deactivate_a_commande(client, zr7_viewer, two_entities):
    client.force_login(zr7_viewer)
    lead = two_entities["ZR7"]["lead"]
    response = client.post(f"/leads/{lead.pk}/", {"attribution": two_entities["ZR7"]["attribution"].pk})
    assert response.status_code == 403
    commande = two_entities["ZR7"]["commande"]
    assert client.post("/commandes/", {"commande": commande.pk, "active": "0"}).status_code == 403
    commande.refresh_from_db()
    assert commande.active


def test_a_zr7_manager_cannot_touch_an_mdl_commande_or_client(client, zr7_staff, two_entities):
    client.force_login(zr7_staff)
    commande = two_entities["MDL"]["commande"]
    assert client.post("/commandes/", {"commande": commande.pk, "active": "0"}).status_code == 404
    commande.refresh_from_db()
    assert commande.active
    assert client.post("/clients/", {"client": two_entities["MDL"]["client"].pk}).status_code == 404


@pytest.mark.parametrize(
    "url",
    [*LIST_PAGES, "/leads/export.csv", "/comptes/", "/medias/", "/api/v1/stats/daily/", "/api/v1/media/", "LEAD"],
)
def test_no_browser_nor_proxy_keeps_a_page_shown_to_a_signed_in_account(client, zr7_admin, two_entities, url):
    """The lead lists, lead pages and exports were sent without any caching rule (the Django
    admin says « no-store »): after logging out of a shared computer, Back showed them again."""
    client.force_login(zr7_admin)
    if url == "LEAD":
        url = f"/leads/{two_entities['ZR7']['lead'].pk}/"
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_the_staff_api_called_with_a_password_is_not_kept_either(client, zr7_staff):
    zr7_staff.set_password("mot-de-passe-solide-2026")
    zr7_staff.save()
    credentials = base64.b64encode(b"zr7-staff:mot-de-passe-solide-2026").decode()
    response = client.get("/api/v1/stats/daily/", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_public_answers_keep_their_own_caching(client, product):
    from tests.factories import LeadFormFactory

    LeadFormFactory(code="pv-public", entity="ZR7", product=product)
    client.cookies["sessionid"] = "stale"
    assert client.get("/t/pv-public.js")["Cache-Control"] == "public, max-age=300"
