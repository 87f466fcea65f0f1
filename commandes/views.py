"""Back-office pages of distribution (§13): Clients, Commandes, Livraisons, Lead Backlog
and Rejets. The client-facing signed rejection page lives in commandes/views_public.py."""

import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from commandes.delivery import delivery_batch_file_open, delivery_batch_resend, delivery_mail_error
from commandes.delivery_http import circuit_name, client_endpoint_resume
from commandes.models import (
    Attribution,
    AttributionStatus,
    BatchStatus,
    Client,
    Commande,
    DeliveryBatch,
    Rejection,
    RejectionReason,
    RejectionStatus,
)
from commandes.rejections import (
    RATE_PERIOD_DAYS,
    client_rejection_ceiling,
    client_rejection_rate,
    rejection_approve,
    rejection_outcome,
    rejection_refuse,
)
from commandes.services import (
    CommandeError,
    commande_closed_reason,
    commande_fills,
    commande_quota_reason,
    commande_set_active,
)
from leads.models import LeadStatus, Product
from rdz.core.backoffice import (
    StaffRequiredMixin,
    entities_from_param,
    id_param,
    light_paginate,
    posted_object_or_404,
)
from rdz.core.models import CircuitBreaker, CircuitState
from rdz.core.scoping import can_change, user_entities
from rdz.core.services import settings_get
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_today, week_start
from routing.backlog import backlog_leads, backlog_takers


class ClientListView(StaffRequiredMixin, TemplateView):
    """Clients: deliveries of the period and rejection rate against the ceiling (§16)."""

    template_name = "commandes/client_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        since = timezone.now() - datetime.timedelta(days=RATE_PERIOD_DAYS)
        clients = list(
            self.scoped(Client.objects.all())
            .annotate(
                commandes_active=Count("commandes", filter=Q(commandes__active=True), distinct=True),
            )
            .order_by("entity", "name")
        )
        pending = dict(
            Attribution.objects.filter(client__in=clients, status=AttributionStatus.PENDING)
            .order_by()
            .values("client_id")
            .annotate(n=Count("id"))
            .values_list("client_id", "n")
        )
        breakers = {b.name: b for b in self.scoped(CircuitBreaker.objects.filter(name__startswith="client-http:"))}
        rows = []
        for client in clients:
            rate = client_rejection_rate(client=client)
            ceiling = client_rejection_ceiling(client=client)
            last_batch = client.batches.order_by("-date").first()
            breaker = breakers.get(circuit_name(client))
            rows.append(
                {
                    "client": client,
                    "paused": breaker is not None and breaker.state == CircuitState.OPEN,
                    "rate": rate,
                    "ceiling": ceiling,
                    "over": rate.delivered and rate.percent > ceiling,
                    "pending": pending.get(client.pk, 0),
                    "last_batch": last_batch,
                }
            )
        context.update(rows=rows, days=RATE_PERIOD_DAYS, since=since)
        return context

    def post(self, request):
        """Put a paused HTTP endpoint back in service (circuit breaker, §16)."""
        client = posted_object_or_404(self.scoped(Client.objects.all()), request, "client")
        count = client_endpoint_resume(client=client, actor=request.user)
        messages.success(
            request,
            f"Point d'accès de {client.name} remis en service "
            f"({count_noun(count, 'envoi relancé', 'envois relancés')}).",
        )
        return redirect("backoffice-clients")


