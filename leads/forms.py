"""Back-office forms of the leads app: the lead list filters (also used by the CSV export)."""

import datetime

from django import forms
from django.db.models import Q, QuerySet

from commandes.models import RejectionReason
from leads.models import CrmStatus, Lead, LeadStatus, Product
from leads.normalization import normalize_departement, normalize_phone
from leads.stats import StatsPeriodError, stats_period
from rdz.core.entities import ALL_ENTITIES, Entity
from rdz.core.timeutils import DATE_INVALID, date_range_validators, paris_day_bounds


class LeadFilterForm(forms.Form):
    """Filters of the lead list. Every filter maps to an indexed column or is combined
    with the (entity, created_at) index; the search recognizes a phone number, an e-mail
    or a name."""

    q = forms.CharField(label="Recherche", required=False, max_length=100)
    entity = forms.ChoiceField(label="Entité", required=False, choices=[("", "Toutes"), *Entity.choices])
    status = forms.MultipleChoiceField(label="Statut", required=False, choices=LeadStatus.choices)
    product = forms.ModelChoiceField(
        label="Produit", required=False, queryset=Product.objects.all(), to_field_name="code", empty_label="Tous"
    )
    departement = forms.CharField(label="Département", required=False, max_length=3)
    source = forms.CharField(label="Source", required=False, max_length=100)
    provider = forms.CharField(label="Provider", required=False, max_length=60, help_text="Identifiant du provider")
    form = forms.CharField(label="Formulaire", required=False, max_length=50, help_text="Code du formulaire")
    crm_status = forms.ChoiceField(
        label="Statut CRM", required=False, choices=[("", "Tous"), *[c for c in CrmStatus.choices if c[0]]]
    )
    date_from = forms.DateField(
        label="Du", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=date_range_validators()
    )
    date_to = forms.DateField(
        label="Au", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=date_range_validators()
    )

    def __init__(self, data=None, *, entities: frozenset[str] = ALL_ENTITIES, **kwargs):
        # The URL uses `from` / `to` (links from the dashboard); Python cannot name a field `from`.
        if data is not None:
            data = data.copy()
            for url_name, field in (("from", "date_from"), ("to", "date_to")):
                if url_name in data and field not in data:
                    data[field] = data[url_name]
        super().__init__(data, **kwargs)
        # Only the entities the list can show (the account's, narrowed by the switcher).
        if len(entities) < 2:
            del self.fields["entity"]
        else:
            self.fields["entity"].choices = [("", "Toutes"), *[c for c in Entity.choices if c[0] in entities]]

    def clean_departement(self):
        value = self.cleaned_data["departement"].strip()
        if not value:
            return ""
        try:
            return normalize_departement(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "La date de fin précède la date de début.")
        return cleaned

    def filter(self, qs: QuerySet[Lead]) -> QuerySet[Lead]:
        """Apply the filters to an already scoped queryset. A filter that is refused (its
        field shows why) matches nothing: dropping it would list, or export, leads that the
        other filters were meant to exclude."""
        if not self.is_valid():
            return qs.none()
        data = self.cleaned_data
        if data.get("entity"):
            qs = qs.filter(entity=data["entity"])
        if data.get("status"):
            qs = qs.filter(status__in=data["status"])
        if data.get("product"):
            qs = qs.filter(product=data["product"])
        if data.get("departement"):
            qs = qs.filter(departement=data["departement"])
        if data.get("source"):
            qs = qs.filter(source=data["source"].strip())
        if data.get("provider"):
            qs = qs.filter(provider__slug=data["provider"].strip())
        if data.get("form"):
            qs = qs.filter(form__code=data["form"].strip())
        if data.get("crm_status"):
            qs = qs.filter(crm_status=data["crm_status"])
        if data.get("date_from"):
            qs = qs.filter(created_at__gte=paris_day_bounds(data["date_from"])[0])
        if data.get("date_to"):
            qs = qs.filter(created_at__lt=paris_day_bounds(data["date_to"])[1])
        term = (data.get("q") or "").strip()
        if term:
            qs = qs.filter(search_condition(term))
        return qs

    def period(self) -> tuple[datetime.date | None, datetime.date | None]:
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("date_from"), data.get("date_to")


def search_condition(term: str) -> Q:
    """A typed phone number is normalized (E.164, indexed); an e-mail matches exactly
    (indexed, lower-cased); anything else searches the names."""
    try:
        return Q(phone=normalize_phone(term))
    except ValueError:
        pass
    if "@" in term:
        return Q(email=term.lower())
    condition = Q()
    for word in term.split()[:3]:
        condition &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
    return condition


class PeriodForm(forms.Form):
    """The period of the Statistiques page, read from `from` / `to` (AAAA-MM-JJ), under the
    stats API's rule (`stats_period`). A date that is refused says why next to its field, a
    period that is refused says why above the form; the page then shows its default period."""

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        for name, label in (("from", "Du"), ("to", "Au")):
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                input_formats=["%Y-%m-%d"],
                validators=date_range_validators(),
                error_messages={"invalid": DATE_INVALID},
            )

    def period(self, *, today: datetime.date) -> tuple[datetime.date, datetime.date]:
        """The period to show: the one asked for, or the default one when it is refused."""
        self.is_valid()  # cleaned_data then holds the dates that were accepted
        try:
            return stats_period(start=self.cleaned_data.get("from"), end=self.cleaned_data.get("to"), today=today)
        except StatsPeriodError as exc:
            self.add_error(None, str(exc))
            return stats_period(start=None, end=None, today=today)


class FormPeriodForm(forms.Form):
    """The period of the Formulaires page: `jours` days up to today, 1 to 365. A value that is
    refused says why above the table; the page then shows the default period."""

    DEFAULT_DAYS = 30
    MAX_DAYS = 365
    OFFERED_DAYS = (7, 30, 90)

    jours = forms.CharField(required=False)

    def clean_jours(self) -> int | None:
        raw = self.cleaned_data["jours"]
        if raw == "":
            return None
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= self.MAX_DAYS):
            shown = raw if len(raw) <= 20 else raw[:20] + "…"
            raise forms.ValidationError(
                f"Période invalide : « {shown} » (un nombre de jours de 1 à {self.MAX_DAYS} est attendu)."
            )
        return int(raw)

    def days(self) -> int:
        """The number of days to show: the one asked for, or the default when it is refused."""
        self.is_valid()
        return self.cleaned_data.get("jours") or self.DEFAULT_DAYS

    def choices(self) -> list[int]:
        """The periods the page offers, the one shown among them."""
        return sorted({*self.OFFERED_DAYS, self.days()})


class StaffRejectionForm(forms.Form):
    """The rejection form of the lead page (§10): one of the lead's attributions, a reason."""

    attribution = forms.IntegerField(label="Attribution", min_value=1, max_value=2**63 - 1)
    reason = forms.ChoiceField(label="Motif du rejet", choices=RejectionReason.choices)
    comment = forms.CharField(label="Commentaire", required=False, max_length=500)
