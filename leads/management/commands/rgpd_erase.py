"""`manage.py rgpd_erase --phone … | --email …` — answer an erasure request in one command (§16)."""

from django.core.management.base import BaseCommand, CommandError

from leads.services_rgpd import RgpdError, rgpd_erase
from rdz.core.text import count_noun


class Command(BaseCommand):
    help = (
        "Efface (anonymise) toutes les données d'une personne — leads, chronologie, attributions, lots CSV, "
        "journaux CRM — en gardant les compteurs, et ajoute son numéro à la liste d'opposition. "
        "Agit sur les deux entités, ZR7 et MDL : une personne est la même pour les deux sociétés."
    )

    def add_arguments(self, parser):
        parser.add_argument("--phone", help="Numéro de téléphone, tout format français.")
        parser.add_argument("--email", help="Adresse e-mail.")

    def handle(self, *args, **options):
        if not options["phone"] and not options["email"]:
            raise CommandError("Indiquez --phone ou --email (ou les deux).")
        try:
            result = rgpd_erase(phone=options["phone"], email=options["email"])
        except RgpdError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{result.summary()} ; {count_noun(result.opposition, 'numéro')} sur la liste d'opposition "
            f"({count_noun(result.opposition_added, 'ajout')})."
        )
