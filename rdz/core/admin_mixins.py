"""Admin side of entity scoping (§2): every model admin of a scoped model uses
`EntityScopedAdmin`, which filters querysets, foreign-key choices and entity choices
through `rdz.core.scoping`, and maps roles to admin permissions."""

from django.contrib import admin
from django.db import models

from rdz.core.forms import SafeJSONField
from rdz.core.scoping import can_change, scope_queryset, user_entities, user_role


class RoleAdminMixin:
    """Staff with a profile may use the admin; viewers read, managers and admins write.

    A URL typed without its scheme (a client's delivery endpoint) is taken as https. JSON
    fields refuse the characters no database column can hold (`SafeJSONField`).
    """

    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"form_class": SafeJSONField},
    }

    def has_module_permission(self, request):
        return user_role(request.user) is not None

    def has_view_permission(self, request, obj=None):
        return user_role(request.user) is not None

    def has_add_permission(self, request, obj=None):
        return can_change(request.user)

    def has_change_permission(self, request, obj=None):
        return can_change(request.user)

    def has_delete_permission(self, request, obj=None):
        return can_change(request.user)


class ReadOnlyAdminMixin:
    """Records written only by services (logs, audits, attempts): nobody edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EntityScopedAdmin(RoleAdminMixin, admin.ModelAdmin):
    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if hasattr(related, "ENTITY_FIELD"):
            kwargs["queryset"] = scope_queryset(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "entity":
            allowed = user_entities(request.user)
            kwargs["choices"] = [(v, label) for v, label in db_field.choices if v in allowed]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if not isinstance(f, models.AutoField)]
