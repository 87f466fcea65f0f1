from django.contrib import admin

from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyAdminMixin
from rdz.core.scoping import user_entities
from routing.models import CrmAttempt

# What the CRM itself was sent and answered: its address, its field names, its record ids.
OTHER_CRM_FIELDS = ("url", "request_body", "response_body")


@admin.register(CrmAttempt)
class CrmAttemptAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    """What was sent to the CRMs and what they answered (§11), read-only."""

    list_display = ("created_at", "lead", "crm", "phase", "attempt", "outcome", "status_code", "duration_ms")
    list_filter = ("crm", "phase", "outcome")
    search_fields = ("=lead__id", "lead__phone")
    date_hierarchy = "created_at"
    list_select_related = ("lead",)
    show_full_result_count = False
    # A lead sent to the other company's CRM (a fallback, §11) stays its entity's lead, but
    # that CRM's side of the call belongs to the other company (§2).
    masked_fields = OTHER_CRM_FIELDS
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

    def get_object(self, request, object_id, from_field=None):
        attempt = super().get_object(request, object_id, from_field)
        if attempt is not None and attempt.crm not in user_entities(request.user):
            # Shown, never saved (the page is read-only).
            attempt.url = f"CRM {attempt.crm} : détail réservé à {attempt.crm}"
            attempt.request_body = {}
            attempt.response_body = f"Détail réservé à {attempt.crm}."
        return attempt
