import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_documents_the_provider_key_and_intake_fields_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert schema["components"]["securitySchemes"]["ProviderApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Clé API du provider (affichée une seule fois à la création ou à la rotation).",
    }
    body = schema["components"]["schemas"]["ProviderLead"]
    assert {"phone", "product", "departement"} <= set(body["required"])
    assert body["properties"]["phone"]["type"] == "string"


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/leads/", "post", {"200", "201", "400", "401", "403", "413", "415", "429"}),
        ("/api/v1/leads/{lead_id}/", "get", {"200", "401", "403", "404", "429"}),
        ("/api/v1/forms/{code}/submit/", "post", {"200", "201", "400", "403", "404", "429"}),
        ("/api/v1/track/", "post", {"204", "400", "403", "404", "429"}),
    ],
)
def test_the_openapi_schema_describes_every_documented_answer_of_the_public_endpoints(path, method, statuses):
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    responses = schema["paths"][path][method]["responses"]
    assert statuses <= set(responses), sorted(statuses - set(responses))
    assert all(answer["description"] for answer in responses.values())


def _resolve(schema: dict, ref_or_schema: dict) -> dict:
    if "allOf" in ref_or_schema:
        (ref_or_schema,) = ref_or_schema["allOf"]
    ref = ref_or_schema.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def test_the_lead_bodies_and_results_are_documented_in_french_with_their_values():
    from leads.models import LeadStatus

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for name in ("ProviderLead", "FormSubmit"):
        assert components[name]["description"].startswith("Les données du lead"), components[name]["description"]
    assert "description" not in components["LeadResult"]
    result = components["LeadResult"]["properties"]
    assert set(_resolve(schema, result["status"])["enum"]) == set(LeadStatus.values)
    assert _resolve(schema, result["entity"])["enum"] == ["ZR7", "MDL"]
