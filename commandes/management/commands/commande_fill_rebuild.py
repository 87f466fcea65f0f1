from django.core.management.base import BaseCommand, CommandError

from commandes.services import commande_fill_rebuild
from rdz.core.text import count_noun


class Command(BaseCommand):
    help = (
        "Compare les compteurs de remplissage des commandes aux attributions et les reconstruit "
        "s'ils divergent (après une restauration sans triggers). / Check and rebuild the quota counters."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Vérifier seulement (code de sortie 1 si écart)")

    def handle(self, *args, check: bool, **options):
        differences = commande_fill_rebuild(check_only=check)
        for commande_id, day, counted, kept in differences[:50]:
            self.stdout.write(
                f"commande #{commande_id} {day:%d/%m/%Y} : {count_noun(counted, 'attribution')}, compteur {kept}"
            )
        if not differences:
            self.stdout.write("Compteurs de remplissage exacts.")
        elif check:
            raise CommandError(
                f"{count_noun(len(differences), 'compteur faux', 'compteurs faux')} : lancez commande_fill_rebuild sans --check."
            )
        else:
            self.stdout.write(f"{count_noun(len(differences), 'compteur corrigé', 'compteurs corrigés')}.")
