"""Lead list (filters, search, pagination), CSV export and the lead page (§13, §16)."""

import datetime
import html

import pytest
from django.http import StreamingHttpResponse

from leads.services import LeadInput, lead_create
from tests.factories import CommandeFactory, LeadFactory, LeadFormFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed_lead(zr7_provider, product):
    CommandeFactory(client__entity="ZR7", client__name="Soleil", product=product, priority=3, name="Prioritaire")
    CommandeFactory(client__entity="ZR7", client__name="Ombre", product=product, priority=1, name="Secondaire")
    lead, _ = lead_create(
        data=LeadInput(phone="+33612345678", product=product, departement="13", last_name="Dupont"),
        provider=zr7_provider,
    )
    return lead


def test_the_lead_page_explains_the_route_and_shows_the_timeline_with_durations(client, zr7_staff, routed_lead):
    client.force_login(zr7_staff)
    page = client.get(f"/leads/{routed_lead.pk}/").content.decode()
    assert "Pourquoi ce routage ?" in page
    assert "Prioritaire" in page and "choisie : priorité 3, remplissage 0 %" in page
    assert "Secondaire" in page and "écartée" in page
    assert 'id="timeline"' in page
    for step in ("Reçu", "Validé", "Attribué"):
        assert f'<span class="tl-kind">{step}</span>' in page
    assert "T+" in page


def test_the_lead_page_names_a_step_once_for_a_lead_nobody_bought(client, zr7_staff, zr7_provider, product):
    lead, _ = lead_create(
        data=LeadInput(phone="+33612345678", product=product, departement="13"), provider=zr7_provider
    )
    client.force_login(zr7_staff)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Non attribué</strong> : aucune commande ouverte (backlog)" in page
    assert '<span class="tl-kind">Non attribué</span>\n      <span class="tl-msg">aucune commande ouverte' in page
    assert "Non attribué — " not in page


def test_a_phone_typed_in_any_french_format_finds_the_lead(client, zr7_staff, routed_lead):
    client.force_login(zr7_staff)
    for typed in ("06 12 34 56 78", "0033612345678", "+33 6 12 34 56 78"):
        page = client.get("/leads/", {"q": typed}).content.decode()
        assert f"/leads/{routed_lead.pk}/" in page, typed
    page = client.get("/leads/", {"q": "dupont"}).content.decode()
    assert f"/leads/{routed_lead.pk}/" in page


def test_filters_narrow_the_list_and_pages_follow(client, zr7_staff, product):
    for i in range(55):
        LeadFactory(entity="ZR7", departement="2A" if i < 52 else "13", status="no_order")
    client.force_login(zr7_staff)
    page = client.get("/leads/", {"departement": "2a", "status": "no_order"}).content.decode()
    assert page.count("status-no_order") == 50
    assert "Suivant" in page
    page2 = client.get("/leads/", {"departement": "2a", "status": "no_order", "page": 2}).content.decode()
    assert page2.count("status-no_order") == 2
    assert "Suivant" not in page2
    bad = client.get("/leads/", {"departement": "20"})
    assert bad.status_code == 200
    assert '<span class="error">' in bad.content.decode()  # a French field message, not a crash


def test_pages_of_leads_sharing_one_timestamp_neither_skip_nor_repeat_a_lead(client, zr7_staff, product):
    # Legacy leads with a date-only creation share midnight: the order must not depend on ties.
    midnight = datetime.datetime(2023, 4, 5, 22, 0, tzinfo=datetime.UTC)
    leads = {str(LeadFactory(entity="ZR7", created_at=midnight, status="no_order").pk) for _ in range(75)}
    client.force_login(zr7_staff)
    seen = []
    for number in (1, 2):
        page = client.get("/leads/", {"page": number})
        seen += [str(lead.pk) for lead in page.context["page"].object_list]
    assert len(seen) == 75 and set(seen) == leads


