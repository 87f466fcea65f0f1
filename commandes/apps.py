from django.apps import AppConfig


class CommandesConfig(AppConfig):
    name = "commandes"
    verbose_name = "Distribution"

    def ready(self) -> None:
        from commandes.schedules import on_settings_changed
        from commandes.services import OUTBOX_DELIVERY_BATCH, OUTBOX_DELIVERY_POST
        from rdz.core.outbox import outbox_register
        from rdz.core.signals import settings_changed

        outbox_register(OUTBOX_DELIVERY_POST, "commandes.tasks.delivery_post_run")
        outbox_register(OUTBOX_DELIVERY_BATCH, "commandes.tasks.delivery_batch_run")
        settings_changed.connect(on_settings_changed, dispatch_uid="commandes.delivery_schedule_sync")
