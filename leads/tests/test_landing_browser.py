"""End to end in headless Chromium (§11): a landing page served from another local origin
includes the tracking script from the RDZ live server."""

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leads.models import Lead, TrackingEvent
from tests.browser import chromium
from tests.factories import LeadFormFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Panneaux solaires</title></head>
<body>
  <h1>Vos panneaux solaires</h1>
  <form data-rdz-form="{code}" data-rdz-consent-version="v3">
    <input name="first_name" placeholder="Prénom">
    <input name="phone" placeholder="Téléphone">
    <input name="departement" placeholder="Département">
    <label><input name="consent" type="checkbox"> J'accepte d'être recontacté</label>
    <button type="submit">Envoyer</button>
  </form>
  <script src="{script}" async></script>
</body></html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def static_origin(tmp_path):
    """Start http.servers on free ports serving `tmp_path`; returns a factory of origins."""
    servers = []

    def start() -> str:
        handler = functools.partial(_QuietHandler, directory=str(tmp_path))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(monkeypatch):
    with chromium(monkeypatch) as instance:
        yield instance


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def landing(browser, live_server, static_origin, tmp_path, product):
    """`landing(code, html, query="")`: serve `html` (a page template with {code} and {script})
    from another local origin for a new form `code`, open it, wait for its visit; (page, form)."""

    def open_landing(code: str, html: str, query: str = ""):
        allowed = static_origin()
        form = LeadFormFactory(code=code, entity="ZR7", product=product, allowed_origins=[allowed])
        script = f"{live_server.url}/t/{form.code}.js"
        (tmp_path / "landing.html").write_text(html.format(code=form.code, script=script))
        page = browser.new_page()
        page.goto(f"{allowed}/landing.html{query}")
        wait_for(lambda: TrackingEvent.objects.filter(form=form, event="visit").exists())
        return page, form

    return open_landing


def send_and_wait_for_the_lead(page, **fields: str):
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("button[type=submit]")
    page.get_by_text("Merci ! Votre demande a bien été envoyée.").wait_for(timeout=10000)
    return wait_for(lambda: Lead.objects.first())