def test_the_export_streams_a_french_semicolon_csv_with_bom_of_the_filtered_list(client, zr7_staff, product):
    LeadFactory(entity="ZR7", last_name="=HYPERLINK(1)", departement="13", status="delivered")
    LeadFactory(entity="ZR7", last_name="Autre", departement="75", status="delivered")
    client.force_login(zr7_staff)
    response = client.get("/leads/export.csv", {"departement": "13"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    lines = raw.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("Identifiant;Reçu le;Entité;Produit;Téléphone")
    assert len(lines) == 2
    assert ";'=HYPERLINK(1);" in lines[1]  # formulas neutralized
    assert ";Livré;" in lines[1]


def test_the_export_writes_the_crm_status_in_french(client, zr7_staff, product):
    LeadFactory(entity="ZR7", last_name="Transmis", status="routed", crm_status="fallback_sent")
    LeadFactory(entity="ZR7", last_name="Perdu", status="routed", crm_status="failed")
    LeadFactory(entity="ZR7", last_name="Provider", status="routed", crm_status="")
    client.force_login(zr7_staff)
    raw = b"".join(client.get("/leads/export.csv").streaming_content).decode("utf-8-sig")
    rows = {line.split(";")[7]: line.split(";")[-1] for line in raw.strip().splitlines()[1:]}
    assert rows == {"Transmis": "Envoyé (repli)", "Perdu": "Échec", "Provider": ""}


def test_the_forms_page_shows_visits_starts_termine_and_conversion_per_variant(client, zr7_staff, product):
    from leads.models import TrackingEvent
    from tests.factories import LeadFormFactory

    form = LeadFormFactory(entity="ZR7", code="pv-sud", variants=[{"name": "A", "weight": 1}])
    for i in range(4):
        TrackingEvent.objects.create(form=form, event="visit", visitor_id=f"v{i}", variant="A")
    TrackingEvent.objects.create(form=form, event="start", visitor_id="v0", variant="A")
    LeadFactory(entity="ZR7", form=form, variant="A", status="duplicate")
    client.force_login(zr7_staff)
    page = client.get("/formulaires/").content.decode()
    assert "pv-sud" in page
    assert '<td class="num">4</td><td class="num">1</td>' in page
    assert "25,0 %" in page  # French decimal comma


def test_the_forms_page_termine_link_lists_the_leads_of_the_period_shown(client, zr7_staff, product):
    import re

    from tests.factories import LeadFormFactory

    form = LeadFormFactory(entity="ZR7", code="pv-nord")
    LeadFactory(entity="ZR7", form=form, last_name="Recent", status="routed")
    LeadFactory(
        entity="ZR7",
        form=form,
        last_name="Ancien",
        status="routed",
        created_at=datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(days=40),
    )
    client.force_login(zr7_staff)
    page = client.get("/formulaires/", {"jours": 30}).content.decode()
    link, shown = re.search(r'<a href="(/leads/\?form=pv-nord[^"]*)">(\d+)</a>', page).groups()
    listed = client.get(link.replace("&amp;", "&")).content.decode()
    assert shown == "1"
    assert "Recent" in listed and "Ancien" not in listed


@pytest.mark.parametrize("value", ["abc", "0", "366", "-7", "99999999999999999999"])
def test_a_bad_period_on_the_forms_page_is_told_in_french_not_replaced_quietly(client, zr7_staff, value):
    """« ?jours=abc » showed 30 days and « ?jours=500 » 365, the select reading « 7 jours »."""
    client.force_login(zr7_staff)
    response = client.get("/formulaires/", {"jours": value})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"Période invalide : « {value} » (un nombre de jours de 1 à 365 est attendu). " in page
    assert "Période par défaut affichée (30 jours)." in page
    assert response.context["days"] == 30
    assert '<option value="30" selected>30 jours</option>' in page


def test_a_period_of_the_forms_page_outside_the_list_is_shown_as_asked(client, zr7_staff):
    client.force_login(zr7_staff)
    response = client.get("/formulaires/", {"jours": "45"})
    page = response.content.decode()
    assert response.context["days"] == 45
    assert '<option value="45" selected>45 jours</option>' in page
    assert "Période invalide" not in page
    response = client.get("/formulaires/", {"jours": "1"})
    assert '<option value="1" selected>1 jour</option>' in response.content.decode()
    assert "Période invalide" not in client.get("/formulaires/").content.decode()


def test_the_backlog_page_counts_backlog_leads_by_product_and_departement(client, zr7_staff, product):
    for dep in ("13", "13", "2A"):
        LeadFactory(entity="ZR7", departement=dep, status="no_order")
    LeadFactory(entity="ZR7", departement="13", status="rejected")
    LeadFactory(entity="ZR7", departement="13", status="routed")  # attributed: not in the backlog
    LeadFactory(entity="MDL", departement="13", status="no_order")
    client.force_login(zr7_staff)
    response = client.get("/backlog/")
    assert response.context["total"] == 4
    assert response.context["departements"] == ["13", "2A"]
    assert response.context["table"][0]["cells"] == [3, 1]


def test_the_backlog_page_lists_as_takers_only_the_commandes_that_recycling_offers_leads_to(client, zr7_staff, product):
    today = datetime.date.today()
    CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=True, name="Preneuse")
    CommandeFactory(
        client__entity="ZR7",
        product=product,
        accepts_backlog=True,
        name="Terminee",
        ends_on=today - datetime.timedelta(days=30),
    )
    CommandeFactory(
        client__entity="ZR7",
        product=product,
        accepts_backlog=True,
        name="Future",
        starts_on=today + datetime.timedelta(days=30),
    )
    CommandeFactory(client__entity="ZR7", client__active=False, product=product, accepts_backlog=True, name="Inactif")
    CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=True, active=False, name="Arretee")
    client.force_login(zr7_staff)

    response = client.get("/backlog/")

    assert [c.name for c in response.context["takers"]] == ["Preneuse"]


