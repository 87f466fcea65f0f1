"""`manage.py import_legacy` — backfill RDZ from the previous system's MongoDB data (§12)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.legacy.importer import ORDER, LegacyImporter, default_report_path
from leads.legacy.readers import DirectorySource, FileSource, LegacySourceError, MongoSource


class Command(BaseCommand):
    help = (
        "Importe les données de l'ancien système (MongoDB) : base en direct (--uri + --db), dossier d'exports "
        "(--dir : leads.json / leads.jsonl / leads.bson…) ou un fichier (--file). Relançable : les lignes déjà "
        "importées sont mises à jour, jamais dupliquées."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--uri", help="URI MongoDB, ex. mongodb://utilisateur:motdepasse@hôte:27017/")
        source.add_argument(
            "--dir", type=Path, help="Dossier d'exports mongoexport/mongodump nommés d'après les collections."
        )
        source.add_argument("--file", type=Path, help="Un fichier d'export (collection déduite de son nom).")
        parser.add_argument("--db", help="Nom de la base MongoDB (avec --uri).")
        parser.add_argument(
            "--media-dir",
            type=Path,
            help="Dossier des fichiers des médias (défaut avec --dir : son sous-dossier media/ s'il existe).",
        )
        parser.add_argument("--collection", choices=ORDER, help="Collection du fichier donné par --file.")
        parser.add_argument(
            "--only",
            help=f"Collections à importer, séparées par des virgules (défaut : toutes, dans l'ordre {','.join(ORDER)}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Simulation : tout est lu et vérifié, rien n'est écrit."
        )
        parser.add_argument("--report", type=Path, help="Fichier du rapport (défaut : var/imports/…txt, + .json).")
        parser.add_argument("--chunk-size", type=int, default=1000, help="Leads écrits par lot (défaut 1000).")
        parser.add_argument("--no-progress", action="store_true", help="Sans barre de progression.")

    def handle(self, *args, **options):
        only = None
        if options["only"]:
            only = [name.strip() for name in options["only"].split(",") if name.strip()]
            unknown = sorted(set(only) - set(ORDER))
            if unknown:
                words = "Collection inconnue" if len(unknown) < 2 else "Collections inconnues"
                raise CommandError(f"{words} : {', '.join(unknown)}. Possibles : {', '.join(ORDER)}.")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size doit être positif.")
        try:
            if options["uri"]:
                if not options["db"]:
                    raise CommandError("--db est obligatoire avec --uri.")
                source = MongoSource(options["uri"], options["db"])
            elif options["dir"]:
                source = DirectorySource(options["dir"])
            else:
                source = FileSource(options["file"], options["collection"])
        except LegacySourceError as exc:
            raise CommandError(str(exc)) from exc

        media_dir = options["media_dir"]
        if media_dir is None and options["dir"] and (options["dir"] / "media").is_dir():
            media_dir = options["dir"] / "media"
        if media_dir is not None and not media_dir.is_dir():
            raise CommandError(f"Dossier des médias introuvable : {media_dir}")
        importer = LegacyImporter(
            media_dir=media_dir,
            source=source,
            only=only,
            dry_run=options["dry_run"],
            chunk_size=options["chunk_size"],
            progress=None if options["no_progress"] else self._progress_bar,
        )
        report = importer.run()
        text_path, json_path = report.write(options["report"] or default_report_path(report.started_at))
        self.stdout.write(report.as_text())
        self.stdout.write(f"Rapport écrit : {text_path} (et {json_path.name})")

    def _progress_bar(self, desc: str, total: int | None):
        from tqdm import tqdm

        return tqdm(desc=desc, total=total, unit=" docs", file=self.stderr._out, mininterval=0.5, dynamic_ncols=True)
