"""Back-office page of providers (§9): activity and silence at a glance."""

import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone
from django.views.generic import TemplateView

from leads.models import Lead
from providers.models import Provider
from rdz.core.backoffice import StaffRequiredMixin
from rdz.core.services import settings_get


class ProviderListView(StaffRequiredMixin, TemplateView):
    template_name = "providers/provider_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        providers = list(self.scoped(Provider.objects.all()).order_by("entity", "name"))
        stats = {
            row["provider_id"]: row
            for row in Lead.objects.filter(provider__in=providers, created_at__gte=now - datetime.timedelta(days=30))
            .order_by()
            .values("provider_id")
            .annotate(
                day=Count("id", filter=Q(created_at__gte=now - datetime.timedelta(hours=24))),
                week=Count("id", filter=Q(created_at__gte=now - datetime.timedelta(days=7))),
                month=Count("id"),
            )
        }
        last = dict(
            Lead.objects.filter(provider__in=providers)
            .order_by()
            .values("provider_id")
            .annotate(last=Max("created_at"))
            .values_list("provider_id", "last")
        )
        silence = datetime.timedelta(hours=settings_get().alert_silence_hours)
        rows = []
        for p in providers:
            s = stats.get(p.pk, {})
            seen = last.get(p.pk)
            rows.append(
                {
                    "provider": p,
                    "day": s.get("day", 0),
                    "week": s.get("week", 0),
                    "month": s.get("month", 0),
                    "last": seen,
                    "silent": p.active and (seen or p.created_at) < now - silence,
                    "keys": p.api_keys.filter(revoked=False).count(),
                }
            )
        context["rows"] = rows
        context["silence_hours"] = int(silence.total_seconds() // 3600)
        return context
