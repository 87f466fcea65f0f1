from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rdz.core"
    label = "core"
    verbose_name = "Noyau"

    def ready(self) -> None:
        # Celery autodiscovery only imports `tasks` modules: register the Pilotage jobs too.
        from rdz.core import pilotage_tasks  # noqa: F401