def test_a_manager_rejects_a_delivered_lead_from_its_page_and_deactivates_a_commande(client, zr7_staff, routed_lead):
    from django.utils import timezone

    from commandes.models import Attribution

    attribution = Attribution.objects.get(lead=routed_lead)
    Attribution.objects.filter(pk=attribution.pk).update(status="delivered", delivered_at=timezone.now())
    routed_lead.status = "delivered"
    routed_lead.save()
    client.force_login(zr7_staff)
    page = client.get(f"/leads/{routed_lead.pk}/").content.decode()
    assert "Rejeter pour le client" in page
    response = client.post(
        f"/leads/{routed_lead.pk}/", {"attribution": attribution.pk, "reason": "wrong_number", "comment": "Faux"}
    )
    assert response.status_code == 302
    routed_lead.refresh_from_db()
    assert routed_lead.status == "rejected"
    assert "Faux numéro" in client.get(f"/leads/{routed_lead.pk}/").content.decode()

    commande = attribution.commande
    assert client.post("/commandes/", {"commande": commande.pk, "active": "0"}).status_code == 302
    commande.refresh_from_db()
    assert not commande.active
    assert "commande inactive" in client.get("/commandes/").content.decode()


def test_the_scripts_page_gives_the_snippet_of_each_form_of_the_entity(client, zr7_staff, product, settings):
    from tests.factories import LeadFormFactory

    settings.SITE_URL = "https://rdz.exemple.fr"
    LeadFormFactory(entity="ZR7", code="pac-nord")
    LeadFormFactory(entity="MDL", code="ite-ouest")
    client.force_login(zr7_staff)
    page = client.get("/scripts/").content.decode()
    assert "&lt;script src=&quot;https://rdz.exemple.fr/t/pac-nord.js&quot; async&gt;" in page
    assert "data-rdz-form=&quot;pac-nord&quot;" in page
    assert "ite-ouest" not in page


def test_the_scripts_page_snippet_has_the_product_fields_the_intake_requires(client, zr7_staff, product):
    # Without them, a landing page pasted from this page had every submission refused
    # (« surface : ce champ est obligatoire »), with no field where the visitor could answer.
    from tests.factories import LeadFormFactory, ProductFieldFactory

    ProductFieldFactory(product=product, name="surface", label="Surface du toit", type="integer", required=True)
    LeadFormFactory(entity="ZR7", code="pv-toit", product=product)
    client.force_login(zr7_staff)
    page = client.get("/scripts/").content.decode()
    assert "name=&quot;extra.surface&quot;" in page
    assert "Surface du toit" in page


