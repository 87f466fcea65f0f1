"""Admin of landing forms (§11): settings, the snippet to paste, the stats of the last 30
days, and the write-once CRM key (set once here, then only replaced by the audited
rotation view)."""

import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join

from leads.models import LeadForm, TrackingEvent
from leads.selectors import form_stats
from leads.services import LeadError
from leads.services_forms import (
    leadform_crm_key_rotate,
    leadform_crm_key_set,
    leadform_origins_clean,
    leadform_target_changed,
    leadform_variants_clean,
)
from leads.views_tracking import tracking_snippet
from rdz.core.admin_mixins import EntityScopedAdmin
from rdz.core.scoping import can_change
from rdz.core.timeutils import paris_today

KEY_HELP = (
    "Clé fournie par le CRM cible. Une fois enregistrée, elle ne peut plus être effacée ni modifiée : "
    "seule l'action « Rotation de la clé CRM » (tracée dans le journal d'audit) la remplace."
)


class LeadFormAdminForm(forms.ModelForm):
    allowed_origins = forms.CharField(
        label="Origines autorisées",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Une origine par ligne, ex. https://www.exemple.fr (schéma, domaine et port, sans chemin).",
    )
    variants = forms.CharField(
        label="Variantes A/B",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 30}),
        help_text="Une variante par ligne : nom=poids (ex. A=50 ; B=0 met B en pause). Vide : pas de test A/B.",
    )
    new_crm_api_key = forms.CharField(
        label="Clé API CRM",
        required=False,
        strip=True,
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=KEY_HELP,
    )

    class Meta:
        model = LeadForm
        fields = ["code", "name", "entity", "product", "target_crm", "consent_text_version", "active"]
        help_texts = {
            "active": "Décoché : le formulaire ne compte plus les visites, mais les leads des pages encore en "
            "ligne sont toujours reçus (aucun n'est perdu). Pour refuser leurs envois, retirez les origines autorisées."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or [])
            self.initial["variants"] = "\n".join(
                f"{v.get('name')}={v.get('weight', 1)}" for v in self.instance.variants or [] if isinstance(v, dict)
            )
        if self.instance.crm_api_key:
            # Write-once: no field at all once a key exists (a forged POST changes nothing).
            del self.fields["new_crm_api_key"]

    def clean_allowed_origins(self):
        try:
            return leadform_origins_clean(self.cleaned_data.get("allowed_origins") or "")
        except LeadError as exc:
            raise forms.ValidationError(exc.errors["allowed_origins"]) from exc

    def clean_variants(self):
        try:
            return leadform_variants_clean(self.cleaned_data.get("variants") or "")
        except LeadError as exc:
            raise forms.ValidationError(exc.errors["variants"]) from exc

    def save(self, commit=True):
        self.instance.allowed_origins = self.cleaned_data["allowed_origins"]
        self.instance.variants = self.cleaned_data["variants"]
        return super().save(commit=commit)


class CrmKeyRotateForm(forms.Form):
    new_key = forms.CharField(
        label="Nouvelle clé API CRM", max_length=255, widget=forms.PasswordInput(render_value=False)
    )
    new_key_again = forms.CharField(
        label="Nouvelle clé (confirmation)", max_length=255, widget=forms.PasswordInput(render_value=False)
    )
    reason = forms.CharField(label="Motif", max_length=300, help_text="Tracé dans le journal d'audit.")

    def clean(self):
        data = super().clean()
        if data.get("new_key") and data.get("new_key") != data.get("new_key_again"):
            raise forms.ValidationError("Les deux saisies de la clé diffèrent.")
        return data


