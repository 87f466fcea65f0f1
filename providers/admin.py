from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html
from rest_framework_api_key.models import APIKey

from providers.models import Provider, ProviderAPIKey
from providers.services import ProviderError, provider_rotate_key, provider_slug_clean
from rdz.core.admin_mixins import EntityScopedAdmin

# The library's own key model is not used: provider keys are ProviderAPIKey, rotated from
# the provider's page. Its admin would offer keys that open nothing.
admin.site.unregister(APIKey)


class ProviderAdminForm(forms.ModelForm):
    def clean_slug(self):
        try:
            return provider_slug_clean(slug=self.cleaned_data["slug"], provider=self.instance)
        except ProviderError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Provider)
class ProviderAdmin(EntityScopedAdmin):
    form = ProviderAdminForm
    list_display = ("name", "slug", "entity", "active", "key_prefix", "lead_count", "created_at")
    list_filter = ("entity", "active", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "slug")
    actions = ["rotate_key"]

    # Explicit: with the count annotation (GROUP BY) the model's ordering no longer applies,
    # and the autocomplete would page an unordered list.
    ordering = ("name", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_lead_count=Count("leads", distinct=True))

    @admin.display(description="clé active (préfixe)")
    def key_prefix(self, obj: Provider) -> str:
        key = obj.api_keys.filter(revoked=False).order_by("-created").first()
        return f"{key.prefix}…" if key else "aucune"

    @admin.display(description="leads", ordering="_lead_count")
    def lead_count(self, obj: Provider) -> int:
        return getattr(obj, "_lead_count", 0)

    def get_readonly_fields(self, request, obj=None):
        # A provider's entity decides where its locked leads go: fixed once created.
        return ("entity", "created_at") if obj else ("created_at",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            key = provider_rotate_key(provider=obj, actor=request.user)
            self._show_key(request, obj, key)

    @admin.action(description="Générer une nouvelle clé API (l'ancienne cesse de fonctionner)", permissions=["change"])
    def rotate_key(self, request, queryset):
        for provider in queryset:
            key = provider_rotate_key(provider=provider, actor=request.user)
            self._show_key(request, provider, key)

    def _show_key(self, request, provider, key):
        self.message_user(
            request,
            format_html(
                "Nouvelle clé API de <strong>{}</strong> (affichée une seule fois, copiez-la maintenant) : <code>{}</code>",
                provider.slug,
                key,
            ),
            level=messages.WARNING,
        )


class RevokedFilter(admin.SimpleListFilter):
    title = "statut de la clé"
    parameter_name = "revoquee"

    def lookups(self, request, model_admin):
        return [("non", "active"), ("oui", "révoquée")]

    def queryset(self, request, queryset):
        if self.value() in ("oui", "non"):
            return queryset.filter(revoked=self.value() == "oui")
        return queryset


@admin.register(ProviderAPIKey)
class ProviderAPIKeyAdmin(EntityScopedAdmin):
    """Keys are listed by prefix only (the key itself is never stored); the library's
    field labels are English, hence the French display columns."""

    list_display = ("provider", "key_prefix", "created_at", "is_revoked", "expires_at")
    list_filter = (RevokedFilter,)
    list_select_related = ("provider",)
    fields = readonly_fields = ("provider", "key_prefix", "created_at", "is_revoked", "expires_at")

    @admin.display(description="préfixe")
    def key_prefix(self, obj: ProviderAPIKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="créée le", ordering="created")
    def created_at(self, obj: ProviderAPIKey):
        return obj.created

    @admin.display(description="révoquée", boolean=True, ordering="revoked")
    def is_revoked(self, obj: ProviderAPIKey) -> bool:
        return obj.revoked

    @admin.display(description="expire le")
    def expires_at(self, obj: ProviderAPIKey):
        return obj.expiry_date or "—"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
