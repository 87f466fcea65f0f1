from django.contrib import admin

from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyAdminMixin
from routing.models import CrmAttempt


@admin.register(CrmAttempt)
class CrmAttemptAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    """What was sent to the CRMs and what they answered (§11), read-only."""

    list_display = ("created_at", "lead", "crm", "phase", "attempt", "outcome", "status_code", "duration_ms")
    list_filter = ("crm", "phase", "outcome")
    search_fields = ("=lead__id", "lead__phone")
    date_hierarchy = "created_at"
    list_select_related = ("lead",)
    show_full_result_count = False
    readonly_fields = [
        "lead",
        "crm",
        "phase",
        "attempt",
        "url",
        "request_body",
        "status_code",
        "response_body",
        "error",
        "outcome",
        "duration_ms",
        "created_at",
    ]
