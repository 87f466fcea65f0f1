import datetime

from django.contrib import admin
from django.db.models import OuterRef, Subquery, Value
from django.template.loader import render_to_string

from commandes.models import Attribution
from leads.models import Lead
from leads.normalization import normalize_phone
from leads.services import ROUTING_EVENT_KINDS, lead_events_visible, lead_timeline_visible
from rdz.core.admin_mixins import EntityScopedAdmin, ReadOnlyInline
from rdz.core.scoping import scope_queryset, user_entities


class AttributionInline(ReadOnlyInline):
    model = Attribution
    fields = ("created_at", "commande", "client", "entity", "is_backlog", "status", "delivered_at")
    readonly_fields = fields
    verbose_name = "attribution"
    verbose_name_plural = "attributions (commandes ayant reçu ce lead)"
    ordering = ("created_at",)

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("commande__client", "commande__product", "client")
        return scope_queryset(qs, request.user)


def _viewer_entities(obj: Lead) -> frozenset[str]:
    """The entities of the account the row was read for (LeadAdmin.get_queryset)."""
    return frozenset(filter(None, getattr(obj, "_viewer_entities", "").split(",")))


VERDICTS = {
    "chosen": "choisie",
    "passed": "non retenue",
    "duplicate": "doublon 30 jours",
    "full": "complète",
    "closed": "fermée",
}


def duration_display(delta: datetime.timedelta) -> str:
    """French, compact: « 0,042 s », « 3 min 20 s », « 2 j 4 h »."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.3f} s".replace(".", ",")
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {sec} s"


@admin.register(Lead)
class LeadAdmin(EntityScopedAdmin):
    list_display = (
        "created_at",
        "phone",
        "full_name",
        "entity",
        "product",
        "departement",
        "source",
        "provider",
        "status",
        "attributed_to",
    )
    list_filter = (
        "entity",
        "status",
        "product",
        ("created_at", admin.DateFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
        "entity_locked",
        "crm_status",
    )
    search_fields = ("phone", "email", "first_name", "last_name", "=external_id")
    search_help_text = "Téléphone (tout format, ex. 06 12 34 56 78), e-mail, nom ou prénom, identifiant externe."
    date_hierarchy = "created_at"
    list_select_related = ("product", "provider")
    list_per_page = 50
    show_full_result_count = False
    inlines = [AttributionInline]
    fieldsets = [
        ("Lead", {"fields": ("id", "status", "entity", "entity_locked", "created_at")}),
        ("Contact", {"fields": ("phone", "email", "first_name", "last_name", "departement", "product", "extra")}),
        ("Chronologie", {"fields": ("timeline",)}),
        ("Pourquoi ce routage ?", {"fields": ("routing_explanation",)}),
        (
            "Origine",
            {
                "fields": (
                    "source",
                    "provider",
                    "form",
                    "external_id",
                    "idempotency_key",
                    "ip",
                    "user_agent",
                    "visitor_id",
                    "variant",
                )
            },
        ),
        ("Consentement", {"fields": ("consent", "consent_at", "consent_page_url", "consent_text_version")}),
        (
            "CRM",
            {
                "classes": ("collapse",),
                "fields": ("crm_status", "crm_target", "crm_attempts", "crm_last_error"),
            },
        ),
        ("Historique", {"classes": ("collapse",), "fields": ("legacy_id", "anonymized_at")}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Every value is read-only: a lead changes only through services (routing,
        # delivery, rejection, RGPD), each leaving a timeline row.
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]] + ["hidden_attributions"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.attributions.exclude(entity__in=user_entities(request.user)).exists():
            # The attributions below are the account's entities' only (§2): say that the lead
            # also went to the other entity, as the back-office lead page does.
            fieldsets = [
                (name, {**options, "fields": (*options["fields"], "hidden_attributions")})
                if name == "Pourquoi ce routage ?"
                else (name, options)
                for name, options in fieldsets
            ]
        return fieldsets

    @admin.display(description="attributions à l'autre entité")
    def hidden_attributions(self, obj: Lead) -> str:
        hidden = obj.attributions.exclude(entity__in=_viewer_entities(obj)).count()
        s = "s" if hidden > 1 else ""
        return f"{hidden} attribution{s} (repli inter-entités) non affichée{s} : détail réservé à l'autre entité."

    def has_add_permission(self, request, obj=None):
        # Leads enter through intake (API, forms, import), never typed into the admin.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the page is editable: no save buttons that would do nothing.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        latest = Attribution.objects.filter(lead=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                _attributed_to=Subquery(latest.values("client__name")[:1]),
                _attributed_entity=Subquery(latest.values("entity")[:1]),
                # The displays below have no request: what the account may see rides on each row.
                _viewer_entities=Value(",".join(sorted(user_entities(request.user)))),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A phone typed the way people write it (« 06 12 34 56 78 ») is found by its
        # stored E.164 form; the word-by-word default search cannot match it.
        try:
            phone = normalize_phone(search_term)
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(phone=phone), may_have_duplicates

    @admin.display(description="nom", ordering="last_name")
    def full_name(self, obj: Lead) -> str:
        return f"{obj.first_name} {obj.last_name}".strip() or "—"

    @admin.display(description="attribué à")
    def attributed_to(self, obj: Lead) -> str:
        entity = getattr(obj, "_attributed_entity", None)
        if entity and entity not in _viewer_entities(obj):
            return f"un client {entity} (repli inter-entités)"
        return getattr(obj, "_attributed_to", None) or "—"

    @admin.display(description="chronologie")
    def timeline(self, obj: Lead) -> str:
        rows = [
            {
                "event": row["event"],
                "since_previous": duration_display(row["since_previous"]),
                "since_received": duration_display(row["since_received"]),
            }
            for row in lead_timeline_visible(lead=obj, entities=_viewer_entities(obj))
        ]
        return render_to_string("leads/admin/lead_timeline.html", {"rows": rows})

    @admin.display(description="explication")
    def routing_explanation(self, obj: Lead) -> str:
        event = obj.events.filter(kind__in=ROUTING_EVENT_KINDS).order_by("-created_at", "-id").first()
        if event is None:
            return "—"
        lead_events_visible(lead=obj, events=[event], entities=_viewer_entities(obj))
        data = event.data or {}
        verdicts = [
            {**v, "verdict_label": VERDICTS.get(v.get("verdict"), v.get("verdict"))} for v in data.get("commandes", [])
        ]
        return render_to_string(
            "leads/admin/lead_routing.html",
            {
                "event": event,
                "notes": data.get("notes", []),
                "cross_entity": data.get("cross_entity"),
                "verdicts": verdicts,
            },
        )


# Landing forms and tracking (§11), products with their extra fields (§3) and the
# opposition list (§16) live in their own modules.
from leads import admin_forms, admin_opposition  # noqa: E402, F401