class CommandeListView(StaffRequiredMixin, TemplateView):
    """Commandes: fill of the week and OPEN, or why not (§5)."""

    template_name = "commandes/commande_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        qs = self.scoped(Commande.objects.select_related("client", "product")).order_by(
            "entity", "-active", "-priority", "pk"
        )
        only = id_param(self.request.GET.get("id"))
        if only is not None:
            qs = qs.filter(pk=only)
        client = id_param(self.request.GET.get("client"))
        if client is not None:
            qs = qs.filter(client_id=client)
        state = self.request.GET.get("etat", "")
        if state == "actives":
            qs = qs.filter(active=True)
        commandes = list(qs)
        today = paris_today()
        fills = commande_fills(commande_ids=[c.pk for c in commandes])
        rows = []
        for c in commandes:
            fill = fills[c.pk]
            reason = commande_closed_reason(c, today=today) or commande_quota_reason(c, fill)
            rows.append(
                {
                    "commande": c,
                    "fill": fill,
                    "percent": round(100 * fill.week / c.weekly_quota) if c.weekly_quota else 0,
                    "open": reason is None,
                    "reason": reason,
                }
            )
        context.update(rows=rows, week=week_start(today), state=state)
        return context

    def post(self, request):
        commande = posted_object_or_404(self.scoped(Commande.objects.all()), request, "commande")
        commandes = self.scoped(Commande.objects.all()).filter(pk=commande.pk)
        action = request.POST.getlist("active")
        if action not in (["0"], ["1"]):
            # Anything but the button's own value used to deactivate: a commande stops receiving leads.
            messages.error(request, "Action inconnue : rien n'a été modifié.")
            return redirect("backoffice-commandes")
        active = action == ["1"]
        commande_set_active(commandes=commandes, active=active, actor=request.user)
        messages.success(request, "Commande activée." if active else "Commande désactivée.")
        return redirect("backoffice-commandes")


class DeliveryListView(StaffRequiredMixin, TemplateView):
    """Livraisons: the daily CSV batches (§10), with re-send."""

    template_name = "commandes/delivery_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        qs = self.scoped(DeliveryBatch.objects.select_related("client")).order_by("-date", "client__name")
        status = self.request.GET.get("statut", "")
        if status in BatchStatus.values:
            qs = qs.filter(status=status)
        client = self.request.GET.get("client", "")
        if (client_id := id_param(client)) is not None:
            qs = qs.filter(client_id=client_id)
        context["page"] = light_paginate(qs, self.request.GET.get("page"))
        context["statuses"] = BatchStatus.choices
        context["status"] = status
        context["clients"] = self.scoped(Client.objects.all()).order_by("name")
        context["client"] = client
        context["pending"] = (
            self.scoped(Attribution.objects.filter(status=AttributionStatus.PENDING))
            .order_by()
            .values("client__name", "entity")
            .annotate(n=Count("id"))
            .order_by("-n")[:20]
        )
        return context

    def post(self, request):
        batch = posted_object_or_404(self.scoped(DeliveryBatch.objects.select_related("client")), request, "batch")
        try:
            refusal = delivery_batch_resend(batch=batch, actor=request.user)
        except CommandeError as exc:
            messages.error(request, str(exc))
        except Exception as exc:  # SMTP failure: shown to staff, nothing changed
            messages.error(request, f"Le renvoi a échoué : {delivery_mail_error(exc)}.")
        else:
            messages.success(request, f"Lot du {batch.date:%d/%m/%Y} renvoyé à {batch.client.name}.")
            if refusal:
                messages.warning(
                    request, f"Renvoi incomplet : {refusal}. Corrigez les adresses de livraison du client."
                )
        return redirect("backoffice-deliveries")


class DeliveryDownloadView(StaffRequiredMixin, View):
    """The stored CSV of a batch, as it was sent (§10: a batch can be downloaded)."""

    def get(self, request, pk: int):
        try:
            return batch_file_response(self.scoped(DeliveryBatch.objects.all()), pk, user=request.user)
        except (CommandeError, PermissionDenied) as exc:  # read-only account, or file not on this server
            messages.error(request, str(exc))
            return redirect("backoffice-deliveries")


BATCH_DOWNLOAD_READ_ONLY = "Votre compte est en lecture seule : le CSV envoyé contient les liens de rejet du client."


def batch_file_response(batches, pk: int, *, user) -> FileResponse:
    """The stored CSV of batch `pk` among `batches` (already scoped to the account), as it
    was sent; 404 when it is not there or has no file, CommandeError when its file is not on
    this server. Also the delivery admin's download.

    Refused to read-only accounts (PermissionDenied): the CSV as sent carries the client's
    signed rejection links (§10), so whoever holds it can reject the batch's leads."""
    if not can_change(user):
        raise PermissionDenied(BATCH_DOWNLOAD_READ_ONLY)
    batch = batches.filter(pk=pk).first()
    if batch is None or not batch.file:
        raise Http404("Lot introuvable.")
    stored = delivery_batch_file_open(batch=batch)
    return FileResponse(stored, as_attachment=True, filename=batch.file.name.rsplit("/", 1)[-1])


