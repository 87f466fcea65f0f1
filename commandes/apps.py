from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_db_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from commandes.db_triggers import fill_triggers_install

    fill_triggers_install(connections[using])


class CommandesConfig(AppConfig):
    name = "commandes"
    verbose_name = "Distribution"

    def ready(self) -> None:
        from commandes.delivery_http import CIRCUIT_PREFIX, client_breaker_label, client_breaker_release
        from commandes.schedules import on_settings_changed
        from commandes.services import OUTBOX_DELIVERY_BATCH, OUTBOX_DELIVERY_POST
        from rdz.core.outbox import outbox_register
        from rdz.core.services import circuit_release_register
        from rdz.core.signals import settings_changed

        # SQLite drops triggers when a migration rebuilds the table: re-create after migrate.
        post_migrate.connect(_install_db_triggers, sender=self, dispatch_uid="commandes_db_triggers")
        outbox_register(OUTBOX_DELIVERY_POST, "commandes.tasks.delivery_post_run")
        outbox_register(OUTBOX_DELIVERY_BATCH, "commandes.tasks.delivery_batch_run")
        circuit_release_register(CIRCUIT_PREFIX, client_breaker_release, label=client_breaker_label)
        settings_changed.connect(on_settings_changed, dispatch_uid="commandes.delivery_schedule_sync")
