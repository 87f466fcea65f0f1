from django.core.management.base import BaseCommand

from media_library.models import MediaAsset
from media_library.services import media_thumbnail_rebuild


class Command(BaseCommand):
    help = "Recrée les miniatures des médias (toutes, ou seulement celles qui manquent avec --missing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--missing", action="store_true", help="Seulement les médias sans miniature sur disque.")

    def handle(self, *args, missing: bool = False, **options) -> None:
        rebuilt = skipped = failed = 0
        for asset in MediaAsset.objects.order_by("pk").iterator():
            if missing and asset.thumbnail and asset.thumbnail.storage.exists(asset.thumbnail.name):
                skipped += 1
                continue
            if media_thumbnail_rebuild(asset=asset):
                rebuilt += 1
            else:
                failed += 1
                self.stderr.write(f"Fichier manquant pour le média {asset.pk} : {asset.file.name}")
        self.stdout.write(f"Miniatures recréées : {rebuilt}, ignorées : {skipped}, fichiers manquants : {failed}")
