"""Daily rollups, the dashboard built on them and the stats API (§13, §15)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from leads.models import DailyRollup
from leads.stats import rollup_refresh, rollup_refresh_day
from rdz.core.timeutils import PARIS, paris_today
from tests.factories import CommandeFactory, LeadFactory, LeadFormFactory, RejectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(product):
    """ZR7: 3 leads today (routed, delivered, no_order), 2 three days ago; MDL: 1 today."""
    now = timezone.now()
    for status in ("routed", "delivered", "no_order"):
        LeadFactory(entity="ZR7", status=status, source="leadmax")
    form = LeadFormFactory(entity="ZR7", product=product)
    for crm in ("sent", "failed"):
        LeadFactory(
            entity="ZR7", status="duplicate", form=form, crm_status=crm, created_at=now - datetime.timedelta(days=3)
        )
    LeadFactory(entity="MDL", status="blacklisted")
    today = paris_today()
    rollup_refresh(start=today - datetime.timedelta(days=5), end=today)
    return today


def test_rollups_count_leads_per_day_by_status_and_are_idempotent(history):
    today = history
    assert sum(DailyRollup.objects.filter(day=today, entity="ZR7").values_list("count", flat=True)) == 3
    rollup_refresh_day(day=today)
    rollup_refresh_day(day=today)
    assert sum(DailyRollup.objects.filter(entity="ZR7").values_list("count", flat=True)) == 5


def test_the_stats_api_returns_one_row_per_day_and_entity_with_statuses_crm_and_rejections(
    api_client, superuser, history
):
    today = history
    api_client.force_authenticate(superuser)
    start = today - datetime.timedelta(days=3)
    body = api_client.get(f"/api/v1/stats/daily/?from={start}&to={today}").json()
    assert body["from"] == start.isoformat() and body["to"] == today.isoformat()
    assert len(body["results"]) == 4 * 2
    rows = {(r["day"], r["entity"]): r for r in body["results"]}
    zr7_today = rows[(today.isoformat(), "ZR7")]
    assert zr7_today["received"] == 3
    assert zr7_today["attributed"] == 2
    assert zr7_today["by_status"]["no_order"] == 1
    old = rows[(start.isoformat(), "ZR7")]
    assert old["by_status"]["duplicate"] == 2
    assert old["crm"] == {"pending": 0, "sent": 1, "fallback_sent": 0, "failed": 1, "stopped": 0}
    assert rows[(today.isoformat(), "MDL")]["by_status"]["blacklisted"] == 1
    assert "rejected" in zr7_today


def test_the_stats_api_counts_rejections_on_the_day_they_were_made(api_client, client, superuser, product):
    """A lead received on Monday is rejected on Thursday: Thursday's row shows the rejection
    (Monday's `rejected` keeps counting the leads received that day and rejected since)."""
    monday = datetime.date(2026, 3, 23)
    # Sunday 29/03/2026 is the DST day: 23:30 UTC that night is 01:30 on Monday 30 in Paris.
    received = datetime.datetime(2026, 3, 23, 9, 0, tzinfo=PARIS)
    lead = LeadFactory(entity="ZR7", status="rejected", product=product, created_at=received)
    RejectionFactory(
        attribution__lead=lead,
        attribution__commande__client__entity="ZR7",
        created_at=datetime.datetime(2026, 3, 26, 10, 0, tzinfo=PARIS),
    )
    RejectionFactory(
        attribution__commande__client__entity="ZR7",
        status="pending",
        created_at=datetime.datetime(2026, 3, 29, 23, 30, tzinfo=datetime.UTC),
    )
    RejectionFactory(attribution__commande__client__entity="MDL", status="refused", created_at=received)
    rollup_refresh(start=monday, end=monday + datetime.timedelta(days=7))
    api_client.force_authenticate(superuser)
    body = api_client.get("/api/v1/stats/daily/?from=2026-03-23&to=2026-03-30").json()
    rows = {(r["day"], r["entity"]): r for r in body["results"]}
    none = {"approved": 0, "pending": 0, "refused": 0}
    assert rows[("2026-03-23", "ZR7")]["rejected"] == 1
    assert rows[("2026-03-23", "ZR7")]["rejections"] == none
    assert rows[("2026-03-26", "ZR7")]["rejections"] == {**none, "approved": 1}
    assert rows[("2026-03-29", "ZR7")]["rejections"] == none
    assert rows[("2026-03-30", "ZR7")]["rejections"] == {**none, "pending": 1}
    assert rows[("2026-03-23", "MDL")]["rejections"] == {**none, "refused": 1}
    client.force_login(superuser)
    page = client.get("/statistiques/?from=2026-03-23&to=2026-03-30&entity=ZR7").content.decode()
    assert "2 rejets demandés sur la période, dont 1 à approuver" in page


def test_the_stats_api_accepts_a_token(api_client, zr7_staff, history):
    token = Token.objects.create(user=zr7_staff)
    response = api_client.get("/api/v1/stats/daily/?entity=ZR7", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert {r["entity"] for r in response.json()["results"]} == {"ZR7"}
    assert api_client.get("/api/v1/stats/daily/").status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("to=demain", "to"),
        ("from=2026-05-10&to=2026-05-01", "from"),
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("entity=XYZ", "entity"),
    ],
)
def test_bad_stats_parameters_are_a_400_with_french_field_messages(api_client, superuser, query, field):
    api_client.force_authenticate(superuser)
    response = api_client.get(f"/api/v1/stats/daily/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_the_openapi_schema_documents_the_stats_endpoint_and_the_docs_use_local_assets(client, superuser):
    schema = client.get("/api/schema/?format=json").json()
    params = {p["name"] for p in schema["paths"]["/api/v1/stats/daily/"]["get"]["parameters"]}
    assert params == {"from", "to", "entity"}
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn" not in docs.lower()


def test_the_openapi_schema_names_the_fields_the_stats_endpoint_returns(client, superuser, history):
    client.force_login(superuser)
    body = client.get("/api/v1/stats/daily/").json()
    schema = client.get("/api/schema/?format=json").json()
    documented = schema["components"]["schemas"]["DailyStats"]
    assert set(documented["properties"]) == set(body) == {"from", "to", "entities", "results"}
    assert set(documented["required"]) == set(body)


def test_the_dashboard_shows_the_periods_with_links_to_the_filtered_list(client, zr7_staff, history):
    today = history
    CommandeFactory(client__entity="ZR7", name="Commande du tableau")
    client.force_login(zr7_staff)
    page = client.get("/").content.decode()
    assert f'href="/leads/?entity=ZR7&amp;from={today}&amp;to={today}"' in page
    assert f"/leads/?entity=ZR7&amp;from={today}&amp;to={today}&amp;status=delivered" in page
    for chart in ("chart-status", "chart-source", "chart-provider", "chart-form", "chart-fill", "chart-crm"):
        assert f'id="{chart}"' in page
    assert "leadmax" in page and "Commande du tableau" in page
    listed = client.get(f"/leads/?entity=ZR7&from={today}&to={today}&status=delivered").content.decode()
    assert listed.count('class="status status-delivered"') == 1


def test_the_dashboard_reads_rollups_not_leads_once_today_is_fresh(
    client, zr7_staff, history, django_capture_on_commit_callbacks
):
    client.force_login(zr7_staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/")  # may rebuild today's rollup on demand (stamped fresh after commit)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    lead_scans = [q["sql"] for q in queries if 'FROM "leads_lead"' in q["sql"]]
    assert lead_scans == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rebuilds_of_a_day_never_count_it_twice(product):
    import threading

    from django.db import connections

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite serializes writers")
    for _ in range(30):
        LeadFactory(entity="ZR7")
    today = paris_today()
    barrier = threading.Barrier(4)

    def rebuild():
        barrier.wait()
        try:
            rollup_refresh_day(day=today)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=rebuild) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(DailyRollup.objects.filter(day=today).values_list("count", flat=True)) == 30


@pytest.mark.parametrize("narrowed_by", ["filter", "switcher"])
def test_the_statistics_page_json_link_gives_the_same_entities_as_the_page(client, superuser, history, narrowed_by):
    client.force_login(superuser)
    if narrowed_by == "filter":
        page = client.get("/statistiques/", {"entity": "MDL"})
    else:
        client.post("/entite/", {"entity": "MDL"})
        page = client.get("/statistiques/")
    assert {r["entity"] for r in page.context["rows"]} == {"MDL"}
    assert "Mêmes données en JSON (API)" in page.content.decode()
    body = client.get(page.context["api_url"]).json()
    assert body["entities"] == ["MDL"]
    assert sum(r["received"] for r in body["results"]) == page.context["totals"]["received"] == 1


@pytest.mark.parametrize("query", ["from=demain", "to=31/12/2026", "to=2026-02-30"])
@pytest.mark.parametrize("path", ["/api/v1/stats/daily/", "/api/v1/forms/stats-dates/stats/"])
def test_a_badly_written_stats_date_reads_the_french_format(api_client, superuser, product, path, query):
    LeadFormFactory(entity="ZR7", product=product, code="stats-dates")
    api_client.force_authenticate(superuser)
    response = api_client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.json() == {query.split("=")[0]: ["Date invalide : format AAAA-MM-JJ attendu."]}


def test_the_nightly_job_rebuilds_an_old_day_whose_lead_changed_since(product):
    """A lead received 200 days ago is recycled from the backlog today: its day, far beyond
    the days rebuilt by date, counts it under its new status after the nightly job."""
    from leads.models import LeadEvent
    from leads.services import lead_status_set
    from rdz.core.pilotage_tasks import rollups_refresh_nightly

    long_ago = timezone.now() - datetime.timedelta(days=200)
    day = paris_today(long_ago)
    lead = LeadFactory(entity="ZR7", status="no_order", created_at=long_ago)
    untouched = LeadFactory(entity="ZR7", status="no_order", created_at=long_ago - datetime.timedelta(days=20))
    rollup_refresh_day(day=day)
    rollup_refresh_day(day=paris_today(untouched.created_at))
    lead_status_set(lead_ids=[lead.pk], status="routed")
    LeadEvent.objects.create(lead=lead, kind=LeadEvent.Kind.RECYCLED, message="Recyclé depuis le Lead Backlog")
    before = {r.pk for r in DailyRollup.objects.filter(day=paris_today(untouched.created_at))}

    rollups_refresh_nightly()

    assert list(DailyRollup.objects.filter(day=day).values_list("status", "count")) == [("routed", 1)]
    assert {r.pk for r in DailyRollup.objects.filter(day=paris_today(untouched.created_at))} == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-45", "Date invalide : format AAAA-MM-JJ attendu."),
        ("to=demain", "Date invalide : format AAAA-MM-JJ attendu."),
        ("from=0001-01-01", "Date hors limites : entre le 01/01/2000 et le 31/12/2999."),
    ],
)
def test_a_wrong_date_on_the_statistics_page_is_said_in_french_and_the_default_period_shown(
    client, superuser, history, query, message
):
    client.force_login(superuser)
    response = client.get(f"/statistiques/?{query}")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["end"] == history
    assert response.context["start"] == history - datetime.timedelta(days=29)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-05-01&to=2026-01-01", "La date de début doit précéder la date de fin."),
        ("from=2099-01-01", "La date de début doit précéder la date de fin."),
        ("from=2020-01-01&to=2026-01-01", "Période limitée à 366 jours."),
    ],
)
def test_a_reversed_or_too_long_period_on_the_statistics_page_is_refused_in_french_not_swapped_or_cut(
    client, superuser, history, query, message
):
    """The page used to swap the dates or keep the last 366 days without a word, and then
    linked to an API that refuses the same period."""
    client.force_login(superuser)
    response = client.get(f"/statistiques/?{query}")
    assert response.status_code == 200
    assert f"{message} Période par défaut affichée." in response.content.decode()
    assert response.context["end"] == history
    assert response.context["start"] == history - datetime.timedelta(days=29)
    assert client.get(response.context["api_url"]).status_code == 200


