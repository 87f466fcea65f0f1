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