@pytest.mark.django_db(transaction=True)
def test_a_landing_page_tracks_submits_and_shows_errors_in_french(
    live_server, static_origin, tmp_path, browser, product
):
    allowed = static_origin()
    refused = static_origin()
    form = LeadFormFactory(code="pv-e2e", entity="ZR7", product=product, allowed_origins=[allowed],
                           variants=[{"name": "A", "weight": 1}, {"name": "B", "weight": 1}])  # fmt: skip
    (tmp_path / "landing.html").write_text(PAGE.format(code=form.code, script=f"{live_server.url}/t/{form.code}.js"))

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{allowed}/landing.html?utm_source=facebook")

    # The visit is recorded with a visitor id and a sticky variant.
    visit = wait_for(lambda: TrackingEvent.objects.filter(form=form, event="visit").first())
    assert visit.variant in ("A", "B")
    assert page.evaluate("document.documentElement.getAttribute('data-rdz-variant')") == visit.variant

    # First interaction → start.
    page.fill("input[name=first_name]", "Zoé")
    wait_for(lambda: TrackingEvent.objects.filter(form=form, event="start").exists())

    # A bad phone: the server's French error next to the field, nothing stored.
    page.fill("input[name=phone]", "12")
    page.fill("input[name=departement]", "13")
    page.click("button[type=submit]")
    error = page.locator('[data-rdz-error-for="phone"]')
    error.wait_for(state="visible")
    assert error.inner_text() == "Numéro de téléphone invalide."
    assert not Lead.objects.exists()

    # A double click on a good form: one lead, a success message.
    page.fill("input[name=phone]", "06 12 34 56 78")
    page.check("input[name=consent]")
    page.dblclick("button[type=submit]")
    page.get_by_text("Merci ! Votre demande a bien été envoyée.").wait_for()
    lead = wait_for(lambda: Lead.objects.first())
    assert Lead.objects.count() == 1
    assert page.get_attribute(f'form[data-rdz-form="{form.code}"]', "data-rdz-lead") == str(lead.id)
    assert (lead.form_id, lead.phone, lead.variant, lead.visitor_id) == (form.pk, "+33612345678", visit.variant,
                                                                         visit.visitor_id)  # fmt: skip
    assert lead.source == "facebook"
    assert lead.consent and lead.consent_text_version == "v3"
    assert lead.consent_page_url.startswith(f"{allowed}/landing.html")

    # The visitor id is kept across pages of the same site.
    second = context.new_page()
    second.goto(f"{allowed}/landing.html")
    wait_for(lambda: TrackingEvent.objects.filter(form=form, event="visit").count() == 2)
    visits = TrackingEvent.objects.filter(form=form, event="visit")
    assert set(visits.values_list("visitor_id", flat=True)) == {visit.visitor_id}
    assert set(visits.values_list("variant", flat=True)) == {visit.variant}  # sticky
    events_before = TrackingEvent.objects.count()

    # The same page from an origin the form does not list: refused by CORS, no lead.
    other = context.new_page()
    console: list[str] = []
    other.on("console", lambda message: console.append(message.text))
    other.goto(f"{refused}/landing.html")
    other.fill("input[name=phone]", "06 98 76 54 32")
    other.fill("input[name=departement]", "13")
    other.click("button[type=submit]")
    other.get_by_text("Envoi impossible").wait_for()
    assert any("CORS" in line or "Access-Control-Allow-Origin" in line for line in console), console
    assert Lead.objects.count() == 1
    assert TrackingEvent.objects.count() == events_before
    context.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("t%E9l%E9-50%", "t%E9l%E9-50%"),
        # Cut to 100 characters: an emoji across the cut was split into a lone surrogate,
        # which the server refuses (400 on source), and the visitor was stuck.
        ("a" * 99 + "%F0%9F%98%80", "a" * 99),
    ],
)
def test_a_malformed_or_long_utm_source_never_blocks_the_submission(landing, query, source):
    # « %E9 » is how Latin-1 pages and some ad platforms write « é »; « 50% » a bare percent.
    # decodeURIComponent throws on both: the submit handler stopped there, with the button
    # left disabled, and the visitor could not send the form at all.
    page, _ = landing("pv-utm", PAGE, query=f"?utm_source={query}")
    page.check("input[name=consent]")
    lead = send_and_wait_for_the_lead(page, phone="06 12 34 56 78", departement="13")
    assert lead.source == source
    page.close()


RADIO_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Pompe à chaleur</title></head>
<body>
  <form data-rdz-form="{code}">
    <input name="phone" placeholder="Téléphone">
    <input name="departement" placeholder="Département">
    <p>J'accepte d'être recontacté :
      <label><input name="consent" type="radio" value="oui"> Oui</label>
      <label><input name="consent" type="radio" value="non"> Non</label></p>
    <button type="submit">Envoyer</button>
  </form>
  <script src="{script}" async></script>
</body></html>
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("choice", "consent"), [("non", False), ("oui", True)])
def test_a_consent_answered_no_with_radio_buttons_is_stored_as_no_consent(landing, choice, consent):
    # The script took any non-empty value of a `consent` field as a yes: a visitor who
    # checked « Non » was stored as having consented (§16: consent and its proof).
    page, _ = landing("pac-radio", RADIO_PAGE)
    page.check(f"input[name=consent][value={choice}]")
    lead = send_and_wait_for_the_lead(page, phone="06 12 34 56 78", departement="13")
    assert lead.consent is consent
    page.close()


WEBSITE_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Toiture pour professionnels</title></head>
<body>
  <form data-rdz-form="{code}">
    <input name="phone" placeholder="Téléphone">
    <input name="departement" placeholder="Département">
    <input name="website" placeholder="Site de votre entreprise">
    <button type="submit">Envoyer</button>
  </form>
  <script src="{script}" async></script>
</body></html>
"""


@pytest.mark.django_db(transaction=True)
def test_a_pages_own_website_field_is_sent_as_an_answer_not_taken_for_the_robot_trap(landing):
    # The trap was named « website »: a page asking for the visitor's website had that field
    # taken for it, and a visitor who answered was shown a success with no lead stored.
    page, _ = landing("toit-pro", WEBSITE_PAGE)
    lead = send_and_wait_for_the_lead(
        page, phone="06 12 34 56 78", departement="13", website="https://toitures-durand.fr"
    )
    assert lead.extra == {"website": "https://toitures-durand.fr"}
    page.close()
