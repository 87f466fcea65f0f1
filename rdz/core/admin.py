from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.text import Truncator

from rdz.core import admin_beat  # noqa: F401 - registers the beat schedules' admin
from rdz.core.accounts import staff_account_change_record, staff_account_state, staff_sessions_end
from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyAdminMixin, RoleAdminMixin, SafeChangelistMixin
from rdz.core.entities import ALL_ENTITIES
from rdz.core.forms import AppSettingsAdminForm, settings_fields_hidden
from rdz.core.models import (
    Alert,
    AppSettings,
    AuditLog,
    CircuitBreaker,
    EntityScope,
    OutboxItem,
    SettingsAudit,
    StaffProfile,
)
from rdz.core.scoping import can_change, is_account_admin, user_entities
from rdz.core.selectors import settings_audits_visible
from rdz.core.services import audit_log, circuit_label, circuit_reset, settings_get, settings_update
from rdz.core.text import count_noun

User = get_user_model()


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    min_num = 1  # an account without a profile sees nothing and vanishes from its admin's list
    verbose_name_plural = "entités et rôle"

    # Account admins have no Django model permissions: roles decide (rdz.core.scoping).
    def has_view_permission(self, request, obj=None):
        return is_account_admin(request.user)

    has_add_permission = has_change_permission = has_view_permission

    def get_readonly_fields(self, request, obj=None):
        # As on the Comptes page: an account admin never drops its own admin role (the
        # entity could be left without anyone to manage its accounts).
        if _own_account(request, obj):
            return ("role",)
        return super().get_readonly_fields(request, obj)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        # An account admin hands out only its own entities: never the other company,
        # never "both" unless it has both (no privilege escalation, even on itself).
        if db_field.name == "scope" and not request.user.is_superuser:
            allowed = user_entities(request.user)
            kwargs["choices"] = [
                (value, label)
                for value, label in db_field.choices
                if value in allowed or (value == EntityScope.BOTH and allowed >= ALL_ENTITIES)
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


def _own_account(request, obj) -> bool:
    """The account admin's own account (superusers are not limited)."""
    return obj is not None and obj.pk == request.user.pk and not request.user.is_superuser


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(SafeChangelistMixin, BaseUserAdmin):
    """Accounts: only account admins manage them, and only within their own entities."""

    inlines = [StaffProfileInline]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_superuser")

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("staff_profile")
        if request.user.is_superuser:
            return qs
        allowed = user_entities(request.user)
        scopes = [s for s in ("ZR7", "MDL") if s in allowed]
        if len(allowed) == 2:
            scopes.append("BOTH")
        return qs.filter(is_superuser=False, staff_profile__scope__in=scopes)

    def has_module_permission(self, request):
        return is_account_admin(request.user)

    has_view_permission = has_add_permission = has_change_permission = lambda self, request, obj=None: is_account_admin(
        request.user
    )

    def has_delete_permission(self, request, obj=None):
        return is_account_admin(request.user) and not _own_account(request, obj)

    # Every account change is audited, as on the Comptes page (rdz.core.accounts).
    def save_model(self, request, obj, form, change):
        if change:
            stored = User.objects.get(pk=obj.pk)
            request._account_before = staff_account_state(stored)
            if stored.is_active and not obj.is_active:
                staff_sessions_end(user=obj)
        else:
            # Every RDZ account is staff, as on the Comptes page (rdz.core.accounts): Django's
            # add form would otherwise make one that the admin refuses at login.
            obj.is_staff = True
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, entities_before = getattr(request, "_account_before", ("", frozenset()))
        staff_account_change_record(
            actor=request.user,
            user=form.instance,
            action="account_update" if change else "account_create",
            before=before,
            entities_before=entities_before,
        )

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            for entity in sorted(staff_account_state(user)[1]):
                audit_log(
                    action="account_password",
                    actor=request.user,
                    entity=entity,
                    obj=user,
                    message="Mot de passe redéfini (administration)",
                )
        return response

    def delete_model(self, request, obj):
        self.delete_queryset(request, User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        for user in queryset:
            before, entities = staff_account_state(user)
            staff_account_change_record(
                actor=request.user, user=user, action="account_delete", before=before, entities_before=entities
            )
        super().delete_queryset(request, queryset)

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            ro += ["is_superuser", "groups", "user_permissions"]
        if _own_account(request, obj):
            ro += ["is_active"]  # nor deactivates itself (Comptes page: same rule)
        return ro


@admin.register(AppSettings)
class AppSettingsAdmin(RoleAdminMixin, admin.ModelAdmin):
    """The singleton settings record; saves go through `settings_update` (audited)."""

    form = AppSettingsAdminForm
    # Set on the Paramètres page, which never shows them and lets only their entity's admins change them.
    exclude = ("fallback_crm_key_zr7", "fallback_crm_key_mdl")

    def get_exclude(self, request, obj=None):
        # The other entity's alert recipients are its data (§2): not even shown read-only.
        return [*self.exclude, *settings_fields_hidden(user_entities(request.user))]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The form holds global switches and both entities' settings: admins of both entities
        # only (an admin of one entity changes its own settings on the Paramètres page).
        return is_account_admin(request.user) and user_entities(request.user) >= ALL_ENTITIES

    def changelist_view(self, request, extra_context=None):
        from django.shortcuts import redirect

        obj = settings_get()
        return redirect("admin:core_appsettings_change", obj.pk)

    def save_model(self, request, obj, form, change):
        settings_update(user=request.user, changes={name: form.cleaned_data[name] for name in form.changed_data})


@admin.register(SettingsAudit)
class SettingsAuditAdmin(ReadOnlyAdminMixin, RoleAdminMixin, admin.ModelAdmin):
    list_display = ("changed_at", "author", "setting", "old_value", "new_value")
    list_filter = ("field",)

    def get_queryset(self, request):
        return super().get_queryset(request) & settings_audits_visible(user=request.user)

    @admin.display(description="par", ordering="changed_by_label")
    def author(self, obj):
        return obj.author

    @admin.display(description="paramètre", ordering="field")
    def setting(self, obj):
        return obj.field_label


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    list_display = ("created_at", "actor_label", "action", "entity", "object_type", "object_id", "message")
    list_filter = ("entity", "action")


# Alerts, breakers and outbox rows are written by the services only: a row typed by hand
# (a breaker or an alert under a name the other entity uses, an outbox row pointing at any
# lead) would pause, silence or send the other entity's work. Alerts are closed on the
# Alertes page, breakers by the audited action below.
@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    list_display = ("created_at", "entity", "kind", "message", "state", "cleared_at")
    list_filter = ("entity", "state", "kind")


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    list_display = (
        "endpoint",
        "entity",
        "state",
        "consecutive_failures",
        "opened_at",
        "next_probe_at",
        "last_error_short",
    )
    list_filter = ("entity", "state")
    actions = ["resume"]

    fields = ("endpoint", "name", "entity", "state", "consecutive_failures", "opened_at", "next_probe_at", "last_error")
    readonly_fields = ("endpoint",)

    @admin.display(description="point d'accès", ordering="name")
    def endpoint(self, obj: CircuitBreaker) -> str:
        return circuit_label(obj.name)

    @admin.display(description="dernière erreur")
    def last_error_short(self, obj: CircuitBreaker) -> str:
        return Truncator(obj.last_error).chars(120) or "—"

    def has_resume_permission(self, request) -> bool:
        return can_change(request.user)

    @admin.action(description="Remettre en service (fermer le disjoncteur)", permissions=["resume"])
    def resume(self, request, queryset):
        names = list(queryset.values_list("name", flat=True))  # already scoped to the account's entities
        total = sum(circuit_reset(name=name, user=request.user) for name in names)
        self.message_user(
            request,
            f"{count_noun(len(names), 'disjoncteur fermé', 'disjoncteurs fermés')} ; "
            f"{count_noun(total, 'envoi en pause relancé', 'envois en pause relancés')}.",
            messages.SUCCESS,
        )


@admin.register(OutboxItem)
class OutboxItemAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    list_display = ("created_at", "kind", "ref", "entity", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("entity", "kind", "status")
    search_fields = ("ref",)