def test_a_period_of_366_days_on_the_statistics_page_is_shown_whole(client, superuser, history):
    client.force_login(superuser)
    response = client.get("/statistiques/?from=2025-01-01&to=2026-01-01")
    assert (response.context["start"], response.context["end"]) == (
        datetime.date(2025, 1, 1),
        datetime.date(2026, 1, 1),
    )
    assert "Période par défaut" not in response.content.decode()
    # Only an end: the period is the 30 days up to it, as in the API.
    response = client.get("/statistiques/?to=2025-06-30")
    assert (response.context["start"], response.context["end"]) == (
        datetime.date(2025, 6, 1),
        datetime.date(2025, 6, 30),
    )


def test_large_counts_are_written_the_french_way_on_the_dashboard_and_the_statistics(client, zr7_staff, product):
    from tests.factories import DailyRollupFactory

    yesterday = paris_today() - datetime.timedelta(days=1)
    DailyRollupFactory(day=yesterday, entity="ZR7", product=product, status="delivered", source="gros", count=12345)
    client.force_login(zr7_staff)
    nbsp = "\N{NO-BREAK SPACE}"
    stats = client.get("/statistiques/").content.decode()
    assert f"12{nbsp}345 leads reçus, 12{nbsp}345 attribués (100 %)" in stats
    assert f'<td class="num">12{nbsp}345</td>' in stats  # by product, by source, per day
    assert "12345" not in stats
    dashboard = client.get("/").content.decode()
    assert f">12{nbsp}345</a>" in dashboard  # 7 and 30 days, received and delivered
    assert f"gros : 12{nbsp}345" in dashboard  # the source chart
    assert "12345" not in dashboard


