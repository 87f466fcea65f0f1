from django.contrib import admin

from leads.models import Lead, LeadEvent, OppositionEntry, Product, ProductField
from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyInline, RoleAdminMixin


class ProductFieldInline(admin.TabularInline):
    model = ProductField
    extra = 0


@admin.register(Product)
class ProductAdmin(RoleAdminMixin, admin.ModelAdmin):
    list_display = ("code", "label", "active")
    list_filter = ("active",)
    search_fields = ("code", "label")
    inlines = [ProductFieldInline]


class LeadEventInline(ReadOnlyInline):
    model = LeadEvent
    fields = ("created_at", "kind", "message", "actor")
    readonly_fields = fields
    verbose_name = "étape"
    verbose_name_plural = "chronologie"
    ordering = ("created_at", "id")


@admin.register(Lead)
class LeadAdmin(EntityScopedAdmin):
    list_display = (
        "created_at",
        "phone",
        "first_name",
        "last_name",
        "entity",
        "product",
        "departement",
        "source",
        "status",
    )
    list_filter = (
        "entity",
        "status",
        "product",
        "entity_locked",
        "crm_status",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("phone", "email", "first_name", "last_name", "=id", "external_id")
    date_hierarchy = "created_at"
    list_select_related = ("product",)
    show_full_result_count = False
    inlines = [LeadEventInline]
    readonly_fields = [
        "id",
        "entity",
        "entity_locked",
        "product",
        "phone",
        "email",
        "first_name",
        "last_name",
        "departement",
        "source",
        "provider",
        "form",
        "extra",
        "consent",
        "ip",
        "user_agent",
        "created_at",
        "status",
        "external_id",
        "idempotency_key",
        "visitor_id",
        "variant",
        "crm_status",
        "crm_attempts",
        "crm_last_error",
        "crm_target",
        "consent_at",
        "consent_page_url",
        "consent_text_version",
        "legacy_id",
        "anonymized_at",
    ]

    def has_add_permission(self, request, obj=None):
        # Leads enter through intake (API, forms, import), never typed into the admin.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OppositionEntry)
class OppositionEntryAdmin(RoleAdminMixin, admin.ModelAdmin):
    list_display = ("phone", "reason", "source", "created_at")
    search_fields = ("phone",)
    list_filter = ("source",)


# Landing forms and tracking (§11) live in their own module.
from leads import admin_forms  # noqa: E402, F401