def test_the_scripts_page_reads_the_same_number_of_rows_whatever_the_number_of_forms(client, zr7_staff, product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import LeadFormFactory, ProductFactory, ProductFieldFactory

    client.force_login(zr7_staff)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/scripts/").status_code == 200
        return len(queries)

    LeadFormFactory(entity="ZR7", code="f-0", product=product)
    one = count()
    for i in range(1, 6):
        other = ProductFactory(code=f"P{i}")
        ProductFieldFactory(product=other, name="surface", label="Surface", type="integer")
        LeadFormFactory(entity="ZR7", code=f"f-{i}", product=other)
    assert count() == one  # the products' fields come in one query for all the forms


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (datetime.timedelta(milliseconds=300), "0,3 s"),
        (datetime.timedelta(milliseconds=999), "1,0 s"),
        (datetime.timedelta(milliseconds=1020), "1,0 s"),
        (datetime.timedelta(seconds=9, milliseconds=940), "9,9 s"),
        (datetime.timedelta(seconds=9, milliseconds=960), "10 s"),
        (datetime.timedelta(minutes=4, seconds=5), "4 min 05 s"),
        (datetime.timedelta(days=2, hours=3), "2 j 3 h"),
    ],
)
def test_timeline_durations_read_the_same_on_either_side_of_a_second(delta, text):
    from rdz.core.templatetags.backoffice import duration

    assert duration(delta) == text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attribution": "abc", "reason": "wrong_number"}, "Attribution : Saisissez un nombre entier."),
        ({"reason": "wrong_number"}, "Attribution : Ce champ est obligatoire."),
        ({"attribution": "1", "reason": "pas-un-motif"}, "Motif du rejet : Sélectionnez un choix valide."),
        ({"attribution": "1", "reason": "wrong_number", "comment": "a\x00"}, "Le caractère nul n’est pas autorisé."),
    ],
)
def test_a_hand_made_rejection_post_gets_a_french_message_and_rejects_nothing(
    client, zr7_staff, routed_lead, data, message
):
    from django.contrib.messages import get_messages

    from commandes.models import Rejection

    client.force_login(zr7_staff)
    response = client.post(f"/leads/{routed_lead.pk}/", data)
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and shown[0].startswith("Rejet impossible.") and message in shown[0]
    assert not Rejection.objects.exists()


# --- A lead that crossed entities (§7.3): the other company's part stays with it (§2) -------
@pytest.fixture
def crossed_lead(product, zr7_provider):
    """A ZR7 form lead: the ZR7 commande is full, an MDL client gets it, and delivers."""
    from commandes.delivery import attributions_mark_delivered
    from commandes.models import Attribution
    from tests.factories import LeadFormFactory

    CommandeFactory(client__entity="ZR7", client__name="Soleil-ZR7", product=product, name="Pleine", weekly_quota=1)
    lead_create(data=LeadInput(phone="+33611111111", product=product, departement="13"), provider=zr7_provider)
    CommandeFactory(client__entity="MDL", client__name="Partenaire-MDL", product=product, name="Repli-MDL")
    form = LeadFormFactory(entity="ZR7", product=product)
    lead, _ = lead_create(data=LeadInput(phone="+33612345678", product=product, departement="13"), form=form)
    attributions_mark_delivered(
        qs=Attribution.objects.filter(lead=lead),
        now=lead.created_at,
        message="Livré par e-mail (CSV) à achats@partenaire-mdl.fr",
        data={},
    )
    lead.refresh_from_db()
    assert lead.entity == "ZR7" and lead.attributions.get().entity == "MDL"
    return lead


MDL_NAMES = ("Partenaire-MDL", "Repli-MDL", "achats@partenaire-mdl.fr")


def test_the_rejets_page_of_the_other_entity_links_a_crossed_lead_to_a_page_it_may_open(
    client, mdl_staff, both_staff, crossed_lead
):
    """MDL handles its client's rejection of a ZR7 lead: the lead's page is ZR7's (§2), and
    the phone on the Rejets page led MDL to « page introuvable »; it now opens the attribution."""
    from commandes.rejections import rejection_create

    attribution = crossed_lead.attributions.get()
    rejection_create(attribution=attribution, reason="wrong_number", actor=mdl_staff)
    client.force_login(mdl_staff)

    page = client.get("/rejets/").content.decode()

    assert f'<a href="/admin/commandes/attribution/{attribution.pk}/change/">+33612345678</a>' in page
    assert f"/leads/{crossed_lead.pk}/" not in page
    assert client.get(f"/admin/commandes/attribution/{attribution.pk}/change/").status_code == 200
    client.force_login(both_staff)  # sees the lead: its page, as for any other lead
    assert f'<a href="/leads/{crossed_lead.pk}/">+33612345678</a>' in client.get("/rejets/").content.decode()


