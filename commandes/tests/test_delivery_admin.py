"""Admin pages of the delivery: they render and show only the account's entities (§2)."""

import html

import pytest
from django.utils import timezone

from tests.factories import (
    AttributionFactory,
    CommandeFactory,
    DeliveryBatchFactory,
    HttpDeliveryAttemptFactory,
    LeadFactory,
    RejectionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["deliverybatch", "httpdeliveryattempt", "rejection", "backloglead", "attribution"])
def test_each_delivery_admin_list_shows_only_the_accounts_entity(page, client, zr7_staff, product):
    rows = {}
    for entity in ("ZR7", "MDL"):
        commande = CommandeFactory(client__entity=entity, client__name=f"Client {entity}", product=product)
        lead = LeadFactory(entity=entity, product=product, status="no_order", last_name=f"Nom{entity}")
        rows[entity] = {
            "deliverybatch": DeliveryBatchFactory(client=commande.client),
            "httpdeliveryattempt": HttpDeliveryAttemptFactory(attribution__commande=commande),
            "rejection": RejectionFactory(attribution__commande=commande, attribution__delivered_at=timezone.now()),
            "attribution": AttributionFactory(commande=commande),
            "backloglead": lead,
        }[page]
    client.force_login(zr7_staff)

    response = client.get(f"/admin/commandes/{page}/")

    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert rows["ZR7"].pk in shown and rows["MDL"].pk not in shown


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_auth_header", "X Api Key", "Nom d'en-tête HTTP invalide"),
        ("api_auth_header", "X-Key\nY", "Nom d'en-tête HTTP invalide"),
        ("api_auth_value", "Bearer abc\r\nX-Autre: 1", "ni retour à la ligne"),
        ("api_auth_value", "Bearer\tabc", "ni retour à la ligne"),
        ("api_auth_value", "Bearer jeton€2026", "ne peut pas transmettre"),
        ("api_auth_value", "Bearer l’jeton", "ne peut pas transmettre"),
        ("api_timeout_seconds", "3600", "inférieure ou égale à 120"),
    ],
)
def test_the_client_admin_refuses_http_settings_requests_could_not_send(client, superuser, field, value, message):
    """Before, such a client was saved and every POST to it failed (InvalidHeader) until the
    leads fell back to the CSV batch; a huge timeout held a worker on a silent endpoint."""
    from django.urls import reverse

    from commandes.models import Client

    data = {
        "entity": "ZR7",
        "name": "Soleil",
        "emails": '["achats@soleil.example"]',
        "api_url": "https://soleil.example/leads",
        "api_auth_header": "X-Api-Key",
        "api_auth_value": "s3cret",
        "api_timeout_seconds": "10",
        "active": "on",
        field: value,
    }
    client.force_login(superuser)
    response = client.post(reverse("admin:commandes_client_add"), data)
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert not Client.objects.exists()


def test_a_trailing_newline_is_caught_even_where_no_form_strips_it():
    from django.core.exceptions import ValidationError

    from tests.factories import ClientFactory

    for field in ("api_auth_header", "api_auth_value"):
        with pytest.raises(ValidationError) as exc:
            ClientFactory.build(**{field: "X-Key\n"}).full_clean()
        assert field in exc.value.message_dict


