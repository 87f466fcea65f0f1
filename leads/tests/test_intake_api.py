"""Provider intake API (§15): authentication, validation, replay, limits, outcomes."""

import json
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from commandes.models import Attribution
from leads.models import Lead, LeadEvent
from providers.auth import ProviderRateThrottle
from providers.services import provider_rotate_key
from rdz.core.services import settings_update
from tests.factories import CommandeFactory, LeadFactory, OppositionEntryFactory, ProductFieldFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
BODY = {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"}


def post(client, key, body=None, **headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if key is not None:
        extra["HTTP_X_API_KEY"] = key
    return client.post(URL, body if body is not None else BODY, format="json", **extra)


def post_raw(client, key, raw: bytes | str, content_type="application/json"):
    return client.generic("POST", URL, raw, content_type=content_type, HTTP_X_API_KEY=key)


# --- Success and stored values ---------------------------------------------------------
def test_an_address_without_its_final_slash_takes_the_lead_instead_of_redirecting(api_client, zr7_provider, product):
    """A 301 to the slashed address is followed as a GET by HTTP clients: the lead was lost."""
    response = api_client.post(URL.rstrip("/"), BODY, format="json", HTTP_X_API_KEY=zr7_provider.api_key)

    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.phone == "+33612345678"
    detail = api_client.get(f"{URL}{lead.pk}", HTTP_X_API_KEY=zr7_provider.api_key)
    assert detail.status_code == 200 and detail.json()["id"] == str(lead.pk)
    assert api_client.post("/api/v1/nulle-part", BODY, format="json").status_code == 404


def test_a_valid_lead_is_created_with_the_contract_body(api_client, zr7_provider, product):
    response = post(api_client, zr7_provider.api_key)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "status", "entity"}
    assert body["status"] == "no_order"
    assert body["entity"] == "ZR7"
    lead = Lead.objects.get(pk=body["id"])
    assert lead.phone == "+33612345678"
    assert lead.provider == zr7_provider
    assert lead.entity_locked is True
    assert lead.source == "prov-zr7"


def test_the_stored_lead_is_normalized(api_client, zr7_provider, product):
    body = {
        "phone": "+33 6 12 34 56 78",
        "product": "pv",
        "departement": "2a",
        "email": "  Zoe.Martin@Exemple.FR ",
        "first_name": "  Zoé ",
        "last_name": " Lefèvre-Ångström  ",
        "source": "campagne-été",
        "consent": True,
        "extra": {"toiture": "ardoise"},
    }
    response = post(api_client, zr7_provider.api_key, body)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.phone, lead.departement, lead.email) == ("+33612345678", "2A", "zoe.martin@exemple.fr")
    assert (lead.first_name, lead.last_name) == ("Zoé", "Lefèvre-Ångström")
    assert lead.source == "campagne-été"
    assert lead.consent is True and lead.consent_at is not None
    assert lead.extra == {"toiture": "ardoise"}


def test_unicode_names_come_back_intact_from_the_database(api_client, zr7_provider, product):
    names = {"first_name": "Анна 李 Ō'Néill", "last_name": "Müller 🌞"}
    response = post(api_client, zr7_provider.api_key, {**BODY, **names})
    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, lead.last_name) == (names["first_name"], names["last_name"])


def test_every_optional_field_may_be_null(api_client, zr7_provider, product):
    optional = ["first_name", "last_name", "email", "source", "external_id", "consent", "extra"]
    optional += ["consent_page_url", "consent_text_version"]
    response = post(api_client, zr7_provider.api_key, {**BODY, **dict.fromkeys(optional)})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.consent_page_url, lead.consent_text_version, lead.consent, lead.extra) == ("", "", False, {})


def test_unknown_body_fields_are_ignored(api_client, zr7_provider, product):
    response = post(api_client, zr7_provider.api_key, {**BODY, "postal_code": "13001", "city": "Marseille"})
    assert response.status_code == 201
    assert Lead.objects.count() == 1


