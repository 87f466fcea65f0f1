"""Back-office pages of the leads app: lead list, lead page (timeline and routing
explanation, §16), CSV export, Formulaires, Scripts de tracking and Statistiques (§13)."""

import csv
import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from commandes.models import Rejection, RejectionReason
from commandes.rejections import rejection_create, rejection_outcome
from commandes.services import CommandeError
from leads.forms import FormPeriodForm, LeadFilterForm, PeriodForm, StaffRejectionForm
from leads.models import CrmStatus, Lead, LeadForm, LeadStatus, Product, TrackingEvent
from leads.selectors import form_stats
from leads.services import ROUTING_EVENT_KINDS, lead_timeline_visible
from leads.stats import daily_rows, rollup_ensure_today, rollup_group
from leads.views_tracking import tracking_snippet
from providers.models import Provider
from rdz.core.backoffice import StaffRequiredMixin, entities_from_param, light_paginate, query_without
from rdz.core.errors import error_response
from rdz.core.scoping import scope_queryset, user_entities
from rdz.core.text import csv_cell
from rdz.core.timeutils import paris_now, paris_today

EXPORT_HEADERS = [
    "Identifiant",
    "Reçu le",
    "Entité",
    "Produit",
    "Téléphone",
    "E-mail",
    "Prénom",
    "Nom",
    "Département",
    "Source",
    "Provider",
    "Formulaire",
    "Statut",
    "Statut CRM",
]


class LeadQueryMixin(StaffRequiredMixin):
    def filtered_leads(self):
        form = LeadFilterForm(self.request.GET or None, entities=self.entities)
        entities = entities_from_param(self.request, self.request.GET.get("entity"))
        qs = self.scoped(Lead.objects.all(), entities=entities)
        return form, form.filter(qs) if form.is_bound else qs


class LeadListView(LeadQueryMixin, TemplateView):
    template_name = "leads/lead_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, qs = self.filtered_leads()
        # -id: leads sharing a timestamp (legacy dates without a time) keep one order from page to page.
        qs = qs.select_related("product", "provider", "form").order_by("-created_at", "-id")
        context["filter_form"] = form
        context["page"] = light_paginate(qs, self.request.GET.get("page"))
        context["export_query"] = query_without(self.request, "page")
        return context


class _Echo:
    def write(self, value):
        return value


class LeadExportView(LeadQueryMixin, View):
    """The filtered list as CSV (`;`, UTF-8 with BOM, French headers), streamed."""

    def get(self, request):
        form, qs = self.filtered_leads()
        if form.is_bound and not form.is_valid():
            errors = " ".join(
                f"{form.fields[name].label if name in form.fields else ''} : {' '.join(messages)}".lstrip(" :")
                for name, messages in form.errors.items()
            )
            return error_response(request, 400, reason=f"Filtres invalides, rien n'a été exporté. {errors}")
        statuses = dict(LeadStatus.choices)
        # A lead that is not from a form has no CRM status: its cell stays empty, not « — ».
        crm_statuses = {value: label for value, label in CrmStatus.choices if value}
        rows = (
            qs.order_by("-created_at")
            .values_list(
                "id",
                "created_at",
                "entity",
                "product__code",
                "phone",
                "email",
                "first_name",
                "last_name",
                "departement",
                "source",
                "provider__name",
                "form__code",
                "status",
                "crm_status",
            )
            .iterator(chunk_size=2000)
        )
        writer = csv.writer(_Echo(), delimiter=";")

        def stream():
            yield "\ufeff" + writer.writerow(EXPORT_HEADERS)
            for r in rows:
                yield writer.writerow(
                    [
                        r[0],
                        paris_now(r[1]).strftime("%d/%m/%Y %H:%M:%S"),
                        r[2],
                        csv_cell(r[3]),
                        r[4],
                        csv_cell(r[5]),
                        csv_cell(r[6]),
                        csv_cell(r[7]),
                        r[8],
                        csv_cell(r[9]),
                        csv_cell(r[10]),
                        r[11] or "",
                        statuses.get(r[12], r[12]),
                        crm_statuses.get(r[13], r[13]),
                    ]
                )

        response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
        stamp = paris_now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response


