from django.core.management.base import BaseCommand, CommandError

from providers.services import ProviderError, provider_create


class Command(BaseCommand):
    help = "Crée un provider et affiche sa clé API (une seule fois) sur la dernière ligne."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Nom du provider")
        parser.add_argument("--entity", required=True, choices=["ZR7", "MDL"], help="Entité du provider")
        parser.add_argument("--slug", default="", help="Identifiant (déduit du nom par défaut)")

    def handle(self, *args, name, entity, slug, **options):
        try:
            provider, key = provider_create(name=name, entity=entity, slug=slug, actor_label="manage.py")
        except ProviderError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Provider « {provider.name} » créé : slug={provider.slug}, entité={provider.entity}.")
        self.stdout.write("Clé API (affichée une seule fois, conservez-la) :")
        self.stdout.write(key)
