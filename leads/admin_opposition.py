"""Admin of products and their extra fields (§3) and of the opposition list (§16)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from leads.models import OppositionEntry, Product, ProductField, ProductFieldType
from leads.services_opposition import (
    OppositionError,
    opposition_add,
    opposition_import,
    opposition_lines_from_bytes,
    opposition_phone_normalize,
    opposition_remove,
)
from rdz.core.admin_mixins import RoleAdminMixin
from rdz.core.entities import ALL_ENTITIES
from rdz.core.forms import text_lines_check
from rdz.core.scoping import can_change, user_entities, user_role
from rdz.core.text import count_noun

MAX_LIST_BYTES = 50 * 1024 * 1024


# --- Products and their extra fields -------------------------------------------------------
class ChoicesField(forms.CharField):
    """A JSON list of choices edited as one choice per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 24})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        text_lines_check(text)
        return [line.strip() for line in text.splitlines() if line.strip()]


class ProductFieldForm(forms.ModelForm):
    choices = ChoicesField(label="choix possibles", required=False, help_text="Un choix par ligne (type « Choix »).")

    class Meta:
        model = ProductField
        fields = ("position", "name", "label", "type", "required", "choices")
        help_texts = {"name": "Clé attendue dans « extra » : lettres, chiffres, - ou _ (ex. surface_toit)."}

    def clean(self):
        data = super().clean()
        choices = data.get("choices") or []
        if data.get("type") == ProductFieldType.CHOICE and not choices:
            self.add_error("choices", "Un champ de type « Choix » a besoin d'au moins un choix.")
        elif data.get("type") != ProductFieldType.CHOICE and choices:
            self.add_error("choices", "Les choix ne servent qu'au type « Choix » : videz-les ou changez le type.")
        if len({c.casefold() for c in choices}) != len(choices):
            self.add_error("choices", "Chaque choix ne doit apparaître qu'une fois.")
        if any(len(c) > 100 for c in choices):
            self.add_error("choices", "100 caractères au plus par choix.")
        return data


def products_changeable(user) -> bool:
    """Products serve both entities: changing one (its code, its required extra fields,
    deactivating it) changes what the other entity's providers and forms may send, so only
    accounts of both entities that may change data do."""
    return can_change(user) and user_entities(user) >= ALL_ENTITIES


class ProductChangesMixin:
    """Adding, changing and deleting a product or its extra fields: `products_changeable`."""

    def has_add_permission(self, request, obj=None):
        return products_changeable(request.user)

    def has_change_permission(self, request, obj=None):
        return products_changeable(request.user)

    def has_delete_permission(self, request, obj=None):
        return products_changeable(request.user)


class ProductFieldInline(ProductChangesMixin, admin.TabularInline):
    model = ProductField
    form = ProductFieldForm
    extra = 0
    verbose_name = "champ complémentaire"
    verbose_name_plural = "champs complémentaires demandés à l'intake (extra)"

    # Roles decide, as for the product itself (Django's model permissions are never given:
    # without this, only superusers saw the fields).
    def has_view_permission(self, request, obj=None):
        return user_role(request.user) is not None


@admin.register(Product)
class ProductAdmin(ProductChangesMixin, RoleAdminMixin, admin.ModelAdmin):
    list_display = ("code", "label", "active", "extra_fields")
    list_filter = ("active",)
    search_fields = ("code", "label")
    inlines = [ProductFieldInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("fields")

    @admin.display(description="champs complémentaires")
    def extra_fields(self, obj: Product) -> str:
        return ", ".join(f.name + ("*" if f.required else "") for f in obj.fields.all()) or "—"


# --- Opposition list --------------------------------------------------------------------------
class OppositionEntryForm(forms.ModelForm):
    class Meta:
        model = OppositionEntry
        fields = ("phone", "reason", "source")
        help_texts = {"phone": "Tout format français : 06 12 34 56 78, +33 6…, 0033…"}

    def clean_phone(self):
        try:
            phone = opposition_phone_normalize(self.cleaned_data["phone"])
        except OppositionError as exc:
            raise ValidationError(str(exc)) from exc
        if OppositionEntry.objects.filter(phone=phone).exists():
            raise ValidationError("Ce numéro est déjà sur la liste d'opposition.")
        return phone


class OppositionImportForm(forms.Form):
    file = forms.FileField(label="fichier", help_text="Un numéro par ligne, ou un CSV avec une colonne téléphone.")
    source = forms.CharField(label="source", max_length=100, initial="Bloctel")
    reason = forms.CharField(label="motif", max_length=200, required=False, initial="Liste d'opposition importée")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_LIST_BYTES:
            raise ValidationError("Fichier trop volumineux (50 Mo au plus) : utilisez la commande opposition_import.")
        return upload


@admin.register(OppositionEntry)
class OppositionEntryAdmin(RoleAdminMixin, admin.ModelAdmin):
    form = OppositionEntryForm
    list_display = ("phone", "reason", "source", "created_at")
    search_fields = ("phone", "reason")
    list_filter = ("source",)
    change_list_template = "admin/leads/oppositionentry/change_list.html"

    def has_change_permission(self, request, obj=None):
        # An entry is added or removed (both audited), never edited in place.
        return False

    def has_delete_permission(self, request, obj=None):
        # The list protects both companies' leads: removing a number (a Bloctel entry, the
        # other company's erasure request) is for accounts that see both entities. Adding
        # one only protects more, so any manager may.
        return super().has_delete_permission(request, obj) and user_entities(request.user) >= ALL_ENTITIES

    def get_search_results(self, request, queryset, search_term):
        try:
            return queryset.filter(phone=opposition_phone_normalize(search_term)), False
        except OppositionError:
            return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        entry, _ = opposition_add(
            phone=obj.phone, reason=obj.reason, source=obj.source or "back-office", actor=request.user
        )
        obj.pk = entry.pk

    def delete_model(self, request, obj):
        opposition_remove(phone=obj.phone, actor=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            opposition_remove(phone=entry.phone, actor=request.user)

    def get_urls(self):
        urls = super().get_urls()
        custom = [
            path(
                "importer/",
                self.admin_site.admin_view(self.import_view),
                name="leads_oppositionentry_import",
            )
        ]
        return custom + urls

    def import_view(self, request):
        if not can_change(request.user):
            raise PermissionDenied
        form = OppositionImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = opposition_import(
                lines=opposition_lines_from_bytes(form.cleaned_data["file"].read()),
                source=form.cleaned_data["source"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
            messages.success(request, f"Liste importée : {result.summary()}")
            for lineno, text, reason in result.invalid[:20]:
                messages.warning(request, f"Ligne {lineno} « {text} » : {reason}")
            if result.invalid_count > 20:
                messages.warning(
                    request,
                    f"… et {count_noun(result.invalid_count - 20, 'autre ligne invalide', 'autres lignes invalides')}.",
                )
            return redirect(reverse("admin:leads_oppositionentry_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Importer une liste d'opposition",
            "form": form,
        }
        return TemplateResponse(request, "admin/leads/oppositionentry/import.html", context)