def test_a_routed_lead_says_routed_and_has_its_timeline(api_client, zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "routed"
    lead = Lead.objects.get(pk=response.json()["id"])
    kinds = list(lead.events.values_list("kind", flat=True))
    assert kinds == [LeadEvent.Kind.RECEIVED, LeadEvent.Kind.VALIDATED, LeadEvent.Kind.ROUTED]
    attribution = Attribution.objects.get(lead=lead)
    assert attribution.commande == commande
    assert attribution.explanation["status"] == "routed"
    assert attribution.explanation["commandes"][0]["verdict"] == "chosen"


# --- Authentication, permission --------------------------------------------------------
def test_a_missing_key_is_401_in_french(api_client, product):
    response = post(api_client, None)
    assert response.status_code == 401
    assert "Clé API manquante" in response.json()["detail"]
    assert Lead.objects.count() == 0


# A NUL character reached PostgreSQL in the key lookup (500); a front server usually
# refuses it first, Django's own server does not.
@pytest.mark.parametrize("key", ["nimportequoi", "abc.def", "x" * 300, "ab\x00c.def"])
def test_a_wrong_key_is_401(api_client, zr7_provider, product, key):
    response = post(api_client, key)
    assert response.status_code == 401
    assert response.json()["detail"] == "Clé API invalide."


def test_a_key_with_a_valid_prefix_but_wrong_secret_is_401(api_client, zr7_provider, product):
    prefix = zr7_provider.api_key.partition(".")[0]
    response = post(api_client, f"{prefix}.{'A' * 32}")
    assert response.status_code == 401


def test_a_rotated_key_stops_working_at_once_and_the_new_one_works(api_client, zr7_provider, product):
    new_key = provider_rotate_key(provider=zr7_provider)
    assert post(api_client, zr7_provider.api_key).status_code == 401
    assert post(api_client, new_key).status_code == 201


def test_an_inactive_provider_is_403_and_nothing_is_stored(api_client, zr7_provider, product):
    zr7_provider.active = False
    zr7_provider.save()
    response = post(api_client, zr7_provider.api_key)
    assert response.status_code == 403
    assert response.json()["detail"] == "Provider inactif."
    assert Lead.objects.count() == 0


# --- Reading a lead ------------------------------------------------------------------------
def test_a_provider_reads_its_own_lead_and_its_current_status(api_client, zr7_provider, product):
    lead_id = post(api_client, zr7_provider.api_key).json()["id"]
    response = api_client.get(f"{URL}{lead_id}/", HTTP_X_API_KEY=zr7_provider.api_key)
    assert response.status_code == 200
    assert response.json() == {"id": lead_id, "status": "no_order", "entity": "ZR7"}
    # Answered to a key, like a page to a signed-in account: no cache keeps it.
    assert "no-store" in response["Cache-Control"]


def test_another_providers_lead_is_404(api_client, zr7_provider, mdl_provider, product):
    lead_id = post(api_client, zr7_provider.api_key).json()["id"]
    response = api_client.get(f"{URL}{lead_id}/", HTTP_X_API_KEY=mdl_provider.api_key)
    assert response.status_code == 404


def test_a_lead_without_provider_is_404_for_every_provider(api_client, zr7_provider, product):
    lead = LeadFactory(product=product)
    assert api_client.get(f"{URL}{lead.pk}/", HTTP_X_API_KEY=zr7_provider.api_key).status_code == 404


def test_reading_a_lead_needs_a_key(api_client, zr7_provider, product):
    lead_id = post(api_client, zr7_provider.api_key).json()["id"]
    assert api_client.get(f"{URL}{lead_id}/").status_code == 401


# --- Replay ---------------------------------------------------------------------------------
def test_replaying_an_idempotency_key_returns_200_with_the_same_body_and_one_lead(api_client, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product)
    first = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-1"})
    # A retry may carry a slightly different body: the key alone decides.
    second = post(api_client, zr7_provider.api_key, {**BODY, "first_name": "Autre"}, **{"Idempotency-Key": "cle-1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Lead.objects.count() == 1
    assert Attribution.objects.count() == 1


def test_replaying_an_external_id_returns_200_with_the_same_body_and_one_lead(api_client, zr7_provider, product):
    first = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "ext-42"})
    second = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "ext-42"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Lead.objects.count() == 1


def test_the_idempotency_key_wins_over_the_external_id(api_client, zr7_provider, product):
    by_key = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "a"}, **{"Idempotency-Key": "k"}).json()
    by_ext = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0698765432", "external_id": "b"}).json()
    replay = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "b"}, **{"Idempotency-Key": "k"})
    assert replay.status_code == 200
    assert replay.json() == by_key != by_ext