class LeadDetailView(StaffRequiredMixin, TemplateView):
    template_name = "leads/lead_detail.html"

    def _lead(self) -> Lead:
        # Scoped on the account's entities (not the switcher) so a link always opens for a
        # lead the account may see, and is a 404 for another entity's lead.
        return get_object_or_404(
            scope_queryset(Lead.objects.select_related("product", "provider", "form"), self.request.user),
            pk=self.kwargs["pk"],
        )

    def post(self, request, pk):
        """Staff rejection of a delivered attribution (§10), on behalf of the client."""
        lead = self._lead()
        form = StaffRejectionForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(f"{form.fields[name].label or name} : {' '.join(e)}" for name, e in form.errors.items())
            messages.error(request, f"Rejet impossible. {errors}")
            return redirect("backoffice-lead", pk=lead.pk)
        attribution = get_object_or_404(
            scope_queryset(lead.attributions.all(), request.user), pk=form.cleaned_data["attribution"]
        )
        try:
            rejection = rejection_create(
                attribution=attribution,
                reason=form.cleaned_data["reason"],
                comment=form.cleaned_data["comment"],
                actor=request.user,
            )
        except CommandeError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Lead rejeté : {rejection_outcome(rejection=rejection)}.")
        return redirect("backoffice-lead", pk=lead.pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        lead = self._lead()
        attributions = scope_queryset(lead.attributions.select_related("commande", "client"), user).order_by(
            "created_at"
        )
        context["lead"] = lead
        # After a cross-entity fallback, the other entity's part is masked (§2).
        timeline = lead_timeline_visible(lead=lead, entities=user_entities(user))
        context["timeline"] = timeline
        context["attributions"] = attributions
        context["crm_attempts"] = lead.crm_log.order_by("created_at", "id")
        context["rejections"] = scope_queryset(
            Rejection.objects.filter(attribution__lead=lead).select_related("client"), user
        ).order_by("created_at")
        context["reasons"] = RejectionReason.choices
        context["hidden_attributions"] = lead.attributions.count() - attributions.count()
        context["routing"] = [
            {"event": e, "verdicts": e.data.get("commandes", []), "notes": e.data.get("notes", [])}
            for e in (row["event"] for row in timeline)
            if e.kind in ROUTING_EVENT_KINDS and isinstance(e.data, dict)
        ]
        return context


class FormListView(StaffRequiredMixin, TemplateView):
    """Formulaires: each form with its visits, starts, « terminé » (every lead created from
    it, whatever its status) and conversion over a period (§11)."""

    template_name = "leads/form_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        period = FormPeriodForm(self.request.GET)
        days = period.days()
        today = paris_today()
        start = today - datetime.timedelta(days=days - 1)
        forms = self.scoped(LeadForm.objects.select_related("product")).order_by("entity", "code")
        rows = [{"form": f, "stats": form_stats(form=f, date_from=start, date_to=today)} for f in forms]
        context.update(rows=rows, days=days, start=start, end=today, period=period)
        return context


class TrackingScriptListView(StaffRequiredMixin, TemplateView):
    """Scripts de tracking: the snippet to paste on each landing page (§11)."""

    template_name = "leads/script_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        forms = (
            self.scoped(LeadForm.objects.select_related("product"))
            .prefetch_related("product__fields")
            .order_by("entity", "code")
        )
        since = timezone.now() - datetime.timedelta(hours=24)
        last_seen = dict(
            TrackingEvent.objects.filter(form__in=forms, created_at__gte=since)
            .order_by()
            .values("form_id")
            .annotate(n=Count("id"))
            .values_list("form_id", "n")
        )
        context["rows"] = [
            {
                "form": f,
                "snippet": tracking_snippet(form=f, base_url=settings.SITE_URL),
                "events_24h": last_seen.get(f.pk, 0),
            }
            for f in forms
        ]
        context["site_url"] = settings.SITE_URL
        return context


class StatisticsView(StaffRequiredMixin, TemplateView):
    """Statistiques: the daily rollups over a period, per entity and by dimension."""

    template_name = "leads/statistics.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = paris_today()
        period = PeriodForm(self.request.GET)
        start, end = period.period(today=today)
        entities = sorted(entities_from_param(self.request, self.request.GET.get("entity")))
        if end >= today:
            rollup_ensure_today()
        rows = sorted(
            daily_rows(entities=entities, start=start, end=end), key=lambda r: (r["day"], r["entity"]), reverse=True
        )
        totals = {
            "received": 0,
            "attributed": 0,
            "rejected": 0,
            "rejections": 0,
            "rejections_pending": 0,
            "by_status": dict.fromkeys(LeadStatus.values, 0),
        }
        for r in rows:
            totals["received"] += r["received"]
            totals["attributed"] += r["attributed"]
            totals["rejected"] += r["rejected"]
            totals["rejections"] += sum(r["rejections"].values())
            totals["rejections_pending"] += r["rejections"]["pending"]
            for s, n in r["by_status"].items():
                totals["by_status"][s] = totals["by_status"].get(s, 0) + n
        user = self.request.user
        products = dict(Product.objects.values_list("pk", "code"))
        providers = dict(scope_queryset(Provider.objects.all(), user).values_list("pk", "name"))
        forms = dict(scope_queryset(LeadForm.objects.all(), user).values_list("pk", "code"))

        def breakdown(column, names=None):
            items = rollup_group(entities=entities, start=start, end=end, by=(column,))
            result = [
                ((names.get(i[column], "?") if names is not None else i[column]) or "—", i["n"])
                for i in items
                if names is None or i[column] is not None
            ]
            return sorted(result, key=lambda t: -t[1])[:15]

        context.update(
            start=start,
            end=end,
            rows=rows,
            totals=totals,
            statuses=LeadStatus.choices,
            by_product=breakdown("product_id", products),
            by_source=breakdown("source"),
            by_provider=breakdown("provider_id", providers),
            by_form=breakdown("form_id", forms),
            entity=self.request.GET.get("entity", ""),
            period=period,
            api_url=_stats_api_url(start=start, end=end, entities=entities),
        )
        return context


def _stats_api_url(*, start: datetime.date, end: datetime.date, entities: list[str]) -> str:
    """The stats API over the page's period and entities (the API does not read the switcher)."""
    query = {"from": start.isoformat(), "to": end.isoformat()}
    if len(entities) == 1:
        query["entity"] = entities[0]
    return "/api/v1/stats/daily/?" + urlencode(query)
