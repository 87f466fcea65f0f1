"""`manage.py rgpd_export --phone … | --email …` — everything RDZ holds about a person, as JSON (§16)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.services_rgpd import RgpdError, rgpd_export


class Command(BaseCommand):
    help = "Exporte en JSON toutes les données détenues sur une personne (droit d'accès RGPD)."

    def add_arguments(self, parser):
        parser.add_argument("--phone", help="Numéro de téléphone, tout format français.")
        parser.add_argument("--email", help="Adresse e-mail.")
        parser.add_argument("--output", type=Path, help="Fichier de sortie (défaut : la sortie standard).")

    def handle(self, *args, **options):
        if not options["phone"] and not options["email"]:
            raise CommandError("Indiquez --phone ou --email (ou les deux).")
        try:
            data = rgpd_export(phone=options["phone"], email=options["email"])
        except RgpdError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if options["output"]:
            options["output"].write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"{len(data['leads'])} lead(s) exporté(s) dans {options['output']}")
        else:
            self.stdout.write(text)