@pytest.mark.parametrize("change", [{"phone": "0698765432"}, {"departement": "75"}])
def test_an_idempotency_key_reused_for_another_lead_is_422_and_stores_nothing(
    api_client, zr7_provider, product, change
):
    """A provider's key reused by mistake for another person answered 200 with the first lead:
    the new lead was dropped while the provider read « taken »."""
    CommandeFactory(client__entity="ZR7", product=product, departements=["13", "75"])
    first = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-1"})
    other = post(api_client, zr7_provider.api_key, {**BODY, **change}, **{"Idempotency-Key": "cle-1"})
    assert other.status_code == 422
    message = other.json()["Idempotency-Key"][0]
    assert first.json()["id"] in message and "n'est pas enregistré" in message
    assert Lead.objects.count() == 1 and Attribution.objects.count() == 1
    # The same person again is still a replay.
    assert post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-1"}).status_code == 200


def test_an_external_id_reused_for_another_lead_is_422(api_client, zr7_provider, product):
    post(api_client, zr7_provider.api_key, {**BODY, "external_id": "ext-42"})
    other = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0698765432", "external_id": "ext-42"})
    assert other.status_code == 422 and list(other.json()) == ["external_id"]
    assert Lead.objects.count() == 1


def test_a_reused_key_of_an_erased_lead_is_still_a_replay(api_client, zr7_provider, product):
    first = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-1"}).json()
    Lead.objects.filter(pk=first["id"]).update(phone="", anonymized_at=timezone.now())
    assert post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-1"}).status_code == 200


def test_a_retry_of_a_taken_lead_reads_200_even_if_the_rules_changed_since(api_client, zr7_provider, product):
    """The provider's retry (timeout on its side) must not read « refused » because the product
    was deactivated or a field made required after its lead was taken."""
    by_key = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-9"})
    by_ext = post(api_client, zr7_provider.api_key, {**BODY, "phone": "0698765432", "external_id": "ext-9"})
    ProductFieldFactory(product=product, name="surface", type="integer", required=True)
    required_since = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "ext-9", "phone": "0698765432"})
    product.active = False
    product.save()

    retry = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "cle-9"})

    assert (retry.status_code, required_since.status_code) == (200, 200)
    assert retry.json() == by_key.json() and required_since.json() == by_ext.json()
    new = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "ext-10"}, **{"Idempotency-Key": "cle-10"})
    assert new.status_code == 400 and "product" in new.json()
    assert Lead.objects.count() == 2


def test_the_same_keys_from_two_providers_make_two_leads(api_client, zr7_provider, mdl_provider, product):
    a = post(api_client, zr7_provider.api_key, {**BODY, "external_id": "x"}, **{"Idempotency-Key": "k"})
    b = post(api_client, mdl_provider.api_key, {**BODY, "external_id": "x"}, **{"Idempotency-Key": "k"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_an_idempotency_key_over_100_characters_is_400(api_client, zr7_provider, product):
    response = post(api_client, zr7_provider.api_key, **{"Idempotency-Key": "k" * 101})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


# --- Bad input: 400 with French field messages, nothing stored ------------------------------
def test_malformed_json_is_400_and_nothing_is_stored(api_client, zr7_provider, product):
    response = post_raw(api_client, zr7_provider.api_key, '{"phone": "0612345678", "product": ')
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Corps JSON invalide."]}
    assert Lead.objects.count() == 0


LEAD_JSON = '{"phone": "0612345678", "product": "PV", "departement": "13", '


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (LEAD_JSON + '"extra": {"surface": 1e400}}', "Nombre hors limites : 1e400."),
        (LEAD_JSON + '"extra": {"surface": -1E999}}', "Nombre hors limites : -1E999."),
        (LEAD_JSON + '"extra": {"surface": NaN}}', "Corps JSON invalide."),
        (LEAD_JSON + '"extra": {"surface": Infinity}}', "Corps JSON invalide."),
        (LEAD_JSON + '"extra": {"n": 1' + "0" * 5000 + "}}", "Corps JSON invalide."),
        (LEAD_JSON + '"extra": {"a": ' + "[" * 40 + "]" * 40 + "}}", "JSON trop imbriqué (32 niveaux au plus)."),
        (
            LEAD_JSON + '"extra": {"a": ' + "[" * 50_000 + "]" * 50_000 + "}}",
            "JSON trop imbriqué (32 niveaux au plus).",
        ),
    ],
)
def test_json_values_no_column_can_hold_are_400_and_nothing_is_stored(api_client, zr7_provider, product, raw, message):
    # Each of these used to reach PostgreSQL (infinity in jsonb) or exhaust Python's recursion: a 500.
    response = post_raw(api_client, zr7_provider.api_key, raw)
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [message]}
    assert Lead.objects.count() == 0


