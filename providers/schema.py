"""OpenAPI description of the provider key authentication (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ProviderKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "providers.auth.ProviderKeyAuthentication"
    name = "ProviderApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Clé API du provider (affichée une seule fois à la création ou à la rotation).",
        }