def test_the_lead_page_of_a_crossed_lead_keeps_the_other_entitys_names_out(client, zr7_staff, crossed_lead):
    client.force_login(zr7_staff)
    page = client.get(f"/leads/{crossed_lead.pk}/").content.decode()
    for name in MDL_NAMES:
        assert name not in page
    # Its own entity's commande, the verdict and the steps are still told.
    assert "Soleil-ZR7 (Pleine)" in page and "commande MDL choisie : détail réservé à MDL" in page
    assert "1 attribution à l'autre entité (repli inter-entités) non affichée." in page


@pytest.mark.parametrize("url", ["/leads/{pk}/", "/admin/leads/lead/{pk}/change/"])
def test_the_other_entitys_masked_line_says_it_stands_for_its_commandes(client, zr7_staff, crossed_lead, url):
    """The masked line's « Commande » cell read a bare « MDL », as if MDL were a commande."""
    client.force_login(zr7_staff)
    page = client.get(url.format(pk=crossed_lead.pk)).content.decode()
    assert "<td>Commandes MDL</td>" in page
    assert "<td>MDL</td><td>MDL</td>" not in page.replace("\n", "").replace(" ", "")


def test_the_admin_lead_pages_of_a_crossed_lead_keep_the_other_entitys_names_out(client, zr7_staff, crossed_lead):
    client.force_login(zr7_staff)
    page = client.get(f"/admin/leads/lead/{crossed_lead.pk}/change/").content.decode()
    for name in MDL_NAMES:
        assert name not in page
    assert "Soleil-ZR7 (Pleine)" in page and "commande MDL choisie : détail réservé à MDL" in page
    listing = client.get("/admin/leads/lead/").content.decode()
    assert "Partenaire-MDL" not in listing and "un client MDL" in listing
    # Its Attributions block is empty for ZR7: the page says the lead went to the other entity.
    assert "1 attribution (repli inter-entités) non affichée" in page


def test_the_admin_lead_page_says_nothing_of_hidden_attributions_when_none_is_hidden(client, superuser, crossed_lead):
    client.force_login(superuser)
    page = client.get(f"/admin/leads/lead/{crossed_lead.pk}/change/").content.decode()
    assert "non affichée" not in page


@pytest.mark.parametrize("url", ["/leads/{pk}/", "/admin/leads/lead/{pk}/change/"])
def test_the_other_entitys_commandes_are_one_line_without_their_figures(client, zr7_staff, product, zr7_provider, url):
    """After a fallback, the ZR7 page told MDL's commande ids, priorities, fills and reasons
    (« #41 (MDL) écartée : doublon 30 jours » says an MDL client already bought the number)."""
    CommandeFactory(client__entity="ZR7", client__name="Soleil-ZR7", product=product, weekly_quota=1)
    lead_create(data=LeadInput(phone="+33611111111", product=product, departement="13"), provider=zr7_provider)
    form = LeadFormFactory(entity="ZR7", product=product)  # form leads are not entity-locked (§11)
    bought = CommandeFactory(client__entity="MDL", product=product, priority=9)
    lead_create(data=LeadInput(phone="+33612345678", product=product, departement="13"), form=form)
    chosen = CommandeFactory(client__entity="MDL", product=product, priority=7, weekly_quota=40)
    lead, _ = lead_create(data=LeadInput(phone="+33612345678", product=product, departement="13"), form=form)
    assert lead.entity == "ZR7" and lead.attributions.get().commande == chosen
    client.force_login(zr7_staff)
    page = client.get(url.format(pk=lead.pk)).content.decode()
    assert "Soleil-ZR7" in page  # its own entity's commande is still named
    for told in (f"#{bought.pk} (MDL)", f"#{chosen.pk} (MDL)", "priorité 7", "priorité 9", "doublon 30 jours"):
        assert told not in page
    assert "commande MDL choisie : détail réservé à MDL" in page
    assert "aucune commande ZR7 disponible : essai des commandes MDL" in page  # why MDL was tried stays