def test_a_body_with_a_utf8_byte_order_mark_is_accepted(api_client, zr7_provider, product):
    raw = "\ufeff" + json.dumps({**BODY, "first_name": "Zoé"})
    response = post_raw(api_client, zr7_provider.api_key, raw.encode("utf-8"))
    assert response.status_code == 201, response.content
    assert Lead.objects.get().first_name == "Zoé"


def test_nesting_within_the_limit_and_big_integers_are_kept(api_client, zr7_provider, product):
    raw = LEAD_JSON + '"extra": {"a": ' + "[" * 30 + "]" * 30 + ', "n": 123456789012345678901234567890}}'
    response = post_raw(api_client, zr7_provider.api_key, raw)
    assert response.status_code == 201, response.content
    assert Lead.objects.get().extra["n"] == 123456789012345678901234567890


@pytest.mark.parametrize("raw", ["[]", '"texte"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_400(api_client, zr7_provider, product, raw):
    response = post_raw(api_client, zr7_provider.api_key, raw)
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Un objet JSON est attendu."]}
    assert Lead.objects.count() == 0


def test_a_form_encoded_body_is_refused_with_415(api_client, zr7_provider, product):
    response = post_raw(api_client, zr7_provider.api_key, "phone=0612345678", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "JSON" in response.json()["non_field_errors"][0]


def test_a_compressed_body_is_refused_with_415_saying_so_and_nothing_is_stored(api_client, zr7_provider, product):
    """A gzip body used to be answered « Corps JSON invalide. »: the provider looked for a
    mistake in a JSON that had none."""
    import gzip

    raw = gzip.compress(json.dumps(BODY).encode())
    for coding in ("gzip", "br", "deflate, gzip"):
        response = api_client.generic(
            "POST",
            URL,
            raw,
            content_type="application/json",
            HTTP_X_API_KEY=zr7_provider.api_key,
            HTTP_CONTENT_ENCODING=coding,
        )
        assert response.status_code == 415, coding
        assert response.json() == {
            "non_field_errors": ["Corps compressé non supporté : envoyez le JSON sans Content-Encoding."]
        }
        assert response["Accept-Encoding"] == "identity"
    assert Lead.objects.count() == LeadEvent.objects.count() == 0
    response = api_client.generic(
        "POST",
        URL,
        json.dumps(BODY),
        content_type="application/json",
        HTTP_X_API_KEY=zr7_provider.api_key,
        HTTP_CONTENT_ENCODING="identity",
    )
    assert response.status_code == 201


def test_missing_required_fields_are_listed_in_french(api_client, zr7_provider, product):
    response = post(api_client, zr7_provider.api_key, {"email": "a@b.fr"})
    assert response.status_code == 400
    body = response.json()
    for name in ("phone", "product", "departement"):
        assert body[name] == ["Ce champ est obligatoire."]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("phone", ["0612345678"], "Numéro de téléphone invalide."),
        ("phone", {"numero": "0612345678"}, "Numéro de téléphone invalide."),
        ("phone", "+44 7911 123456", "Numéro de téléphone français invalide."),
        ("phone", "", "Ce champ ne peut être vide."),
        ("departement", "20", "n'est pas un code de département valide"),
        ("departement", "977", "n'est pas un code de département valide"),
        ("email", "pas-un-email", "Saisissez une adresse e-mail valide."),
        # Valid for Django's validator (up to 320), longer than the column (254): PostgreSQL refused it.
        ("email", "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".fr", "254 caractères au maximum"),
        ("first_name", ["Jean"], "Texte attendu."),
        ("extra", ["a", "b"], "dictionnaire"),
        ("consent", "peut-être", "Booléen attendu"),
        ("source", ["a"], "Texte attendu."),
        ("external_id", "x" * 101, "au plus 100"),
        ("product", "XYZ", "Produit inconnu ou inactif"),
        ("product", ["PV"], "Texte attendu."),
        ("consent_text_version", {"v": 1}, "Texte attendu."),
    ],
)
def test_a_wrong_value_or_type_is_400_with_a_french_message_and_nothing_stored(
    api_client, zr7_provider, product, field, value, expected
):
    response = post(api_client, zr7_provider.api_key, {**BODY, field: value})
    assert response.status_code == 400, response.content
    messages = response.json()[field]
    assert any(expected in m for m in messages), messages
    assert Lead.objects.count() == 0
    assert LeadEvent.objects.count() == 0


CONSENT_WORDS = "Booléen attendu : true ou false, oui ou non, vrai ou faux, yes ou no, 1 ou 0."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("oui", True),
        ("OUI", True),
        ("  Oui ", True),
        ("vrai", True),
        ("Vrai\t", True),
        ("non", False),
        ("Non", False),
        (" NON", False),
        ("faux", False),
        ("FAUX ", False),
    ],
)
def test_french_partners_may_send_consent_as_oui_non_vrai_or_faux(api_client, zr7_provider, product, value, expected):
    response = post(api_client, zr7_provider.api_key, {**BODY, "consent": value})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.consent is expected
    assert (lead.consent_at is not None) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("Yes", True), ("1", True), (1, True), (False, False), ("no", False), (0, False)],
)
def test_the_english_consent_words_are_still_read(api_client, zr7_provider, product, value, expected):
    response = post(api_client, zr7_provider.api_key, {**BODY, "consent": value})
    assert response.status_code == 201, response.content
    assert Lead.objects.get().consent is expected


