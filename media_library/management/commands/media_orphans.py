from django.core.management.base import BaseCommand

from media_library.services import media_orphans_find


class Command(BaseCommand):
    help = (
        "Liste les fichiers de la médiathèque sans média en base et les médias dont le fichier manque. "
        "--delete efface les fichiers orphelins (les médias sans fichier sont seulement signalés)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--delete", action="store_true", help="Efface les fichiers orphelins.")
        parser.add_argument(
            "--min-age-minutes",
            type=int,
            default=60,
            help="Ignore les fichiers plus récents (un téléversement peut être en cours). Défaut : 60.",
        )

    def handle(self, *args, delete: bool = False, min_age_minutes: int = 60, **options) -> None:
        report = media_orphans_find(delete=delete, min_age_seconds=max(min_age_minutes, 0) * 60)
        for name in report.files_without_row:
            self.stdout.write(f"{'supprimé' if name in report.deleted else 'orphelin'} : {name}")
        for pk in report.rows_without_file:
            self.stdout.write(f"fichier manquant : média {pk}")
        self.stdout.write(
            f"Fichiers orphelins : {len(report.files_without_row)} (supprimés : {len(report.deleted)}), "
            f"médias sans fichier : {len(report.rows_without_file)}"
        )
