from functools import partial

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, Value
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html

from commandes.delivery import delivery_batch_resend, delivery_mail_error
from commandes.delivery_http import client_endpoint_resume
from commandes.models import (
    Attribution,
    BacklogLead,
    Client,
    Commande,
    DeliveryBatch,
    HttpDeliveryAttempt,
    Rejection,
    RejectionReason,
)
from commandes.rejections import (
    RejectionError,
    client_rejection_ceiling,
    client_rejection_rate,
    rejection_approve,
    rejection_create,
    rejection_refuse,
)
from commandes.services import CommandeError, commande_set_active
from commandes.views import batch_file_response
from leads.admin import VERDICTS
from leads.normalization import normalize_departement
from leads.services import routing_explanation_visible
from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from rdz.core.scoping import can_change, scope_queryset, user_entities
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_today, week_start
from routing.backlog import backlog_counts, backlog_leads


def secret_hint(value: str) -> str:
    """A stored credential as staff may see it: only its last 4 characters."""
    return "••••" + value[-4:] if value else ""


class SecretField(forms.CharField):
    """A credential typed in, never printed back: an empty entry keeps the stored value."""

    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class ClientAdminForm(forms.ModelForm):
    api_auth_value = SecretField(label="valeur d'authentification", required=False, max_length=500)
    api_auth_clear = forms.BooleanField(label="effacer la valeur d'authentification", required=False)

    class Meta:
        model = Client
        # The admin shows every field, as without this form, which only hides the credential.
        fields = "__all__"  # noqa: DJ007
        # The admin builds its fields with its own overrides; this only keeps the class's
        # own field building (at import) from warning about the URL's default scheme.
        field_classes = {"api_url": partial(forms.URLField, assume_scheme="https")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.api_auth_value
        self.fields["api_auth_value"].help_text = (
            f"Une valeur est enregistrée ({secret_hint(stored)}) : laisser vide pour la conserver."
            if stored
            else "Envoyée dans l'en-tête ci-dessus à chaque livraison HTTP (ex. Bearer …)."
        )

    def clean(self):
        cleaned = super().clean()
        typed = cleaned.get("api_auth_value")
        if typed and cleaned.get("api_auth_clear"):
            self.add_error("api_auth_clear", "Saisissez une nouvelle valeur ou effacez l'actuelle, pas les deux.")
        elif not typed:
            cleaned["api_auth_value"] = "" if cleaned.get("api_auth_clear") else self.instance.api_auth_value
        return cleaned


@admin.register(Client)
class ClientAdmin(EntityScopedAdmin):
    form = ClientAdminForm
    list_display = ("name", "entity", "active", "api_url", "rejection_rate", "created_at")
    list_filter = ("entity", "active")
    search_fields = ("name",)
    actions = ["resume_endpoint"]
    # The header value that authenticates RDZ to the client's API: typed in, never shown.
    masked_fields = ("api_auth_value",)

    def get_readonly_fields(self, request, obj=None):
        # Its commandes and attributions carry the client's entity (scoping, routing, the
        # sending SMTP account): fixed once created, like a provider's or a form's.
        return ("entity",) if obj else ()

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is not None and not can_change(request.user):
            # Read-only pages print each field's value: the credential's hint instead.
            fields = ["api_auth_hint" if f == "api_auth_value" else f for f in fields if f != "api_auth_clear"]
        return fields

    @admin.display(description="valeur d'authentification")
    def api_auth_hint(self, obj: Client) -> str:
        return secret_hint(obj.api_auth_value) or "—"

    @admin.display(description="taux de rejet (30 j)")
    def rejection_rate(self, obj: Client) -> str:
        rate = client_rejection_rate(client=obj)
        ceiling = client_rejection_ceiling(client=obj)
        text = f"{number_format(rate.percent)} % ({rate.rejected}/{rate.delivered}) — plafond {ceiling} %"
        if rate.percent > ceiling:
            return format_html('<strong style="color:#b42318">{}</strong>', text)
        return text

    @admin.action(description="Remettre en service le point d'accès HTTP (disjoncteur)", permissions=["change"])
    def resume_endpoint(self, request, queryset):
        total = 0
        for client in queryset:
            total += client_endpoint_resume(client=client, actor=request.user)
        endpoints = count_noun(len(queryset), "point d'accès remis", "points d'accès remis")
        waiting = count_noun(total, "envoi en attente relancé", "envois en attente relancés")
        self.message_user(request, f"{endpoints} en service ; {waiting}.", messages.SUCCESS)


class CommandeAdminForm(forms.ModelForm):
    class Meta:
        model = Commande
        # The admin shows every field, as without this form, which only adds the check below.
        fields = "__all__"  # noqa: DJ007

    def clean_departements(self):
        # Routing compares the lead's normalized code with these strings: "2a", "1" or 13
        # typed here would never match a lead, and a value of another shape is read
        # differently by PostgreSQL and SQLite.
        value = self.cleaned_data["departements"]
        if not isinstance(value, list) or not value:
            raise forms.ValidationError('Une liste de départements est attendue, ex. ["13", "2A"], ou ["*"] pour tous.')
        codes: list[str] = []
        errors: list[str] = []
        for item in value:
            if item == "*":
                continue
            try:
                code = normalize_departement(item)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if code not in codes:
                codes.append(code)
        if errors:
            raise forms.ValidationError(errors)
        return ["*"] if "*" in value else codes

    def clean(self):
        cleaned = super().clean()
        starts_on, ends_on = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            # Said on the field, instead of the database constraint's name.
            self.add_error("ends_on", f"La fin doit tomber le {starts_on:%d/%m/%Y} (début) ou après.")
        return cleaned


@admin.register(Commande)
class CommandeAdmin(EntityScopedAdmin):
    form = CommandeAdminForm
    list_display = (
        "__str__",
        "entity",
        "product",
        "departements_display",
        "week_fill",
        "weekly_quota",
        "daily_cap",
        "priority",
        "active",
        "accepts_backlog",
        "starts_on",
        "ends_on",
    )
    list_filter = ("entity", "active", "product", "accepts_backlog", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "client__name")
    list_select_related = ("client", "product")
    actions = ["activate", "deactivate"]

    def get_readonly_fields(self, request, obj=None):
        # Its attributions carry the client (and its entity) they were made for, and its fill
        # counts them: moved to another client, the commande would start the week with that
        # other client's leads, or hand one entity's history to the other. The creation time
        # breaks ties between commandes of equal priority and fill (§7): typed by hand, it
        # would put a commande first in line. This week's fill sits beside the quota it is
        # lowered or raised against.
        return ("client", "week_fill", "created_at") if obj else ("created_at",)

    # Explicit: with the fill annotation (GROUP BY) the model's ordering no longer applies,
    # and the autocomplete would page an unordered list.
    ordering = ("-priority", "created_at", "pk")

    def get_queryset(self, request):
        monday = week_start(paris_today())
        this_week = Q(attributions__week_start=monday, attributions__counts_for_quota=True)
        return super().get_queryset(request).annotate(_week_fill=Count("attributions", filter=this_week))

    @admin.display(description="départements")
    def departements_display(self, obj: Commande) -> str:
        codes = obj.departements or []
        return "tous" if "*" in codes else ", ".join(codes[:8]) + (" …" if len(codes) > 8 else "")

    @admin.display(description="leads cette semaine", ordering="_week_fill")
    def week_fill(self, obj: Commande) -> str:
        filled = getattr(obj, "_week_fill", 0)
        return f"{filled} / {obj.weekly_quota} ({round(100 * filled / obj.weekly_quota)} %)"

    @staticmethod
    def _plain(queryset):
        # The changelist queryset is annotated (GROUP BY): PostgreSQL refuses FOR UPDATE on it.
        return Commande.objects.filter(pk__in=[c.pk for c in queryset])

    @admin.action(description="Activer les commandes sélectionnées", permissions=["change"])
    def activate(self, request, queryset):
        n = commande_set_active(commandes=self._plain(queryset), active=True, actor=request.user)
        self.message_user(
            request, f"{count_noun(n, 'commande activée', 'commandes activées')}.", level=messages.SUCCESS
        )

    @admin.action(description="Désactiver les commandes sélectionnées", permissions=["change"])
    def deactivate(self, request, queryset):
        n = commande_set_active(commandes=self._plain(queryset), active=False, actor=request.user)
        self.message_user(
            request, f"{count_noun(n, 'commande désactivée', 'commandes désactivées')}.", level=messages.SUCCESS
        )


def _reject_action(reason: str, label: str):
    def action(modeladmin, request, queryset):
        done, refused = 0, []
        for attribution in queryset:
            try:
                rejection_create(attribution=attribution, reason=reason, actor=request.user)
                done += 1
            except RejectionError as exc:
                refused.append(f"{attribution.lead_id} : {exc}")
        if done:
            modeladmin.message_user(
                request, f"{count_noun(done, 'lead rejeté', 'leads rejetés')} ({label}).", messages.SUCCESS
            )
        for line in refused[:10]:
            modeladmin.message_user(request, line, messages.ERROR)

    action.__name__ = f"reject_{reason}"
    action.short_description = f"Rejeter — {label}"
    action.allowed_permissions = ("change",)
    return action


@admin.register(Attribution)
class AttributionAdmin(EntityScopedAdmin):
    list_display = (
        "created_at",
        "lead",
        "client",
        "commande",
        "entity",
        "is_backlog",
        "channel",
        "status",
        "delivered_at",
        "batch",
    )
    list_filter = (
        "entity",
        "status",
        "channel",
        "is_backlog",
        "product",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("phone", "client__name")
    list_select_related = ("lead", "client", "commande__client", "commande__product", "batch__client")
    readonly_fields = ["routing_explanation" if f.name == "explanation" else f.name for f in Attribution._meta.fields]
    exclude = ("explanation",)
    # After a cross-entity fallback it names the other entity's commandes, masked on display.
    masked_fields = ("explanation",)
    actions = [_reject_action(value, label) for value, label in RejectionReason.choices]

    def get_queryset(self, request):
        # The display below has no request: what the account may see rides on each row.
        viewer = ",".join(sorted(user_entities(request.user)))
        return super().get_queryset(request).annotate(_viewer_entities=Value(viewer))

    @admin.display(description="explication du routage")
    def routing_explanation(self, obj: Attribution) -> str:
        # A lead that crossed entities (§7.3) was first offered to its own entity's commandes:
        # their names stay with that entity (§2).
        entities = frozenset(filter(None, getattr(obj, "_viewer_entities", "").split(",")))
        data = routing_explanation_visible(obj.explanation or {}, entities=entities)
        verdicts = [
            {**v, "verdict_label": VERDICTS.get(v.get("verdict"), v.get("verdict"))} for v in data.get("commandes", [])
        ]
        # The same French table as on the lead's page, not the stored JSON and its codes.
        return render_to_string(
            "leads/admin/lead_routing.html",
            {"notes": data.get("notes", []), "cross_entity": data.get("cross_entity"), "verdicts": verdicts},
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Read-only detail page; "change" here only gates the rejection actions.
        return can_change(request.user) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False


class BatchAttributionInline(ReadOnlyInline):
    model = Attribution
    fk_name = "batch"
    fields = ("lead", "commande", "is_backlog", "status", "delivered_at")
    verbose_name_plural = "leads du lot"

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(DeliveryBatch)
class DeliveryBatchAdmin(EntityScopedAdmin):
    inlines = [BatchAttributionInline]
    list_display = (
        "date",
        "client",
        "entity",
        "status_shown",
        "count",
        "attempts",
        "sent_at",
        "resent_count",
        "download",
    )
    list_filter = ("entity", "status", ("date", admin.DateFieldListFilter))
    search_fields = ("client__name",)
    list_select_related = ("client",)
    readonly_fields = [f.name for f in DeliveryBatch._meta.fields] + ["download"]
    actions = ["resend"]

    @admin.display(description="statut", ordering="status")
    def status_shown(self, obj: DeliveryBatch) -> str:
        return obj.status_text

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return can_change(request.user) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path(
                "<int:batch_id>/telecharger/",
                self.admin_site.admin_view(self.download_view),
                name="commandes_deliverybatch_download",
            )
        ]
        return urls + super().get_urls()

    def get_list_display(self, request):
        # The download is refused to read-only accounts (commandes.views.batch_file_response).
        columns = super().get_list_display(request)
        return columns if can_change(request.user) else tuple(c for c in columns if c != "download")

    @admin.display(description="CSV")
    def download(self, obj: DeliveryBatch) -> str:
        if not obj.file:
            return "—"
        url = reverse("admin:commandes_deliverybatch_download", args=[obj.pk])
        return format_html('<a href="{}">Télécharger</a>', url)

    def download_view(self, request, batch_id: int):
        try:
            return batch_file_response(
                scope_queryset(DeliveryBatch.objects.all(), request.user), batch_id, user=request.user
            )
        except CommandeError as exc:  # the stored file is not on this server
            raise Http404(str(exc)) from exc

    @admin.action(description="Renvoyer le CSV au client", permissions=["change"])
    def resend(self, request, queryset):
        for batch in queryset.select_related("client"):
            try:
                refusal = delivery_batch_resend(batch=batch, actor=request.user)
            except CommandeError as exc:
                self.message_user(request, f"{batch} : {exc}", messages.ERROR)
            except Exception as exc:  # SMTP down: say so, nothing changed
                self.message_user(request, f"{batch} : envoi impossible, {delivery_mail_error(exc)}.", messages.ERROR)
            else:
                if refusal:
                    self.message_user(request, f"{batch} renvoyé, mais {refusal}.", messages.WARNING)
                else:
                    self.message_user(request, f"{batch} renvoyé à {', '.join(batch.client.emails)}.", messages.SUCCESS)


@admin.register(HttpDeliveryAttempt)
class HttpDeliveryAttemptAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    list_display = ("started_at", "client", "url", "status_code", "success", "duration_ms", "error")
    list_filter = ("entity", "success", ("started_at", admin.DateFieldListFilter))
    search_fields = ("client__name", "url")
    list_select_related = ("client",)
    readonly_fields = [f.name for f in HttpDeliveryAttempt._meta.fields]


@admin.register(Rejection)
class RejectionAdmin(EntityScopedAdmin):
    list_display = ("created_at", "client", "attribution", "reason", "source", "status", "quota_credited")
    list_filter = ("entity", "status", "reason", "source")
    search_fields = ("client__name", "attribution__phone")
    list_select_related = ("client", "attribution")
    readonly_fields = [f.name for f in Rejection._meta.fields]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return can_change(request.user) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approuver les rejets en attente", permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, rejection_approve, "approuvé")

    @admin.action(description="Refuser les rejets en attente", permissions=["change"])
    def refuse(self, request, queryset):
        self._decide(request, queryset, rejection_refuse, "refusé")

    def _decide(self, request, queryset, service, label: str) -> None:
        done = 0
        for rejection in queryset:
            try:
                service(rejection=rejection, actor=request.user)
                done += 1
            except RejectionError as exc:
                self.message_user(request, f"Rejet n° {rejection.pk} : {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{count_noun(done, f'rejet {label}', f'rejets {label}s')}.", messages.SUCCESS)


@admin.register(BacklogLead)
class BacklogLeadAdmin(ReadOnlyAdminMixin, EntityScopedAdmin):
    """The Lead Backlog (§10): filtered list, with counts by product and departement."""

    change_list_template = "admin/commandes/backloglead/change_list.html"
    list_display = ("created_at", "phone", "first_name", "last_name", "entity", "product", "departement", "status")
    list_filter = ("entity", "status", "product", "departement")
    search_fields = ("phone", "email", "last_name")
    list_select_related = ("product",)
    readonly_fields = ("id", "entity", "product", "phone", "departement", "status", "created_at")
    fields = readonly_fields

    def get_queryset(self, request):
        return scope_queryset(backlog_leads(), request.user).select_related("product")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            response.context_data["backlog_counts"] = backlog_counts(leads=cl.queryset)
        return response
