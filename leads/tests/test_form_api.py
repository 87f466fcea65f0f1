"""Public landing-form endpoints (§11, §15): submit, track, CORS, dedupe, throttling, and
the staff stats API."""

import datetime
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads.models import Lead, LeadStatus, TrackingEvent
from leads.selectors import form_stats
from leads.services_forms import leadform_origins_clean
from leads.throttles import FixedWindowIpThrottle
from rdz.core.models import OutboxItem
from rdz.core.timeutils import paris_today
from tests.factories import CommandeFactory, LeadFactory, LeadFormFactory, ProductFieldFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://landing.exemple.fr"
SUBMIT = "/api/v1/forms/pv-sud/submit/"
TRACK = "/api/v1/track/?form=pv-sud"
BODY = {
    "phone": "06 12 34 56 78",
    "departement": "13",
    "first_name": "Zoé",
    "visitor_id": "visitor-000001",
    "variant": "B",
    "consent": True,
    "consent_page_url": "https://landing.exemple.fr/pv?utm_source=fb",
}


@pytest.fixture
def form(product):
    return LeadFormFactory(
        code="pv-sud",
        entity="ZR7",
        product=product,
        allowed_origins=[ORIGIN],
        variants=[{"name": "A", "weight": 50}, {"name": "B", "weight": 50}],
        consent_text_version="v2",
        crm_api_key="k",
    )


def preflight(api_client, url=SUBMIT, origin=ORIGIN):
    """The browser's CORS preflight of a JSON POST."""
    return api_client.options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )


def post(api_client, url, body, origin=ORIGIN):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return api_client.post(url, body, format="json", **headers)


def test_a_submission_creates_an_unlocked_lead_of_the_form_with_its_consent_proof(api_client, form, product):
    CommandeFactory(client__entity="ZR7", product=product)
    response = post(api_client, SUBMIT, BODY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "routed"
    assert body["entity"] == "ZR7"
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    lead = Lead.objects.get(pk=body["id"])
    assert (lead.form, lead.entity_locked, lead.source, lead.variant) == (form, False, "pv-sud", "B")
    assert lead.phone == "+33612345678"
    assert lead.consent and lead.consent_at is not None
    assert lead.consent_page_url == BODY["consent_page_url"]
    assert lead.consent_text_version == "v2"
    assert lead.crm_status == "pending"
    assert OutboxItem.objects.filter(kind="crm_forward", ref=str(lead.pk)).exists()


def test_a_bad_phone_and_departement_are_400_in_french_and_nothing_is_stored(api_client, form):
    response = post(api_client, SUBMIT, {**BODY, "phone": "12", "departement": "20"})
    assert response.status_code == 400
    errors = response.json()
    assert errors["phone"] == ["Numéro de téléphone invalide."]
    assert "n'est pas un code de département valide" in errors["departement"][0]
    assert not Lead.objects.exists()


def test_null_optional_fields_are_accepted_as_empty(api_client, form):
    body = {**BODY, "source": None, "consent": None, "first_name": None, "email": None, "extra": None}
    response = post(api_client, SUBMIT, body)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.source, lead.consent, lead.first_name, lead.email, lead.extra) == ("pv-sud", False, "", "", {})


@pytest.mark.parametrize(("value", "expected"), [(" Oui", True), ("VRAI", True), ("non ", False), ("Faux", False)])
def test_a_form_may_send_consent_as_a_french_word(api_client, form, value, expected):
    response = post(api_client, SUBMIT, {**BODY, "consent": value})
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).consent is expected


def test_an_unreadable_consent_from_a_form_is_400_listing_the_accepted_words(api_client, form):
    response = post(api_client, SUBMIT, {**BODY, "consent": "peut-être"})
    assert response.status_code == 400
    assert response.json() == {
        "consent": ["Booléen attendu : true ou false, oui ou non, vrai ou faux, yes ou no, 1 ou 0."]
    }
    assert not Lead.objects.exists()


@pytest.mark.parametrize("visitor_id", ["un visiteur", ["visitor-000001"], "v" * 65])
def test_a_malformed_visitor_id_is_400_with_the_tracking_message(api_client, form, visitor_id):
    response = post(api_client, SUBMIT, {**BODY, "visitor_id": visitor_id})
    assert response.status_code == 400
    assert response.json() == {"visitor_id": ["Identifiant de visiteur invalide."]}
    assert not Lead.objects.exists()