@pytest.mark.parametrize("lookup", ["_attributed_to__startswith=P", "_attributed_to=Partenaire-MDL"])
def test_the_zr7_lead_list_is_no_oracle_on_the_masked_mdl_client(client, zr7_staff, crossed_lead, lookup):
    """The « attribué à » column reads « un client MDL », but the list filtered on the value
    behind it (« ?_attributed_to__startswith=P ») answered found / not found to each guess."""
    client.force_login(zr7_staff)
    assert client.get(f"/admin/leads/lead/?{lookup}").status_code == 400
    assert client.get("/admin/leads/lead/?status__exact=delivered").status_code == 200


def test_the_mdl_attribution_of_a_crossed_lead_keeps_the_zr7_names_out(client, mdl_staff, crossed_lead):
    client.force_login(mdl_staff)
    attribution = crossed_lead.attributions.get()
    page = client.get(f"/admin/commandes/attribution/{attribution.pk}/change/").content.decode()
    assert "Partenaire-MDL" in page and "Repli-MDL" in page
    assert "Soleil-ZR7" not in page and "Pleine" not in page


@pytest.mark.parametrize(
    "lookup",
    [
        "explanation__icontains=Soleil-ZR7",
        "explanation__commandes__0__label__startswith=%231%20S",
        "explanation__contains=Pleine",
    ],
)
def test_the_mdl_attribution_list_is_no_oracle_on_the_masked_zr7_names(client, mdl_staff, crossed_lead, lookup):
    """The explanation stored with the attribution names the ZR7 commandes tried first; its
    page masks them, but a list filtered on it answered found / not found to each guess
    (« ?explanation__icontains=Soleil »), spelling the names out one character at a time."""
    client.force_login(mdl_staff)
    response = client.get(f"/admin/commandes/attribution/?{lookup}")
    assert response.status_code == 400
    assert client.get("/admin/commandes/attribution/?is_backlog__exact=0").status_code == 200


def test_the_admin_attribution_page_explains_the_routing_in_french_not_in_json(client, mdl_staff, crossed_lead):
    client.force_login(mdl_staff)
    attribution = crossed_lead.attributions.get()
    page = client.get(f"/admin/commandes/attribution/{attribution.pk}/change/").content.decode()
    assert "<th>Décision</th>" in page and "<strong>choisie</strong>" in page
    assert '"verdict"' not in page and "&quot;verdict&quot;" not in page and "chosen" not in page


def test_an_account_of_both_entities_reads_the_whole_story(client, superuser, crossed_lead):
    client.force_login(superuser)
    page = client.get(f"/admin/leads/lead/{crossed_lead.pk}/change/").content.decode()
    for name in (*MDL_NAMES, "Soleil-ZR7"):
        assert name in page


def test_a_refused_filter_never_widens_the_list_nor_the_export(client, zr7_staff, product):
    LeadFactory(entity="ZR7", departement="13", status="delivered", last_name="Livre")
    LeadFactory(entity="ZR7", departement="75", status="no_order", last_name="Attente")
    client.force_login(zr7_staff)
    # « 20 » is no departement (Corsica is 2A / 2B): the status filter must not be dropped with it.
    query = {"status": "delivered", "departement": "20"}
    page = client.get("/leads/", query).content.decode()
    assert '<span class="error">' in page
    assert "Attente" not in page and "Livre" not in page
    response = client.get("/leads/export.csv", query)
    assert response.status_code == 400
    text = response.content.decode()
    assert "Filtres invalides, rien n&#x27;a été exporté. Département :" in text
    assert "Attente" not in text
    # The same filters, valid, still export.
    response = client.get("/leads/export.csv", {"status": "delivered", "departement": "13"})
    assert "Livre" in b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.mark.parametrize("data", [{}, {"active": ""}, {"active": "oui"}, {"active": ["1", "0"]}])
