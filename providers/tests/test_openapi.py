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


FIELD_ERRORS_SCHEMA = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}


def test_every_documented_400_is_the_field_errors_body_and_the_schema_validates():
    """§15: a 400 is {"field": ["message", …]}; a client generated from the schema must be
    able to read the messages, not an object of unknown values."""
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    bodies = {
        (path, method, status): answer["content"]["application/json"]["schema"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status in ("400", "415")
    }
    assert len(bodies) >= 8
    for where, body in bodies.items():
        assert {k: body.get(k) for k in FIELD_ERRORS_SCHEMA} == FIELD_ERRORS_SCHEMA, where


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/stats/daily/", "get", {"200", "400", "401", "403"}),
        ("/api/v1/forms/{code}/stats/", "get", {"200", "400", "401", "403", "404"}),
        ("/api/v1/forms/{code}/", "get", {"200", "401", "403", "404"}),
        ("/api/v1/forms/{code}/", "patch", {"200", "400", "401", "403", "404"}),
        ("/api/v1/media/", "get", {"200", "400", "401", "403", "404"}),
        ("/api/v1/media/{id}/", "get", {"200", "401", "403", "404"}),
    ],
)
def test_the_openapi_schema_describes_the_error_answers_of_the_staff_endpoints(path, method, statuses):
    schema = SchemaGenerator().get_schema(request=None, public=True)

    responses = schema["paths"][path][method]["responses"]
    assert statuses <= set(responses), sorted(statuses - set(responses))
    for status in statuses - {"200"}:
        assert responses[status]["description"], status
        assert "application/json" in responses[status]["content"], status
    # A 403 is a signed-in account without the right; no credentials at all is the 401.
    assert "Non authentifié" not in responses["403"]["description"]


def test_the_openapi_schema_speaks_french_to_its_readers():
    """/api/docs/ is read by providers and staff: no description left in English (DRF's and
    drf-spectacular's own texts have no French translation)."""
    import re

    schema = SchemaGenerator().get_schema(request=None, public=True)
    texts = []

    def walk(node):
        if isinstance(node, dict):
            texts.extend(v for k, v in node.items() if k in ("description", "summary") and isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(texts) > 50
    english = [t for t in texts if re.search(r"\b(the|with|within|of|per|return|required)\b", t, re.IGNORECASE)]
    assert english == []
    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert token["name"] == "Authorization" and "Token" in token["description"]
