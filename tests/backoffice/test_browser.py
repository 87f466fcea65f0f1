"""Headless Chromium on the live server with the demo data: log in, open every sidebar
entry, read the dashboard charts, open a lead's timeline (§13, §16). Screenshots of the
dashboard and of a lead page are kept under test-artifacts/."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from rdz.core.management.commands.demo_data import DEMO_PASSWORD
from tests.browser import chromium

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, demo_data, monkeypatch, settings):
    ARTIFACTS.mkdir(exist_ok=True)
    # Absolute links (media images) point at this server, not at the default SITE_URL.
    settings.SITE_URL = live_server.url
    settings.MEDIA_PUBLIC_URL = f"{live_server.url}/media/"
    with chromium(monkeypatch) as browser:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()


def _login(page, username="admin"):
    page.goto("/")
    assert page.url.endswith("/connexion/?next=/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_every_sidebar_entry_opens_its_page_and_is_highlighted(page):
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda m: failed.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    _login(page)
    groups = [t.strip() for t in page.locator("nav.sidebar .nav-group h2").all_text_contents()]
    assert groups == ["Acquisition", "Distribution", "Pilotage", "Administration"]
    links = page.eval_on_selector_all(
        "nav.sidebar .nav-group a", "els => els.map(a => [a.textContent.trim(), a.getAttribute('href')])"
    )
    assert [label for label, _ in links] == [
        "Formulaires",
        "Scripts de tracking",
        "Providers",
        "Médias",
        "Clients",
        "Commandes",
        "Livraisons",
        "Lead Backlog",
        "Rejets",
        "Tableau de bord",
        "Statistiques",
        "Alertes",
        "Paramètres",
        "Comptes",
    ]
    for label, href in links:
        response = page.goto(href)
        assert response.status == 200, f"{label} ({href}) → {response.status}"
        active = page.locator("nav.sidebar a.active")
        assert active.count() == 1 and active.inner_text().strip() == label
        assert page.locator("h1").count() >= 1
    assert failed == []  # no missing stylesheet, script or icon, no script error, on any page
    # Logout, then a single-entity account: no switcher, only its entity on the dashboard.
    page.click("text=Se déconnecter")
    page.wait_for_url("**/connexion/")
    assert "Connexion à RDZ" in page.content()
    _login(page, "zr7")
    assert page.locator(".entity-badge").inner_text() == "Entité : ZR7"
    assert page.locator("section[data-entity=MDL]").count() == 0


def test_the_dashboard_draws_its_charts_with_demo_numbers(page):
    _login(page)
    page.goto("/")
    for entity in ("ZR7", "MDL"):
        received_30 = page.locator(f"section[data-entity={entity}] tbody tr").first.locator("td").nth(2)
        assert int(received_30.inner_text()) > 0
    bars = page.locator("#chart-status svg rect")
    assert bars.count() > 10
    assert page.locator("#chart-source svg rect").count() >= 2
    assert page.locator("#chart-fill svg rect").count() >= 6
    page.screenshot(path=str(ARTIFACTS / "tableau-de-bord.png"), full_page=True)
    # A number opens the lead list filtered the same way.
    page.locator("section[data-entity=ZR7] tbody tr").first.locator("td a").nth(2).click()
    page.wait_for_url("**/leads/?entity=ZR7**")
    assert page.locator("table.leads tbody tr").count() > 0


def test_a_lead_page_shows_its_timeline_and_its_route(page):
    _login(page)
    page.goto("/leads/?status=delivered")
    page.locator("table.leads tbody tr td a").first.click()
    page.wait_for_selector("#timeline")
    steps = page.locator("#timeline li .tl-kind").all_inner_texts()
    assert steps[:3] == ["Reçu", "Validé", "Attribué"]
    assert "Livré" in steps
    assert "choisie" in page.locator("text=Pourquoi ce routage ?").locator("..").inner_text()
    page.screenshot(path=str(ARTIFACTS / "fiche-lead.png"), full_page=True)


def _every_page(page, *, width: int, height: int, lead_list: str = "/leads/"):
    """Logged in, at that window size: each sidebar page, then a lead page of `lead_list`,
    yielded once loaded."""
    _login(page)
    page.set_viewport_size({"width": width, "height": height})
    hrefs = page.eval_on_selector_all("nav.sidebar .nav-group a", "els => els.map(a => a.getAttribute('href'))")
    page.goto(lead_list)
    hrefs.append(page.locator("table.leads tbody tr td a").first.get_attribute("href"))
    for href in hrefs:
        page.goto(href)
        yield href


def test_no_page_scrolls_sideways_on_a_laptop_screen(page):
    """Wide tables scroll inside their own box: the page itself never does at 1024 px."""
    for href in _every_page(page, width=1024, height=768):
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"{href}: {scroll} px wide on a {client} px window"


def test_on_a_phone_the_menu_sits_above_the_page_and_no_page_scrolls_sideways(page):
    """At 390 px the sidebar kept its 230 px beside the page: the content was squeezed into
    the rest, the dashboard chart shrank to a stamp and most pages scrolled sideways."""
    hrefs = list(_every_page(page, width=390, height=844))
    page.goto("/medias/")
    hrefs.append(page.locator(".media-grid a").first.get_attribute("href"))
    for href in hrefs:
        page.goto(href)
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"{href}: {scroll} px wide on a {client} px window"
        content = page.locator("main.content").bounding_box()
        assert content["width"] >= client - 1, f"{href}: the page gets {content['width']} px of {client}"
    menu = page.locator("nav.sidebar").bounding_box()
    assert menu["y"] + menu["height"] <= page.locator("main.content").bounding_box()["y"]


def test_on_a_desktop_screen_no_panel_or_table_hides_a_column(page):
    """At 1280 px every column is in view: the dashboard's 30-day counts, the commandes'
    « Désactiver » button, the lead page's attributions were cut off before."""
    for href in _every_page(page, width=1280, height=900, lead_list="/leads/?crm_status=fallback_sent"):
        clipped = page.evaluate(
            "Array.from(document.querySelectorAll('.panel, .table-scroll'))"
            ".filter(p => p.scrollWidth > p.clientWidth + 1)"
            ".map(p => (p.querySelector('h2, th') || p).textContent.trim().slice(0, 40))"
        )
        assert clipped == [], f"{href}: {clipped}"
