from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rdz.core"
    label = "core"
    verbose_name = "Noyau"
