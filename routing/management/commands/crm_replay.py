"""Replay CRM forwardings (§11) of form leads created over a date range."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from leads.models import CrmStatus
from rdz.core.text import count_noun
from rdz.core.timeutils import DATE_OUT_OF_RANGE, date_in_range, paris_day_bounds
from routing.crm import crm_forward_replay


def _date(value: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Date invalide : « {value} » (format AAAA-MM-JJ).") from exc
    if not date_in_range(day):
        raise CommandError(f"« {value} » : {DATE_OUT_OF_RANGE}")
    return day


class Command(BaseCommand):
    help = (
        "Retransmet aux CRM les leads de formulaire en échec créés entre deux dates (jours de Paris, bornes "
        "incluses), en repartant du CRM cible du formulaire."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="Premier jour, AAAA-MM-JJ")
        parser.add_argument("--to", dest="date_to", required=True, help="Dernier jour, AAAA-MM-JJ")
        parser.add_argument(
            "--include-pending", action="store_true", help="Relancer aussi les transmissions restées en attente"
        )
        parser.add_argument("--dry-run", action="store_true", help="Compter sans rien relancer")

    def handle(self, *args, date_from, date_to, include_pending, dry_run, **options):
        first, last = _date(date_from), _date(date_to)
        if first > last:
            raise CommandError("--from doit précéder --to.")
        statuses = (CrmStatus.FAILED, CrmStatus.PENDING) if include_pending else (CrmStatus.FAILED,)
        count = crm_forward_replay(
            created_from=paris_day_bounds(first)[0],
            created_to=paris_day_bounds(last)[1],
            statuses=statuses,
            dry_run=dry_run,
            reason="relance manuelle (crm_replay)",
        )
        if dry_run:
            done = count_noun(count, "transmission CRM serait relancée", "transmissions CRM seraient relancées")
        else:
            done = count_noun(count, "transmission CRM relancée", "transmissions CRM relancées")
        self.stdout.write(f"{done} du {first:%d/%m/%Y} au {last:%d/%m/%Y}.")