class BacklogView(StaffRequiredMixin, TemplateView):
    """Lead Backlog (routing.backlog): counts by product and departement, and the commandes that take it."""

    template_name = "commandes/backlog.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entities = entities_from_param(self.request, self.request.GET.get("entity"))
        age = settings_get().backlog_age_days
        leads = self.scoped(backlog_leads(age_days=age), entities=entities)
        counts = list(leads.order_by().values("product_id", "departement", "status").annotate(n=Count("id")))
        products = dict(Product.objects.values_list("pk", "code"))
        by_product: dict[str, dict] = {}
        departements: set[str] = set()
        for row in counts:
            code = products.get(row["product_id"], "?")
            entry = by_product.setdefault(code, {"total": 0, "by_dep": {}, "by_status": {}})
            entry["total"] += row["n"]
            entry["by_dep"][row["departement"]] = entry["by_dep"].get(row["departement"], 0) + row["n"]
            entry["by_status"][row["status"]] = entry["by_status"].get(row["status"], 0) + row["n"]
            departements.add(row["departement"])
        deps = sorted(departements)
        table = [
            {
                "product": code,
                "total": e["total"],
                "cells": [e["by_dep"].get(d, 0) for d in deps],
                "by_status": e["by_status"],
            }
            for code, e in sorted(by_product.items())
        ]
        takers = self.scoped(backlog_takers().select_related("client", "product"), entities=entities)
        context.update(
            departements=deps,
            table=table,
            total=sum(r["total"] for r in table),
            age=age,
            takers=takers,
            status_labels=dict(LeadStatus.choices),
        )
        return context


class RejectionListView(StaffRequiredMixin, TemplateView):
    """Rejets: every rejection with its reason and state; pending ones are approved or refused here."""

    template_name = "commandes/rejection_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        qs = self.scoped(Rejection.objects.select_related("client", "attribution__lead", "created_by", "decided_by"))
        status = self.request.GET.get("statut", "")
        if status in RejectionStatus.values:
            qs = qs.filter(status=status)
        reason = self.request.GET.get("motif", "")
        if reason in RejectionReason.values:
            qs = qs.filter(reason=reason)
        context["page"] = light_paginate(qs.order_by("-created_at", "-id"), self.request.GET.get("page"))
        context.update(
            statuses=RejectionStatus.choices,
            reasons=RejectionReason.choices,
            status=status,
            reason=reason,
            pending_count=self.scoped(Rejection.objects.filter(status=RejectionStatus.PENDING)).count(),
            # A lead that crossed entities (§7.3) has its page in its own entity only (§2).
            lead_entities=user_entities(self.request.user),
        )
        return context

    def post(self, request):
        rejection = posted_object_or_404(self.scoped(Rejection.objects.all()), request, "rejection")
        decision = request.POST.get("decision")
        try:
            if decision == "approve":
                rejection = rejection_approve(rejection=rejection, actor=request.user)
                messages.success(request, f"Rejet approuvé : {rejection_outcome(rejection=rejection)}.")
            elif decision == "refuse":
                rejection_refuse(rejection=rejection, actor=request.user)
                messages.success(request, "Rejet refusé : le lead reste livré.")
            else:
                messages.error(request, "Décision inconnue.")
        except CommandeError as exc:
            messages.error(request, str(exc))
        # Back to the list as it was filtered (« À approuver »…): the form posts to the page's URL.
        kept = {
            key: value
            for key in ("statut", "motif", "page")
            if (value := request.GET.get(key, "")) and (key != "page" or value.isdigit())
        }
        return redirect(reverse("backoffice-rejections") + (f"?{urlencode(kept)}" if kept else ""))
