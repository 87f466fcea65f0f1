"""Admin side of entity scoping (§2): every model admin of a scoped model uses
`EntityScopedAdmin`, which filters querysets, foreign-key choices and entity choices
through `rdz.core.scoping`, and maps roles to admin permissions."""

from collections import Counter

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import NestedObjects
from django.db import models, router
from django.db.models.constants import LOOKUP_SEP
from django.utils.formats import number_format

from rdz.core.forms import SafeJSONField
from rdz.core.scoping import can_change, entity_field, scope_queryset, user_entities, user_role

# Date-part lookups a list URL may carry (the date hierarchy's, or typed by hand), with the
# values Python's dates accept: year 0 or 99999 would fail while the list is computed (a 500).
DATE_PART_RANGES = {"__year": (1, 9998), "__month": (1, 12), "__day": (1, 31)}


class SafeChangelistMixin:
    """Out-of-range date parts in a list URL (`?created_at__year=0`), and ids no database
    integer holds (`?product__exact=99999999999999999999`, which SQLite cannot even bind),
    get Django's answer to any wrong list parameter — the list again with « ?e=1 » —
    instead of a server error."""

    def get_changelist_instance(self, request):
        for key, value in request.GET.items():
            for suffix, (low, high) in DATE_PART_RANGES.items():
                if key.endswith(suffix) and not (value.isascii() and value.isdigit() and low <= int(value) <= high):
                    raise IncorrectLookupParameters(f"{key}={value[:20]}")
        try:
            return super().get_changelist_instance(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(str(exc)) from exc


class RoleAdminMixin(SafeChangelistMixin):
    """Staff with a profile may use the admin; viewers read, managers and admins write.

    A URL typed without its scheme (a client's delivery endpoint) is taken as https. JSON
    fields refuse the characters no database column can hold (`SafeJSONField`).
    """

    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"form_class": SafeJSONField},
    }
    # Fields never shown in full: a credential, or what names the other entity's data.
    masked_fields: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request=None):
        # As Django's UserAdmin does for passwords: a list filtered on a masked field
        # (« ?crm_api_key__startswith=a ») answers found / not found to each guess, and so
        # spells the value out one character at a time to anyone who may read the list.
        # The same goes for the annotations of a list's queryset (named « _… » here): they
        # feed its columns, which may mask them (the other entity's client a lead went to).
        first = lookup.split(LOOKUP_SEP, 1)[0]
        if first in self.masked_fields or first.startswith("_"):
            return False
        return super().lookup_allowed(lookup, value, request)

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

    def get_deleted_objects(self, objs, request):
        """Django lists rows that block a deletion (PROTECT: a commande's attributions, a
        client's commandes) among the types the account may not delete, so the page said a
        right was missing, even to a superuser, as if those rows would go with the object.
        Nobody may delete them: the page says so instead, with their count per type (not
        thousands of links), and how to stop using the object."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if not protected:
            return deleted, model_count, perms_needed, protected
        collector = NestedObjects(using=router.db_for_write(self.model))
        collector.collect(objs)
        counts = Counter(type(obj)._meta for obj in collector.protected)
        lines = [
            f"{number_format(n, force_grouping=True)} {opts.verbose_name_plural if n > 1 else opts.verbose_name}"
            for opts, n in sorted(counts.items(), key=lambda item: str(item[0].verbose_name))
        ]
        lines.append(
            "Ces lignes ne sont jamais supprimées : elles gardent l'historique des leads, les quotas et les livraisons."
        )
        active = next((f for f in self.model._meta.fields if f.name == "active"), None)
        if active is not None:
            lines.append(f"Pour ne plus l'utiliser, décochez « {active.verbose_name} » sur sa fiche.")
        return deleted, model_count, set(), lines


class ReadOnlyAdminMixin:
    """Records written only by services (logs, audits, attempts): nobody edits them by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _object_entity(obj) -> str:
    value = obj
    for part in entity_field(type(obj)).split("__"):
        value = getattr(value, part, None)
    return value if isinstance(value, str) else ""


class EntityScopedAdmin(RoleAdminMixin, admin.ModelAdmin):
    """Also writes each add, change and delete made in the admin to RDZ's audit log, with the
    object's entity (a quota raised, a client's endpoint changed, a form deleted): Django's own
    history sits on each object's page only, and goes with the object when it is deleted."""

    # False where the admin's saves and deletes already go through audited services.
    audit_admin_changes = True

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def _audit(self, request, obj, action: str, message: str) -> None:
        from rdz.core.services import audit_log

        if not self.audit_admin_changes:
            return
        label = f"{obj._meta.verbose_name} « {str(obj)[:150]} »"
        audit_log(
            action=action, actor=request.user, entity=_object_entity(obj), obj=obj, message=f"{label} : {message}"
        )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "admin_add", "ajouté dans l'administration.")
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        text = entry.get_change_message() if entry is not None else ""
        self._audit(request, obj, "admin_change", text or "modifié dans l'administration.")
        return entry

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "admin_delete", "supprimé dans l'administration.")
        return super().log_deletions(request, queryset)

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

    def has_view_permission(self, request, obj=None):
        # Roles decide (rdz.core.scoping), not Django's model permissions, which no role
        # grants: without this only superusers saw these lists.
        return user_role(request.user) is not None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if not isinstance(f, models.AutoField)]
