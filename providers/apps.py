from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers"

    def ready(self) -> None:
        from providers import schema  # noqa: F401  (registers the OpenAPI auth extension)