@pytest.mark.parametrize("value", ["peut-être", "o", "ouais", "oui!", " true ", 2, ["oui"], {"oui": True}])
def test_an_unreadable_consent_is_400_listing_the_accepted_words(api_client, zr7_provider, product, value):
    response = post(api_client, zr7_provider.api_key, {**BODY, "consent": value})
    assert response.status_code == 400, response.content
    assert response.json() == {"consent": [CONSENT_WORDS]}
    assert not Lead.objects.exists()


def test_several_wrong_fields_are_all_reported_at_once(api_client, zr7_provider, product):
    response = post(api_client, zr7_provider.api_key, {"phone": "123", "product": "PV", "departement": "96"})
    assert response.status_code == 400
    assert set(response.json()) == {"phone", "departement"}


def test_product_extra_fields_are_validated(api_client, zr7_provider, product):
    ProductFieldFactory(product=product, name="surface", type="integer", required=True, label="Surface")
    missing = post(api_client, zr7_provider.api_key)
    assert missing.status_code == 400
    assert "obligatoire" in missing.json()["extra"][0]
    wrong = post(api_client, zr7_provider.api_key, {**BODY, "extra": {"surface": "grande"}})
    assert wrong.json()["extra"] == ["surface : un nombre entier est attendu."]
    ok = post(api_client, zr7_provider.api_key, {**BODY, "extra": {"surface": "42"}})
    assert ok.status_code == 201
    assert Lead.objects.get().extra == {"surface": 42}


def test_a_one_megabyte_body_is_413_with_a_json_error_and_nothing_stored(api_client, zr7_provider, product):
    raw = json.dumps({**BODY, "extra": {"notes": "x" * (1024 * 1024)}})
    response = post_raw(api_client, zr7_provider.api_key, raw)
    assert response.status_code == 413
    assert response.json() == {"detail": "Corps de requête trop volumineux."}
    assert Lead.objects.count() == 0