@admin.register(LeadForm)
class LeadFormAdmin(EntityScopedAdmin):
    form = LeadFormAdminForm
    list_display = ("code", "name", "entity", "product", "target_crm", "crm_key_display", "active", "created_at")
    list_filter = ("entity", "active", "target_crm", "product")
    search_fields = ("code", "name")
    list_select_related = ("product",)
    readonly_fields = ("crm_key_display", "crm_key_hint", "snippet", "stats_30_days")
    masked_fields = ("crm_api_key",)

    fieldsets = (
        (None, {"fields": ("code", "name", "entity", "product", "active")}),
        ("Page d'atterrissage", {"fields": ("allowed_origins", "variants", "consent_text_version")}),
        ("CRM", {"fields": ("target_crm", "crm_key_display", "new_crm_api_key")}),
        ("Intégration et statistiques", {"fields": ("snippet", "stats_30_days")}),
    )

    def get_list_display(self, request):
        if can_change(request.user):
            return self.list_display
        return tuple("crm_key_hint" if name == "crm_key_display" else name for name in self.list_display)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [list(fs) for fs in self.fieldsets]
        if not can_change(request.user):
            # A viewer sees the key's hint, without the rotation link it may not follow.
            fieldsets[2] = ("CRM", {"fields": ("target_crm", "crm_key_hint")})
        elif obj is not None and obj.crm_api_key:
            fieldsets[2] = ("CRM", {"fields": ("target_crm", "crm_key_display")})
        if obj is None:
            fieldsets = fieldsets[:3]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            # The code is pasted in landing pages and the entity decides routing: fixed once created.
            fields += ["code", "entity"]
        return fields

    @admin.display(description="Clé API CRM")
    def crm_key_display(self, obj):
        if obj is None or not obj.pk or not obj.crm_api_key:
            return "Aucune clé (à saisir une seule fois)"
        link = reverse("admin:leads_leadform_rotate_key", args=[obj.pk])
        return format_html('{} — <a href="{}">Rotation de la clé CRM</a>', obj.crm_api_key_hint, link)

    @admin.display(description="Clé API CRM")
    def crm_key_hint(self, obj):
        if obj is None or not obj.pk or not obj.crm_api_key:
            return "Aucune clé"
        return obj.crm_api_key_hint

    @admin.display(description="Code à coller dans la page")
    def snippet(self, obj):
        if obj is None or not obj.pk:
            return "—"
        return format_html(
            '<textarea readonly rows="11" cols="90" style="font-family:monospace">{}</textarea>'
            "<p>Origines autorisées à envoyer ce formulaire : {}</p>",
            tracking_snippet(form=obj, base_url=settings.SITE_URL),
            ", ".join(obj.allowed_origins or []) or "aucune (aucun site ne peut l'utiliser)",
        )

    @admin.display(description="Statistiques (30 derniers jours)")
    def stats_30_days(self, obj):
        if obj is None or not obj.pk:
            return "—"
        today = paris_today()
        stats = form_stats(form=obj, date_from=today - datetime.timedelta(days=29), date_to=today)

        def pct(value):
            # French decimal comma, like the Formulaires page (« 33,3 % »).
            return "—" if value is None else f"{number_format(value, 1)} %"

        rows = [("Toutes", stats["totals"])] + [(v["variant"] or "(sans)", v) for v in stats["variants"]]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (name, f["visits"], f["starts"], f["termine"], pct(f["start_rate"]), pct(f["conversion_rate"]))
                for name, f in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Variante</th><th>Visites</th><th>Démarrages</th><th>Terminé</th>"
            "<th>Taux de démarrage</th><th>Conversion</th></tr></thead><tbody>{}</tbody></table>"
            "<p>Terminé = tous les leads créés par le formulaire, quel que soit leur statut. "
            "Détail par jour : <code>/api/v1/forms/{}/stats/</code></p>",
            body,
            obj.code,
        )

    def save_model(self, request, obj, form, change):
        key = form.cleaned_data.get("new_crm_api_key") or ""
        if not change and key:
            obj.crm_api_key = key
        super().save_model(request, obj, form, change)
        if change and "target_crm" in form.changed_data:
            leadform_target_changed(form=obj, old_target=form.initial.get("target_crm", ""), user=request.user)
        if change and key:
            try:
                leadform_crm_key_set(form=obj, key=key, user=request.user)
            except LeadError as exc:
                messages.error(request, " ".join(exc.errors.get("crm_api_key", [])))

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/rotation-cle-crm/",
                self.admin_site.admin_view(self.rotate_key_view),
                name="leads_leadform_rotate_key",
            )
        ]
        return custom + super().get_urls()

    def rotate_key_view(self, request, pk: int):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if not can_change(request.user):
            raise PermissionDenied
        form = CrmKeyRotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                leadform_crm_key_rotate(
                    form=obj, key=form.cleaned_data["new_key"], user=request.user, reason=form.cleaned_data["reason"]
                )
            except LeadError as exc:
                form.add_error("new_key", " ".join(exc.errors.get("crm_api_key", [])))
            else:
                messages.success(request, f"Clé API CRM de « {obj.code} » remplacée ({obj.crm_api_key_hint}).")
                return redirect("admin:leads_leadform_change", obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rotation de la clé API CRM — {obj.code}",
            "form": form,
            "object": obj,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/leads/leadform_rotate_key.html", context)


@admin.register(TrackingEvent)
class TrackingEventAdmin(EntityScopedAdmin):
    list_display = ("created_at", "form", "event", "variant", "visitor_id")
    list_filter = ("event",)
    date_hierarchy = "created_at"
    list_select_related = ("form",)
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