def _statistics_cells(html: str, day: datetime.date, entity: str) -> dict[str, str]:
    """The Statistiques per-day row of `day` and `entity`, as {column header: cell text}."""
    import re

    table = html[html.index("<h2>Par jour</h2>") :]
    headers = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    for row in re.findall(r"<tr><td>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", "<td>" + row, re.S)]
        if cells[0].endswith(day.strftime("%d/%m/%Y")) and cells[1] == entity:
            return dict(zip(headers, cells, strict=True))
    raise AssertionError(f"no row for {day} {entity}")


def test_form_leads_sent_to_the_other_crm_by_fallback_count_as_sent_on_the_statistics_page(client, zr7_staff, product):
    """A day when the ZR7 CRM refused its key: every form lead went to the MDL CRM by the
    fallback (§11). They were forwarded; the page must not read « 0 » sent and « 0 » failed."""
    from tests.factories import DailyRollupFactory

    day = paris_today() - datetime.timedelta(days=2)
    form = LeadFormFactory(entity="ZR7", product=product)
    DailyRollupFactory(day=day, entity="ZR7", product=product, form=form, crm_status="fallback_sent", count=3)
    DailyRollupFactory(day=day, entity="ZR7", product=product, form=form, crm_status="sent", count=2)
    DailyRollupFactory(day=day, entity="ZR7", product=product, form=form, crm_status="failed", count=1)
    client.force_login(zr7_staff)

    cells = _statistics_cells(client.get("/statistiques/").content.decode(), day, "ZR7")

    assert cells["CRM envoyés"] == "5"
    assert cells["CRM échecs"] == "1"


