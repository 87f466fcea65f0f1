from django.contrib import admin, messages

from commandes.models import Attribution, Client, Commande
from commandes.services import commande_set_active
from rdz.core.admin_mixins import EntityScopedAdmin


@admin.register(Client)
class ClientAdmin(EntityScopedAdmin):
    list_display = ("name", "entity", "active", "api_url", "created_at")
    list_filter = ("entity", "active")
    search_fields = ("name",)


@admin.register(Commande)
class CommandeAdmin(EntityScopedAdmin):
    list_display = (
        "__str__",
        "entity",
        "product",
        "weekly_quota",
        "daily_cap",
        "priority",
        "active",
        "accepts_backlog",
    )
    list_filter = ("entity", "active", "product", "accepts_backlog")
    search_fields = ("name", "client__name")
    list_select_related = ("client", "product")
    actions = ["activate", "deactivate"]

    @admin.action(description="Activer les commandes sélectionnées")
    def activate(self, request, queryset):
        n = commande_set_active(commandes=queryset, active=True, actor=request.user)
        self.message_user(request, f"{n} commande(s) activée(s).", level=messages.SUCCESS)

    @admin.action(description="Désactiver les commandes sélectionnées")
    def deactivate(self, request, queryset):
        n = commande_set_active(commandes=queryset, active=False, actor=request.user)
        self.message_user(request, f"{n} commande(s) désactivée(s).", level=messages.SUCCESS)


@admin.register(Attribution)
class AttributionAdmin(EntityScopedAdmin):
    list_display = ("created_at", "lead", "client", "commande", "entity", "is_backlog", "status", "delivered_at")
    list_filter = ("entity", "status", "is_backlog", "product", ("created_at", admin.DateFieldListFilter))
    search_fields = ("phone", "client__name")
    list_select_related = ("lead", "client", "commande__client", "commande__product")
    readonly_fields = [f.name for f in Attribution._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
