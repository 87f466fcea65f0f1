from django.core.management.base import BaseCommand, CommandError

from providers.models import Provider
from providers.services import provider_rotate_key


class Command(BaseCommand):
    help = "Remplace la clé API d'un provider (l'ancienne cesse de fonctionner) et affiche la nouvelle sur la dernière ligne."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Identifiant du provider")

    def handle(self, *args, slug, **options):
        provider = Provider.objects.filter(slug=slug).first()
        if provider is None:
            raise CommandError(f"Provider introuvable : {slug}")
        key = provider_rotate_key(provider=provider, actor_label="manage.py")
        self.stdout.write(f"Nouvelle clé du provider « {provider.slug} » ; l'ancienne est révoquée :")
        self.stdout.write(key)