# --- Throttling ---------------------------------------------------------------------------
def test_a_cache_that_is_down_or_silent_neither_refuses_nor_holds_a_lead(
    api_client, zr7_provider, product, unavailable_redis, settings
):
    """The throttle's counters live in the cache (Redis in production): its outage must not
    turn every intake into a 500 (§16)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": unavailable_redis,
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }
    started = time.monotonic()
    response = post(api_client, zr7_provider.api_key)
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 5
    assert Lead.objects.count() == 1


def test_each_key_is_throttled_on_its_own_with_429(api_client, zr7_provider, mdl_provider, product, monkeypatch):
    monkeypatch.setattr(ProviderRateThrottle, "THROTTLE_RATES", {"provider": "3/min"})
    codes = [post(api_client, zr7_provider.api_key, {**BODY, "external_id": str(i)}).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    throttled = post(api_client, zr7_provider.api_key)
    assert "Retry-After" in throttled.headers
    wait = int(throttled.headers["Retry-After"])
    assert throttled.json() == {"detail": f"Trop de requêtes : réessayez dans {wait} seconde{'s' if wait > 1 else ''}."}
    assert post(api_client, mdl_provider.api_key).status_code == 201
    assert Lead.objects.count() == 4


# --- Business outcomes at the API ----------------------------------------------------------
@pytest.mark.parametrize(
    ("blacklist", "source"),
    [(["campagne-douteuse"], "Campagne-Douteuse"), (["PROV-ZR7"], ""), ([" prov-zr7 "], "autre")],
)
def test_a_blacklisted_source_or_provider_is_stored_blacklisted_and_not_routed(
    api_client, zr7_provider, product, blacklist, source
):
    CommandeFactory(client__entity="ZR7", product=product)
    settings_update(user=None, changes={"blacklisted_sources": blacklist})
    response = post(api_client, zr7_provider.api_key, {**BODY, "source": source})
    assert response.status_code == 201
    assert response.json()["status"] == "blacklisted"
    assert Attribution.objects.count() == 0
    event = Lead.objects.get().events.last()
    assert "blacklistée" in event.message


def test_a_provider_lead_never_crosses_to_the_other_entity(api_client, zr7_provider, product):
    CommandeFactory(client__entity="MDL", product=product)
    settings_update(user=None, changes={"cross_entity_enabled": True, "cross_entity_zr7_to_mdl": True})
    response = post(api_client, zr7_provider.api_key)
    assert response.json() == {"id": response.json()["id"], "status": "no_order", "entity": "ZR7"}
    assert Attribution.objects.count() == 0
    assert "verrouillé" in Lead.objects.get().events.last().message


def test_an_opposed_number_is_stored_but_never_routed(api_client, zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product)
    OppositionEntryFactory(phone="+33612345678")
    response = post(api_client, zr7_provider.api_key)
    assert response.json()["status"] == "opposed"
    assert Attribution.objects.count() == 0


@override_settings(DEBUG=False)
def test_an_unexpected_method_is_405(api_client, zr7_provider):
    assert api_client.put(URL, BODY, format="json", HTTP_X_API_KEY=zr7_provider.api_key).status_code == 405


# --- Client address (consent proof, §16) ------------------------------------------------
@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", "127.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the entry our proxy appended
        (1, "pas-une-adresse", "127.0.0.1"),  # garbage never reaches the database
    ],
)
def test_the_lead_ip_is_the_peer_unless_trusted_proxies_forward_it(
    api_client, zr7_provider, product, settings, num_proxies, forwarded_for, expected
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    response = post(api_client, zr7_provider.api_key, X_Forwarded_For=forwarded_for)
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).ip == expected


@pytest.mark.parametrize("remote_addr", [None, "", "unix:/run/gunicorn.sock"])
def test_a_server_that_gives_no_peer_address_still_stores_the_lead(api_client, zr7_provider, product, remote_addr):
    # Behind a UNIX socket, or a server that leaves REMOTE_ADDR out: no address, no error.
    response = api_client.post(URL, BODY, format="json", HTTP_X_API_KEY=zr7_provider.api_key, REMOTE_ADDR=remote_addr)
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).ip is None
