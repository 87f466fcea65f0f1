"""OpenAPI descriptions of the API's authentications (drf-spectacular), in French."""

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


class StaffTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The staff token of the stats API; drf-spectacular's own description is English only."""

    target_class = "rest_framework.authentication.TokenAuthentication"
    name = "tokenAuth"
    match_subclasses = True
    priority = 1  # over drf-spectacular's TokenScheme

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"Jeton d'un compte staff, précédé de « {self.target.keyword} » "
            f"(en-tête Authorization: {self.target.keyword} …).",
        }
