from django.core.management.base import BaseCommand, CommandError

from routing.backlog import backlog_recycle


class Command(BaseCommand):
    help = (
        "Propose le Lead Backlog aux commandes ouvertes qui l'acceptent (quotas et règle des 30 jours "
        "appliqués, §10). / Recycle the Lead Backlog now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=5000, help="Nombre maximal de leads examinés")

    def handle(self, *args, limit, **options):
        if limit < 1:
            raise CommandError(f"--limit {limit} : un nombre de leads d'au moins 1 est attendu.")
        report = backlog_recycle(limit=limit)
        self.stdout.write(report.summary())
