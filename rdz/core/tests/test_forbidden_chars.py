"""Characters no database column can hold (NUL, lone surrogates) never reach the database:
the API refuses them with a field message, the admin with a form error, the legacy import
cleans them (and keeps infinities as text). On PostgreSQL each of these used to be a 500."""

import json

import pytest
from bson import ObjectId, json_util
from django import forms
from django.contrib import admin
from django.test import RequestFactory

from leads.legacy.importer import LegacyImporter
from leads.legacy.mapping import jsonable
from leads.legacy.readers import DirectorySource
from leads.models import Lead
from leads.services import LeadInput, lead_create
from rdz.core.forms import SafeJSONField
from rdz.core.text import json_forbidden_char, json_may_hold_forbidden_chars, text_clean
from tests.factories import LeadFormFactory, ProductFactory

pytestmark = pytest.mark.django_db

BODY = {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"}


def post_json(api_client, url, raw: str, **headers):
    return api_client.generic("POST", url, raw.encode(), content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("first_name", "Jean\x00", "0000"),
        ("last_name", "\ud800", "D800"),
        ("email", "a\x00@exemple.fr", "0000"),
        ("source", "\udfff", "DFFF"),
        ("external_id", "ext\x00", "0000"),
        ("extra", {"surface": "40\x00"}, "0000"),
        ("extra", {"toit\x00": 1}, "0000"),
        ("extra", {"pieces": [{"nom": "\ud83d"}]}, "D83D"),
        ("consent_page_url", "https://exemple.fr/\x00", "0000"),
    ],
)
def test_the_intake_refuses_a_nul_or_a_lone_surrogate_with_a_field_message(
    api_client, zr7_provider, product, field, value, code
):
    raw = json.dumps({**BODY, field: value})  # ensure_ascii: the characters travel as \u escapes
    response = post_json(api_client, "/api/v1/leads/", raw, HTTP_X_API_KEY=zr7_provider.api_key)
    assert response.status_code == 400
    assert response.json() == {field: [f"Caractère non autorisé (U+{code})."]}
    assert not Lead.objects.exists()


def test_a_forbidden_character_in_a_key_or_outside_an_object_is_refused(api_client, zr7_provider, product):
    key = {"HTTP_X_API_KEY": zr7_provider.api_key}
    response = post_json(api_client, "/api/v1/leads/", json.dumps({**BODY, "\x00": 1}), **key)
    assert response.json() == {"non_field_errors": ["Caractère non autorisé (U+0000)."]}
    response = post_json(api_client, "/api/v1/leads/", json.dumps(["\x00"]), **key)
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_emoji_escapes_and_a_literal_backslash_u0000_are_accepted(api_client, zr7_provider, product):
    # Both look like forbidden escapes to the quick check on the raw body; neither is one.
    raw = json.dumps({**BODY, "first_name": "Zoé 😀", "last_name": "\\u0000"})
    assert "\\ud83d\\ude00" in raw
    response = post_json(api_client, "/api/v1/leads/", raw, HTTP_X_API_KEY=zr7_provider.api_key)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("Zoé 😀", "\\u0000")


def test_an_idempotency_key_with_a_nul_is_refused(api_client, zr7_provider, product):
    response = post_json(
        api_client,
        "/api/v1/leads/",
        json.dumps(BODY),
        HTTP_X_API_KEY=zr7_provider.api_key,
        HTTP_IDEMPOTENCY_KEY="a\x00",
    )
    assert response.status_code == 400
    assert response.json() == {"Idempotency-Key": ["Caractère non autorisé (U+0000)."]}


