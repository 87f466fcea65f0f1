from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routage"

    def ready(self) -> None:
        from rdz.core.outbox import outbox_register
        from routing.crm import CRM_FORWARD_KIND

        outbox_register(CRM_FORWARD_KIND, "routing.tasks.crm_forward_run")
