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