@pytest.mark.parametrize("field", ["variant", "consent_page_url", "consent_text_version", "rdz_hp"])
def test_a_list_where_text_is_expected_is_400_in_french(api_client, form, field):
    response = post(api_client, SUBMIT, {**BODY, field: ["x"]})
    assert response.status_code == 400
    assert response.json() == {field: ["Texte attendu."]}
    assert not Lead.objects.exists()


def test_extra_is_validated_against_the_product_fields(api_client, form, product):
    ProductFieldFactory(product=product, name="surface", type="integer", required=True)
    response = post(api_client, SUBMIT, {**BODY, "extra": {"surface": "beaucoup"}})
    assert response.status_code == 400
    assert response.json()["extra"] == ["surface : un nombre entier est attendu."]
    assert post(api_client, SUBMIT, {**BODY, "extra": {"surface": "42"}}).status_code == 201
    assert Lead.objects.get().extra == {"surface": 42}


def test_a_double_click_returns_the_same_lead(api_client, form):
    first = post(api_client, SUBMIT, BODY)
    second = post(api_client, SUBMIT, {**BODY, "phone": "+33612345678"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    other_visitor = post(api_client, SUBMIT, {**BODY, "visitor_id": "visitor-000002"})
    assert other_visitor.status_code == 201
    assert Lead.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_identical_submissions_racing_create_one_lead(form):
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    results: list = []
    barrier = threading.Barrier(6)

    def submit():
        from django.db import connections

        client = APIClient()
        barrier.wait()
        try:
            results.append(post(client, SUBMIT, BODY))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert Lead.objects.count() == 1


def test_a_filled_honeypot_looks_accepted_but_stores_nothing(api_client, form):
    response = post(api_client, SUBMIT, {**BODY, "rdz_hp": "http://spam.example"})
    assert response.status_code == 201
    assert not Lead.objects.exists()


def test_a_pages_own_website_field_is_a_question_like_any_other_not_the_trap(api_client, form):
    response = post(api_client, SUBMIT, {**BODY, "extra": {"website": "https://mon-entreprise.fr"}})
    assert response.status_code == 201
    assert Lead.objects.get().extra == {"website": "https://mon-entreprise.fr"}


def test_a_not_allowed_origin_gets_no_cors_and_no_lead(api_client, form):
    answer = preflight(api_client, origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in answer
    response = post(api_client, SUBMIT, BODY, origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not Lead.objects.exists()


def test_the_preflight_of_an_allowed_origin_is_answered(api_client, form):
    answer = preflight(api_client)
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    assert "content-type" in answer["Access-Control-Allow-Headers"]


def test_a_submission_to_the_address_without_its_final_slash_is_taken_with_its_cors_answer(api_client, form):
    answer = preflight(api_client, SUBMIT.rstrip("/"))
    assert answer["Access-Control-Allow-Origin"] == ORIGIN

    response = post(api_client, SUBMIT.rstrip("/"), BODY)

    assert response.status_code == 201 and response["Access-Control-Allow-Origin"] == ORIGIN
    assert Lead.objects.filter(pk=response.json()["id"]).exists()


def test_an_origin_is_stored_as_a_browser_sends_it():
    # Browsers omit the default port and send an accented domain in its ASCII (punycode)
    # form: an origin stored otherwise never matched, and every submission was refused.
    cleaned = leadform_origins_clean(["https://www.exemple.fr:443", "HTTP://Exemple.fr:80/", "https://Café.fr"])
    assert cleaned == ["https://www.exemple.fr", "http://exemple.fr", "https://xn--caf-dma.fr"]


def test_an_origin_stored_before_with_capitals_or_its_default_port_still_accepts_its_site(api_client, product):
    LeadFormFactory(code="pv-sud", product=product, allowed_origins=["https://Landing.Exemple.fr:443"])
    answer = preflight(api_client)
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    response = post(api_client, SUBMIT, BODY)
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert (
        post(
            api_client, SUBMIT, {**BODY, "phone": "06 12 34 56 79"}, origin="https://landing.exemple.fr:8443"
        ).status_code
        == 403
    )


def test_cors_is_never_opened_on_other_endpoints(api_client, form, zr7_provider):
    response = api_client.options("/api/v1/leads/", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in response


def test_an_unknown_form_is_404(api_client, form):
    assert post(api_client, "/api/v1/forms/nope/submit/", BODY).status_code == 404
    assert post(api_client, TRACK.replace("pv-sud", "nope"), {**TRACK_BODY, "form": "nope"}).status_code == 404


TRACK_BODY = {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-000001"}


def test_a_deactivated_form_still_stores_the_leads_of_the_pages_left_online(api_client, client, form, product):
    form.active = False
    form.save()

    # A page still online keeps its script and its form: its visitors' leads are not lost.
    script = client.get("/t/pv-sud.js")
    assert script.status_code == 200
    assert '"active": false' in script.content.decode()
    assert preflight(api_client)["Access-Control-Allow-Origin"] == ORIGIN
    response = post(api_client, SUBMIT, BODY)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.form == form
    assert "désactivé" in lead.events.get(kind="note").message
    # It no longer counts visits, nor takes them from another origin.
    assert post(api_client, TRACK, TRACK_BODY).status_code == 404
    assert not TrackingEvent.objects.exists()
    assert post(api_client, SUBMIT, {**BODY, "phone": "06 12 34 56 79"}, origin="https://autre.fr").status_code == 403


def test_submissions_and_tracking_are_throttled_per_ip(form, monkeypatch):
    monkeypatch.setattr(FixedWindowIpThrottle, "THROTTLE_RATES", {"form_ip": "2/hour", "track_ip": "3/hour"})
    client = APIClient()
    codes = [post(client, SUBMIT, {**BODY, "visitor_id": f"visitor-{i:06d}"}).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    track = {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-000001"}
    codes = [post(client, TRACK, track).status_code for _ in range(4)]
    assert codes == [204, 204, 204, 429]


def test_the_addresses_of_one_ipv6_network_share_one_per_ip_budget(form, monkeypatch):
    """An IPv6 visitor gets a whole /64 network (2^64 addresses): counted per address, a
    robot would change address at each submission and never be slowed down."""
    monkeypatch.setattr(FixedWindowIpThrottle, "THROTTLE_RATES", {"form_ip": "2/hour", "track_ip": "3/hour"})
    client = APIClient()
    codes = [
        client.post(
            SUBMIT,
            {**BODY, "phone": f"06 12 34 56 7{i}", "visitor_id": f"visitor-{i:06d}"},
            format="json",
            HTTP_ORIGIN=ORIGIN,
            REMOTE_ADDR=f"2001:db8:1:2::{i + 1:x}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    other_network = client.post(
        SUBMIT,
        {**BODY, "phone": "06 12 34 56 79", "visitor_id": "visitor-000009"},
        format="json",
        HTTP_ORIGIN=ORIGIN,
        REMOTE_ADDR="2001:db8:1:3::1",
    )
    assert other_network.status_code == 201
    # The lead keeps the visitor's own address as consent proof.
    assert Lead.objects.get(pk=other_network.json()["id"]).ip == "2001:db8:1:3::1"


def test_track_records_visits_and_starts(api_client, form):
    for event in ("visit", "start"):
        response = post(
            api_client, TRACK, {"form": "pv-sud", "event": event, "visitor_id": "visitor-1234", "variant": "A"}
        )
        assert response.status_code == 204, response.content
        assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert list(TrackingEvent.objects.order_by("id").values_list("event", "variant")) == [
        ("visit", "A"),
        ("start", "A"),
    ]


def test_track_refuses_bad_input_and_foreign_origins(api_client, form):
    assert (
        post(api_client, TRACK, {"form": "pv-sud", "event": "click", "visitor_id": "visitor-1234"}).status_code == 400
    )
    assert post(api_client, TRACK, {"form": "pv-sud", "event": "visit", "visitor_id": "x"}).status_code == 400
    # `$` would accept a trailing newline: the identifiers are checked to their very end.
    newline = post(api_client, TRACK, {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-1234\n"})
    assert newline.json() == {"visitor_id": ["Identifiant de visiteur invalide."]}
    assert (
        post(api_client, TRACK, {"form": "pv-sud\n", "event": "visit", "visitor_id": "visitor-1234"}).status_code == 400
    )
    visit = {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-1234"}
    for wrong in (2, {}, [], False, 0):  # not read as « no variant »
        assert post(api_client, TRACK, {**visit, "variant": wrong}).json() == {"variant": ["Texte attendu."]}
    assert post(api_client, TRACK, {**visit, "variant": "B" * 51}).json() == {"variant": ["50 caractères au maximum."]}
    mismatch = post(
        api_client, "/api/v1/track/?form=other", {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-1234"}
    )
    assert mismatch.status_code == 400
    foreign = post(
        api_client,
        TRACK,
        {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-1234"},
        origin="https://evil.example",
    )
    assert foreign.status_code == 403
    assert not TrackingEvent.objects.exists()


def test_a_null_variant_is_no_variant(api_client, form):
    body = {"form": "pv-sud", "event": "visit", "visitor_id": "visitor-1234", "variant": None}
    assert post(api_client, TRACK, body).status_code == 204
    assert TrackingEvent.objects.get().variant == ""


def test_the_tracking_script_is_generated_per_form(client, form):
    response = client.get("/t/pv-sud.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    text = response.content.decode()
    assert '"code": "pv-sud"' in text
    assert '"name": "B", "weight": 50' in text
    assert "http://testserver" in text
    assert client.get("/t/unknown.js").status_code == 404


def test_the_tracking_script_is_served_whatever_weights_an_import_stored(client, product):
    # The legacy import keeps variants as found: a weight that is not a number made the
    # script a 500, and the landing page neither tracked nor sent its form.
    variants = [
        {"name": "A", "weight": None},
        {"name": "B", "weight": "abc"},
        {"name": "C", "weight": "30"},
        {"name": "D", "weight": 12.5},
        {"name": "E", "weight": -5},
        {"name": "F"},
    ]
    LeadFormFactory(code="pv-import", product=product, variants=variants)
    response = client.get("/t/pv-import.js")
    assert response.status_code == 200
    text = response.content.decode()
    for expected in (
        '"A", "weight": 1',
        '"B", "weight": 0',
        '"C", "weight": 30',
        '"D", "weight": 12',
        '"E", "weight": 0',
        '"F", "weight": 1',
    ):
        assert expected in text


# --- Stats ------------------------------------------------------------------------------
def _events(form, event, variant, count):
    TrackingEvent.objects.bulk_create(
        TrackingEvent(form=form, event=event, visitor_id=f"v{variant}{i:06d}", variant=variant) for i in range(count)
    )


def test_termine_counts_every_lead_of_the_form_whatever_its_status(form):
    statuses = ["routed", "no_order", "duplicate", "blacklisted", "rejected", "delivered", "opposed"]
    for status in statuses:
        LeadFactory(form=form, status=status, variant="A")
    LeadFactory(form=None, status="routed")  # another source: not counted
    _events(form, "visit", "A", 20)
    _events(form, "start", "A", 10)
    today = paris_today()
    stats = form_stats(form=form, date_from=today, date_to=today)
    assert stats["totals"]["termine"] == len(statuses)
    assert stats["totals"]["visits"] == 20
    assert stats["totals"]["starts"] == 10
    assert stats["totals"]["conversion_rate"] == 35.0
    assert stats["statuses"] == dict.fromkeys(sorted(statuses), 1)
    assert stats["days"][-1]["termine"] == len(statuses)


def test_stats_are_split_per_variant(form):
    _events(form, "visit", "A", 10)
    _events(form, "visit", "B", 4)
    _events(form, "start", "A", 5)
    _events(form, "start", "B", 2)
    for _ in range(2):
        LeadFactory(form=form, variant="A", status=LeadStatus.ROUTED)
    LeadFactory(form=form, variant="B", status=LeadStatus.REJECTED)
    today = paris_today()
    variants = {v["variant"]: v for v in form_stats(form=form, date_from=today, date_to=today)["variants"]}
    assert (variants["A"]["visits"], variants["A"]["starts"], variants["A"]["termine"]) == (10, 5, 2)
    assert (variants["B"]["visits"], variants["B"]["starts"], variants["B"]["termine"]) == (4, 2, 1)
    assert variants["A"]["conversion_rate"] == 20.0
    assert variants["B"]["completion_rate"] == 50.0


def test_the_stats_api_is_for_staff_and_scoped_by_entity(api_client, form, product, mdl_staff, zr7_staff):
    LeadFactory(form=form, variant="A")
    url = f"/api/v1/forms/{form.code}/stats/"
    assert api_client.get(url).status_code == 401
    api_client.force_login(mdl_staff)
    assert api_client.get(url).status_code == 404
    api_client.force_login(zr7_staff)
    today = paris_today()
    response = api_client.get(url, {"from": (today - datetime.timedelta(days=6)).isoformat(), "to": today.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"]["termine"] == 1
    assert len(body["days"]) == 7
    assert api_client.get(url, {"from": "2026-02-30"}).status_code == 400


def test_the_stats_api_is_in_the_openapi_schema(api_client, superuser):
    api_client.force_login(superuser)
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/forms/{code}/stats/", "/api/v1/forms/{code}/submit/", "/api/v1/track/"):
        assert path in schema


def test_the_admin_page_of_a_form_writes_its_rates_with_a_french_decimal_comma(client, form, superuser):
    _events(form, "visit", "A", 3)
    LeadFactory(form=form, variant="A")
    client.force_login(superuser)
    page = client.get(f"/admin/leads/leadform/{form.pk}/change/").content.decode()
    assert "<td>33,3 %</td>" in page
    assert "33.3" not in page