@pytest.mark.parametrize("path", ["/api/v1/stats/daily/", "/api/v1/forms/stats-period/stats/"])
def test_both_stats_apis_take_at_most_366_days_and_say_so_the_same_way(api_client, superuser, product, path):
    LeadFormFactory(entity="ZR7", product=product, code="stats-period")
    api_client.force_authenticate(superuser)

    assert api_client.get(f"{path}?from=2025-01-01&to=2026-01-01").status_code == 200  # 366 days, bounds included
    response = api_client.get(f"{path}?from=2025-01-01&to=2026-01-02")

    assert response.status_code == 400
    assert response.json() == {"from": ["Période limitée à 366 jours."]}


def test_form_leads_rdz_did_not_forward_are_told_on_the_dashboard_and_the_statistics_page(client, zr7_staff, product):
    """Leads whose forwarding RDZ stopped (number opposed, data erased) left the CRM failures,
    but the dashboard's CRM health and the statistics then counted them nowhere: the form's
    leads no longer added up and staff could not find them."""
    from tests.factories import DailyRollupFactory

    day = paris_today() - datetime.timedelta(days=2)
    form = LeadFormFactory(entity="ZR7", product=product)
    DailyRollupFactory(day=day, entity="ZR7", product=product, form=form, crm_status="sent", count=2)
    DailyRollupFactory(day=day, entity="ZR7", product=product, form=form, crm_status="stopped", count=1)
    client.force_login(zr7_staff)

    dashboard = client.get("/").content.decode()
    since = (paris_today() - datetime.timedelta(days=13)).isoformat()
    assert f'<a href="/leads/?crm_status=stopped&amp;from={since}">1 non transmis</a> (opposition ou effacement)' in (
        dashboard
    )
    page = client.get("/statistiques/").content.decode()
    assert 'title="hors 1 lead non transmis par RDZ (opposition ou effacement)"' in page
    assert _statistics_cells(page, day, "ZR7")["CRM échecs"] == "0"
