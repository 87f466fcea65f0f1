"""`manage.py rgpd_export --phone … | --email …` — everything RDZ holds about a person, as JSON (§16)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.services_rgpd import RgpdError, rgpd_export
from rdz.core.text import count_noun


class Command(BaseCommand):
    help = (
        "Exporte en JSON toutes les données détenues sur une personne (droit d'accès RGPD), "
        "dans les deux entités, ZR7 et MDL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phone", help="Numéro de téléphone, tout format français.")
        parser.add_argument("--email", help="Adresse e-mail.")
        parser.add_argument("--output", type=Path, help="Fichier de sortie (défaut : la sortie standard).")

    def handle(self, *args, **options):
        if not options["phone"] and not options["email"]:
            raise CommandError("Indiquez --phone ou --email (ou les deux).")
        output = options["output"]
        out = None
        if output:
            # Opened before the export, which is audited: a path that cannot be written
            # stops here, with nothing recorded as exported.
            try:
                out = output.open("w", encoding="utf-8")
            except OSError as exc:
                reason = {
                    FileNotFoundError: "dossier introuvable",
                    PermissionError: "permission refusée",
                    IsADirectoryError: "c'est un dossier",
                }.get(type(exc), exc.strerror)
                raise CommandError(f"Impossible d'écrire « {output} » : {reason}.") from exc
        try:
            data = rgpd_export(phone=options["phone"], email=options["email"])
        except RgpdError as exc:
            if out:
                out.close()
                output.unlink()
            raise CommandError(str(exc)) from exc
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if out:
            with out:
                out.write(text + "\n")
            self.stderr.write(f"{count_noun(len(data['leads']), 'lead exporté', 'leads exportés')} dans {output}")
        else:
            self.stdout.write(text)