def test_a_commande_post_without_a_clear_action_changes_nothing(client, zr7_staff, product, data):
    commande = CommandeFactory(client__entity="ZR7", product=product, active=True)
    client.force_login(zr7_staff)

    response = client.post("/commandes/", {"commande": commande.pk, **data}, follow=True)

    commande.refresh_from_db()
    assert commande.active
    assert "Action inconnue : rien n&#x27;a été modifié." in response.content.decode()


def test_an_erased_lead_keeps_a_link_that_can_be_clicked_in_the_lists(client, zr7_staff, product):
    from django.utils import timezone

    from tests.factories import RejectionFactory

    lead = LeadFactory(entity="ZR7", product=product, phone="", anonymized_at=timezone.now(), status="rejected")
    RejectionFactory(attribution__lead=lead, attribution__commande__client__entity="ZR7")
    client.force_login(zr7_staff)

    for url in ("/leads/", "/rejets/"):
        page = client.get(url).content.decode()
        assert f'<a href="/leads/{lead.pk}/">(effacé)</a>' in page, url


def test_the_lead_page_shows_the_whole_consent_proof(client, zr7_staff, zr7_provider, product):
    # §16: consent and its proof (time, IP, page, text) are kept with the lead and shown.
    lead, _ = lead_create(
        data=LeadInput(
            phone="+33612345678",
            product=product,
            departement="13",
            consent=True,
            ip="198.51.100.23",
            consent_page_url="https://www.exemple.fr/solaire?offre=pv",
            consent_text_version="cgu-2026-01",
        ),
        provider=zr7_provider,
    )
    client.force_login(zr7_staff)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "198.51.100.23" in page
    assert "https://www.exemple.fr/solaire?offre=pv" in page
    assert "cgu-2026-01" in page


def test_an_erased_leads_page_says_it_was_anonymized_instead_of_showing_blanks(client, zr7_staff, product):
    from django.utils import timezone

    lead = LeadFactory(entity="ZR7", product=product, phone="", anonymized_at=timezone.now(), status="no_order")
    client.force_login(zr7_staff)

    page = client.get(f"/leads/{lead.pk}/").content.decode()

    assert "<title>Lead (effacé)" in page and "<h1>Lead (effacé) " in page
    assert "<dt>Anonymisé le</dt>" in page


def _crm_attempt(lead, crm: str):
    from routing.models import CrmAttempt, CrmOutcome, CrmPhase

    return CrmAttempt.objects.create(
        lead=lead,
        crm=crm,
        phase=CrmPhase.FALLBACK,
        attempt=1,
        url=f"https://crm-interne.{crm.lower()}.example/api/contacts",
        request_body={f"champ_{crm.lower()}": "0612345678"},
        status_code=201,
        response_body=f'{{"fiche": "{crm}-889123"}}',
        outcome=CrmOutcome.SENT,
    )


def test_the_other_companys_crm_side_of_a_fallback_call_stays_with_it(client, zr7_staff, superuser, crossed_lead):
    """A ZR7 lead sent to the MDL CRM by fallback showed ZR7 staff the MDL CRM's address, its
    field names and its answer (the MDL record id)."""
    attempt = _crm_attempt(crossed_lead, "MDL")
    client.force_login(zr7_staff)
    page = client.get(f"/admin/routing/crmattempt/{attempt.pk}/change/").content.decode()
    assert "Accepté" in page and "201" in page and "détail réservé à MDL" in page
    for told in ("crm-interne.mdl", "champ_mdl", "MDL-889123"):
        assert told not in page
    assert client.get("/admin/routing/crmattempt/?url__startswith=https://crm-interne.m").status_code == 400
    assert client.get("/admin/routing/crmattempt/?response_body__contains=889").status_code == 400
    client.force_login(superuser)
    page = client.get(f"/admin/routing/crmattempt/{attempt.pk}/change/").content.decode()
    for told in ("crm-interne.mdl", "champ_mdl", "MDL-889123"):
        assert told in page


def test_the_own_crm_side_of_a_call_is_shown_whole(client, zr7_staff, crossed_lead):
    attempt = _crm_attempt(crossed_lead, "ZR7")
    client.force_login(zr7_staff)
    page = client.get(f"/admin/routing/crmattempt/{attempt.pk}/change/").content.decode()
    for told in ("crm-interne.zr7", "champ_zr7", "ZR7-889123"):
        assert told in page
