from django.core.management.base import BaseCommand, CommandError

from commandes.delivery import delivery_batch_resend
from commandes.models import DeliveryBatch
from commandes.services import CommandeError


class Command(BaseCommand):
    help = "Renvoie au client le CSV d'un lot déjà envoyé. / Re-send the stored CSV of a sent batch."

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int, help="Identifiant du lot de livraison")

    def handle(self, *args, batch_id, **options):
        batch = DeliveryBatch.objects.select_related("client").filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"Lot {batch_id} introuvable.")
        try:
            refusal = delivery_batch_resend(batch=batch, actor=None)
        except CommandeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Lot {batch.pk} ({batch.client.name}, {batch.date:%d/%m/%Y}) renvoyé.")
        if refusal:
            self.stderr.write(f"Renvoi incomplet : {refusal}.")