def test_the_form_submit_and_the_track_endpoint_refuse_them_too(api_client, product):
    form = LeadFormFactory(code="pv-nul", product=product, allowed_origins=["https://landing.exemple.fr"])
    origin = {"HTTP_ORIGIN": "https://landing.exemple.fr"}
    body = {"phone": "0612345678", "departement": "13", "first_name": "\x00", "visitor_id": "visitor-0001"}
    response = post_json(api_client, f"/api/v1/forms/{form.code}/submit/", json.dumps(body), **origin)
    assert response.status_code == 400
    assert response.json() == {"first_name": ["Caractère non autorisé (U+0000)."]}
    assert response["Access-Control-Allow-Origin"] == "https://landing.exemple.fr"
    track = {"form": form.code, "event": "visit", "visitor_id": "visitor-0001", "variant": "\ud800"}
    response = post_json(api_client, "/api/v1/track/", json.dumps(track), **origin)
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_a_user_agent_with_a_nul_is_stored_without_it(zr7_provider, product):
    data = LeadInput(phone="+33612345678", product=product, departement="13", user_agent="Mozilla\x00/5.0")
    lead, _ = lead_create(data=data, provider=zr7_provider)
    lead.refresh_from_db()
    assert lead.user_agent == "Mozilla/5.0"


def _admin_json_fields(request):
    for model_admin in admin.site._registry.values():
        admins = [model_admin, *model_admin.get_inline_instances(request)]
        for each in admins:
            form_class = each.get_formset(request).form if hasattr(each, "get_formset") else each.get_form(request)
            for name, field in form_class.base_fields.items():
                if isinstance(field, forms.JSONField):
                    yield f"{each.__class__.__name__}.{name}", field


def test_every_json_field_of_the_admin_refuses_them(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    fields = dict(_admin_json_fields(request))
    assert {"ClientAdmin.emails", "AppSettingsAdmin.blacklisted_sources"} <= set(fields)
    for name, field in fields.items():
        assert isinstance(field, SafeJSONField), name
        with pytest.raises(forms.ValidationError) as exc:
            field.clean('["a\\u0000"]')
        assert exc.value.messages == ["Caractère non autorisé (U+0000)."], name
        assert field.clean('["Zoé \\ud83d\\ude00"]') == ["Zoé 😀"], name


def test_the_legacy_import_cleans_them_and_says_so(tmp_path):
    ProductFactory(code="PV")
    lead_id = ObjectId()
    doc = {
        "_id": lead_id,
        "telephone": "06 12 34 56 78",
        "cp": "75011",
        "produit": "PV",
        "entite": "ZR7",
        "prenom": "Jea\x00n",
        "nom": "Mar\ud800tin",
        "source": "fb\x00",
        "extra": {"toit\x00": "ardoise\x00", "liste": ["\ud800"], "mesure": float("inf")},
    }
    (tmp_path / "leads.jsonl").write_text(json_util.dumps(doc) + "\n", encoding="utf-8")
    report = LegacyImporter(source=DirectorySource(tmp_path)).run()
    leads = report.collections["leads"]
    assert (leads.created, leads.invalid) == (1, [])
    lead = Lead.objects.get(legacy_id=str(lead_id))
    assert (lead.first_name, lead.last_name, lead.source) == ("Jean", "Mar\ufffdtin", "fb")
    assert lead.extra["toit"] == "ardoise"
    assert lead.extra["liste"] == ["\ufffd"]
    assert lead.extra["mesure"] == "inf"  # a JSON column cannot hold infinity
    assert leads.warning_counts["prénom : caractères invalides retirés"] == 1
    assert leads.warning_counts["source : caractères invalides retirés"] == 1


def test_the_text_helpers():
    assert text_clean("a\x00b\ud800c") == "ab\ufffdc"
    assert jsonable({"k\x00": ["\x00v", 1, None]}) == {"k": ["v", 1, None]}
    assert json_forbidden_char({"a": [1, {"b": "ok"}], "c": ["\udc00"]}) == "\udc00"
    assert json_forbidden_char({"a": "😀"}) is None
    assert json_may_hold_forbidden_chars(b'{"a": "\\u0000"}')
    assert json_may_hold_forbidden_chars(b'{"a": "\\uDBFF"}')
    assert not json_may_hold_forbidden_chars(b'{"a": "\\u00e9 \\u2028 \\ue000"}')
