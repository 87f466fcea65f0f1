from django.apps import AppConfig


class CommandesConfig(AppConfig):
    name = "commandes"
    verbose_name = "Distribution"