@pytest.mark.parametrize(
    "emails",
    ['"achats@soleil.example"', '["achats@soleil"]', '["achats@soleil.example", 42]', '{"to": "a@b.fr"}', "null"],
)
def test_the_client_admin_refuses_delivery_addresses_the_daily_email_could_not_use(client, superuser, emails):
    """Saved as they were, a bare string, a typo or a number made every daily CSV of the
    client fail (in English: « "to" argument must be a list or tuple ») until the leads waited a day."""
    from django.urls import reverse

    from commandes.models import Client

    client.force_login(superuser)
    response = client.post(
        reverse("admin:commandes_client_add"),
        {
            "entity": "ZR7",
            "name": "Soleil",
            "emails": emails,
            "api_auth_header": "Authorization",
            "api_timeout_seconds": "10",
            "active": "on",
            "created_at_0": "24/11/2026",
            "created_at_1": "10:00:00",
        },
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["emails"]
    assert "e-mail" in html.unescape(response.content.decode())
    assert "errorlist" in response.content.decode()
    assert not Client.objects.exists()


def test_the_client_admin_keeps_a_list_of_delivery_addresses_or_none_for_an_http_only_client(client, superuser):
    from django.urls import reverse

    from commandes.models import Client

    client.force_login(superuser)
    for name, emails, api_url in (
        ("Soleil", '["achats@soleil.example", "direction@soleil.example"]', ""),
        ("Api", "[]", "https://api.soleil.example/leads"),
    ):
        response = client.post(
            reverse("admin:commandes_client_add"),
            {
                "entity": "ZR7",
                "name": name,
                "emails": emails,
                "api_url": api_url,
                "api_timeout_seconds": "10",
                "active": "on",
                "created_at_0": "24/11/2026",
                "created_at_1": "10:00:00",
            },
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
    assert Client.objects.get(name="Soleil").emails == ["achats@soleil.example", "direction@soleil.example"]
    assert Client.objects.get(name="Api").emails == []


def test_an_active_client_with_neither_a_delivery_address_nor_an_endpoint_is_refused(client, superuser):
    """Saved with no address and no URL, the client kept receiving leads all day (sold and
    counted in its quota) that no e-mail and no POST could ever deliver; staff heard of it
    only when the next morning's e-mail failed, and again every day."""
    from django.urls import reverse

    from commandes.models import Client
    from tests.factories import ClientFactory

    client.force_login(superuser)
    form = {
        "entity": "ZR7",
        "name": "Soleil",
        "emails": "[]",
        "api_auth_header": "Authorization",
        "api_timeout_seconds": "10",
        "active": "on",
        "created_at_0": "24/11/2026",
        "created_at_1": "10:00:00",
    }

    response = client.post(reverse("admin:commandes_client_add"), form)

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["emails"]
    assert "au moins une adresse" in message and "URL de livraison HTTP" in message
    assert not Client.objects.exists()
    # Inactive (being set up), it receives no lead: it may wait for its addresses.
    assert client.post(reverse("admin:commandes_client_add"), {**form, "active": ""}).status_code == 302

    # Nor can an e-mail client lose its last address without an endpoint to take over.
    served = ClientFactory(name="Servi", emails=["achats@servi.example"])
    change = reverse("admin:commandes_client_change", args=[served.pk])
    assert client.post(change, {**form, "name": "Servi"}).status_code == 200
    served.refresh_from_db()
    assert served.emails == ["achats@servi.example"]


def test_a_deactivated_client_keeps_an_address_while_it_has_leads_to_deliver(client, superuser, product):
    """Its leads were sold before it was deactivated and still go to it; with its last address
    and its endpoint removed too, every morning's e-mail failed and they waited for ever."""
    from django.db import transaction
    from django.urls import reverse
    from django.utils import timezone

    from commandes.models import Client
    from commandes.services import attribution_create
    from tests.factories import CommandeFactory, LeadFactory

    commande = CommandeFactory(client__entity="ZR7", client__name="Soleil", product=product)
    for _ in range(2):
        with transaction.atomic():
            attribution_create(
                lead=LeadFactory(entity="ZR7", product=product, status="routed"), commande=commande, now=timezone.now()
            )
    client.force_login(superuser)
    change = reverse("admin:commandes_client_change", args=[commande.client_id])
    form = {
        "name": "Soleil",
        "emails": "[]",
        "api_url": "",
        "api_auth_header": "Authorization",
        "api_timeout_seconds": "10",
        "active": "",
        "created_at_0": "24/11/2026",
        "created_at_1": "10:00:00",
    }

    response = client.post(change, form)

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["emails"]
    assert "2 leads à livrer" in message and "adresse de livraison" in message
    saved = Client.objects.get(pk=commande.client_id)
    assert saved.active and saved.emails
    # Deactivated with its address kept: its leads still go out with the next CSV.
    assert client.post(change, {**form, "emails": '["achats@soleil.example"]'}).status_code == 302
    assert not Client.objects.get(pk=commande.client_id).active


SECRET = "Bearer jeton-client-2026"


def _client_form(client_row, **changes) -> dict:
    return {
        "name": client_row.name,
        "emails": '["achats@soleil.example"]',
        "api_url": "https://soleil.example/leads",
        "api_auth_header": "Authorization",
        "api_auth_value": "",
        "api_timeout_seconds": "10",
        "active": "on",
        "created_at_0": "24/11/2026",
        "created_at_1": "10:00:00",
        **changes,
    }


def test_a_clients_delivery_secret_is_never_shown_in_the_admin(client, zr7_staff, zr7_viewer):
    """The header value that authenticates RDZ to the client's lead API was printed in clear
    on the client's page: to viewers as text, to managers in the field (and the page source),
    unlike every other credential RDZ keeps. Only its last 4 characters are shown now."""
    from tests.factories import ClientFactory

    row = ClientFactory(name="Soleil", api_url="https://soleil.example/leads", api_auth_value=SECRET)
    for user in (zr7_viewer, zr7_staff):
        client.force_login(user)
        page = client.get(f"/admin/commandes/client/{row.pk}/change/")
        assert page.status_code == 200
        content = html.unescape(page.content.decode())
        assert "jeton-client" not in content
        assert "••••2026" in content
        # Nor spelled out by filtering the list on it, one guess at a time.
        assert client.get("/admin/commandes/client/?api_auth_value__startswith=B").status_code == 400


def test_a_clients_delivery_secret_is_kept_replaced_or_cleared_on_purpose_only(client, zr7_staff):
    from commandes.models import Client
    from tests.factories import ClientFactory

    row = ClientFactory(name="Soleil", api_url="https://soleil.example/leads", api_auth_value=SECRET)
    url = f"/admin/commandes/client/{row.pk}/change/"
    client.force_login(zr7_staff)

    # Saved without retyping it (the field is always empty): the secret stays.
    response = client.post(url, _client_form(row, name="Soleil SA"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    row.refresh_from_db()
    assert (row.name, row.api_auth_value) == ("Soleil SA", SECRET)

    response = client.post(url, _client_form(row, api_auth_value="Bearer nouveau-jeton"))
    assert response.status_code == 302
    assert Client.objects.get(pk=row.pk).api_auth_value == "Bearer nouveau-jeton"

    response = client.post(url, _client_form(row, api_auth_value="Bearer autre", api_auth_clear="on"))
    assert response.status_code == 200  # both at once: which one was meant?
    assert Client.objects.get(pk=row.pk).api_auth_value == "Bearer nouveau-jeton"

    response = client.post(url, _client_form(row, api_auth_clear="on"))
    assert response.status_code == 302
    assert Client.objects.get(pk=row.pk).api_auth_value == ""


def test_the_livraisons_page_keeps_batch_statuses_short_and_tells_a_partial_refusal(client, zr7_staff):
    """A batch whose tries were spent showed its whole sentence inside the red badge (a blob of
    five lines at 1280 px), the status filter offered « Échec (nouvel essai prévu) » for those
    batches too, and a batch some address of which the mail server refused read plain « Envoyé »
    in green, on the Livraisons page and in the Clients page's last batch."""
    from commandes.models import BATCH_MAX_ATTEMPTS

    spent = DeliveryBatchFactory(
        client__entity="ZR7", client__name="Client épuisé", status="failed", attempts=BATCH_MAX_ATTEMPTS
    )
    DeliveryBatchFactory(client__entity="ZR7", client__name="Client en reprise", status="failed", attempts=1)
    refusal = "adresse refusée par le serveur d'e-mail : nope@client.example (550 5.1.1 mailbox unavailable)"
    partly = DeliveryBatchFactory(
        client__entity="ZR7", client__name="Client refusé", status="sent", sent_at=timezone.now(), error=refusal
    )
    client.force_login(zr7_staff)
    page = html.unescape(client.get("/livraisons/").content.decode())
    assert '<span class="badge err">Échec</span> <small>plus d\'essai automatique' in page
    assert '<span class="badge err">Échec</span> <small>nouvel essai prévu</small>' in page
    assert '<option value="failed">Échec</option>' in page
    assert '<span class="badge warn">Envoyé</span> <small>une partie des adresses refusée' in page
    assert f'title="{refusal}"' in page  # the server's whole answer, beyond the 80 characters shown
    clients = html.unescape(client.get("/clients/").content.decode())
    assert "Envoyé (une partie des adresses refusée" in clients
    assert spent.status_text.startswith("Échec (plus d'essai automatique")
    assert partly.status_text.startswith("Envoyé (une partie des adresses refusée")
