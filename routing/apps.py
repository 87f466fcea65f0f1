from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routage"

    def ready(self) -> None:
        from rdz.core.outbox import outbox_register
        from rdz.core.services import circuit_release_register
        from routing import checks  # noqa: F401 (registers the CRM configuration checks)
        from routing.crm import CIRCUIT_PREFIX, CRM_FORWARD_KIND, crm_breaker_release

        outbox_register(CRM_FORWARD_KIND, "routing.tasks.crm_forward_run")
        circuit_release_register(
            CIRCUIT_PREFIX, crm_breaker_release, label=lambda name: f"CRM {name.removeprefix(CIRCUIT_PREFIX)}"
        )
