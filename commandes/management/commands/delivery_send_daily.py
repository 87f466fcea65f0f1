import datetime

from django.core.management.base import BaseCommand, CommandError

from commandes.delivery import delivery_send_daily
from commandes.models import Client
from rdz.core.timeutils import DATE_OUT_OF_RANGE, date_in_range, paris_today


class Command(BaseCommand):
    help = (
        "Envoie maintenant l'e-mail CSV quotidien (§10) : un lot par client avec ses leads non livrés. "
        "Sans effet pour un client déjà servi ce jour-là. / Send the daily CSV e-mail now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="Jour de livraison AAAA-MM-JJ (défaut : aujourd'hui, Europe/Paris)")
        parser.add_argument("--client", type=int, help="Identifiant d'un client (défaut : tous les clients)")

    def handle(self, *args, date=None, client=None, **options):
        day = None
        if date:
            try:
                day = datetime.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(f"Date invalide « {date} » : format attendu AAAA-MM-JJ.") from exc
            if not date_in_range(day):
                raise CommandError(f"« {date} » : {DATE_OUT_OF_RANGE}")
            if day > paris_today():
                # That day's batch would be marked sent now: its scheduled e-mail would skip the client.
                raise CommandError(
                    f"« {date} » est dans le futur : un envoi ne peut porter que sur aujourd'hui ou un jour passé."
                )
        if client is not None and not Client.objects.filter(pk=client).exists():
            raise CommandError(f"Client {client} introuvable.")
        report = delivery_send_daily(day=day, client_id=client)
        self.stdout.write(report.summary())
        if report.failed:
            self.stderr.write(f"Lots en échec (nouvel essai automatique) : {', '.join(map(str, report.failed))}")
