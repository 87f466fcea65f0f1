"""`manage.py opposition_import FILE` — load an opposition list (Bloctel export, CSV…) (§16)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.services_opposition import opposition_file_encoding, opposition_import
from rdz.core.text import count_noun


class Command(BaseCommand):
    help = (
        "Importe une liste d'opposition : un numéro par ligne ou un CSV (colonne téléphone), tout format français. "
        "Les lignes invalides sont listées, jamais bloquantes ; relancer n'ajoute rien en double."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="Fichier texte ou CSV (UTF-8, UTF-16 avec BOM ou Windows-1252).")
        parser.add_argument("--source", default="Bloctel", help="Origine de la liste (défaut : Bloctel).")
        parser.add_argument("--reason", default="Liste d'opposition importée", help="Motif enregistré.")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"Fichier introuvable : {path}")
        with open(path, "rb") as raw:
            encoding = opposition_file_encoding(raw)
        # A byte Windows-1252 does not define makes its line invalid, reported, not fatal.
        with open(path, encoding=encoding, errors="replace") as handle:
            result = opposition_import(lines=handle, source=options["source"], reason=options["reason"])
        for lineno, text, reason in result.invalid:
            self.stderr.write(f"ligne {lineno} « {text} » : {reason}")
        if result.invalid_count > len(result.invalid):
            others = result.invalid_count - len(result.invalid)
            self.stderr.write(f"… et {count_noun(others, 'autre ligne invalide', 'autres lignes invalides')}.")
        self.stdout.write(result.summary())
