"""Back-office forms of the core: Paramètres (§8) and Comptes (§2)."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from rdz.core.entities import ALL_ENTITIES
from rdz.core.models import AppSettings, EntityScope, Role, validate_email_list
from rdz.core.text import forbidden_message, json_forbidden_char, text_forbidden_char

LIST_HELP = "Une valeur par ligne."
# Settings that belong to one entity: an admin of that entity may change them.
ENTITY_FIELDS = {
    "alert_recipients_zr7": "ZR7",
    "fallback_crm_key_zr7": "ZR7",
    "alert_recipients_mdl": "MDL",
    "fallback_crm_key_mdl": "MDL",
}
SECRET_FIELDS = ("fallback_crm_key_zr7", "fallback_crm_key_mdl")


def settings_fields_hidden(entities: frozenset[str]) -> list[str]:
    """Settings of the entities outside `entities`: an account never sees them, nor their
    history (§2: the other company's alert recipients are its data)."""
    return [name for name, entity in ENTITY_FIELDS.items() if entity not in entities]


class SafeJSONField(forms.JSONField):
    """The admin's JSON field, refusing what no database column can hold (NUL, lone
    surrogates): JSON typed as "\u0000" would otherwise reach PostgreSQL as an error."""

    def to_python(self, value):
        value = super().to_python(value)
        char = json_forbidden_char(value)
        if char:
            raise ValidationError(forbidden_message(char), code="invalid")
        return value


def text_lines_check(text: str) -> None:
    """For fields that turn a text into a list: CharField's own NUL check would then look at
    the list's repr, where NUL shows as "\x00"."""
    if char := text_forbidden_char(text):
        raise ValidationError(forbidden_message(char))


class LinesField(forms.CharField):
    """A list edited as a textarea, one value per line (commas accepted too)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        text_lines_check(text)
        items = []
        for part in text.replace(",", "\n").splitlines():
            part = part.strip()
            if part and part not in items:
                items.append(part)
        return items


class EmailLinesField(LinesField):
    def to_python(self, value):
        return [v.lower() for v in super().to_python(value)]

    def validate(self, value):
        super().validate(value)
        validate_email_list(value)


def _model_bounds(model_field) -> dict:
    """The model's own bounds as the number input's `min`/`max`: the field Django builds
    only knows « positive », so the browser hinted ≥ 0 where the model refuses 0."""
    lows = [v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)]
    return {**({"min": max(lows)} if lows else {}), **({"max": min(highs)} if highs else {})}


def values_as_read(form: forms.BaseForm, *, exclude: tuple[str, ...] = ()) -> None:
    """The page carries each value as it was read (`initial-…` hidden inputs), so that saving
    it changes only what this account changed there (`changed_data`), not what another admin
    saved in the meantime. A form posted without them is compared with the stored record.
    `exclude`: values never printed in the page (credentials)."""
    for name, field in form.fields.items():
        field.show_hidden_initial = name not in exclude and (
            not form.is_bound or form.add_initial_prefix(name) in form.data
        )


class SettingsForm(forms.ModelForm):
    """The settings record as a French form. Entity-specific fields are editable by that
    entity's admins; global fields only by admins of both entities."""

    blacklisted_sources = LinesField(
        label="Sources blacklistées",
        required=False,
        help_text="Une source par ligne (slug de provider, code de formulaire, utm…).",
    )
    alert_recipients_zr7 = EmailLinesField(label="Destinataires des alertes ZR7", required=False, help_text=LIST_HELP)
    alert_recipients_mdl = EmailLinesField(label="Destinataires des alertes MDL", required=False, help_text=LIST_HELP)
    fallback_crm_key_zr7 = forms.CharField(
        label="Clé CRM ZR7 de repli",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Laisser vide pour conserver la clé actuelle.",
    )
    fallback_crm_key_mdl = forms.CharField(
        label="Clé CRM MDL de repli",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Laisser vide pour conserver la clé actuelle.",
    )

    class Meta:
        model = AppSettings
        fields = [
            "cross_entity_enabled",
            "cross_entity_zr7_to_mdl",
            "cross_entity_mdl_to_zr7",
            "blacklisted_sources",
            "daily_delivery_time",
            "backlog_age_days",
            "rejection_window_days",
            "rejection_ceiling_percent",
            "alert_recipients_zr7",
            "alert_recipients_mdl",
            "alert_silence_hours",
            "alert_crm_failure_threshold",
            "circuit_failure_threshold",
            "fallback_crm_key_zr7",
            "fallback_crm_key_mdl",
            "retention_years",
        ]
        widgets = {"daily_delivery_time": forms.TimeInput(format="%H:%M", attrs={"type": "time"})}

    def __init__(
        self,
        *args,
        editable_entities: frozenset[str] = frozenset(),
        read_only: bool = False,
        visible_entities: frozenset[str] = ALL_ENTITIES,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        for name in settings_fields_hidden(visible_entities):
            del self.fields[name]
        self.fields["daily_delivery_time"].input_formats = ["%H:%M", "%H:%M:%S", "%Hh%M", "%Hh"]
        for name, field in self.fields.items():
            if isinstance(field, forms.IntegerField):
                field.widget.attrs.update(_model_bounds(AppSettings._meta.get_field(name)))
        self.fields["daily_delivery_time"].help_text = "Format HH:MM, heure de Paris."
        for name, field in self.fields.items():
            entity = ENTITY_FIELDS.get(name)
            allowed = entity in editable_entities if entity else editable_entities >= ALL_ENTITIES
            if read_only or not allowed:
                field.disabled = True
        values_as_read(self, exclude=SECRET_FIELDS)
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            current = getattr(self.instance, name)
            self.fields[name].help_text = ("Une clé est enregistrée. " if current else "Aucune clé. ") + (
                "Laisser vide pour la conserver."
            )

    def changes(self, current: AppSettings) -> dict:
        """Fields changed on the page (editable fields only) whose value differs from the
        stored record. A field left as the page showed it keeps the stored value, even when
        another admin changed it since the page was read (§8: each change is its author's)."""
        result = {}
        changed = set(self.changed_data)
        for name, field in self.fields.items():
            if field.disabled:
                continue
            value = self.cleaned_data.get(name)
            if name in SECRET_FIELDS and not value:
                continue  # blank means "keep": a CRM key is never cleared from this form
            if name not in SECRET_FIELDS and name not in changed:
                continue
            if value != getattr(current, name):
                result[name] = value
        return result


class AppSettingsAdminForm(forms.ModelForm):
    """The settings record in the Django admin, where its lists are typed as JSON. The model's
    validators refuse a value routing and alerts cannot read (a number, a text, an invalid
    address) on its field; this form tidies the lists as the Paramètres page does: emptied or
    null means none, items trimmed and listed once, addresses lower-cased."""

    class Meta:
        model = AppSettings
        fields = "__all__"  # noqa: DJ007 - the admin chooses the fields, this form only tidies the lists
        field_classes = dict.fromkeys(
            ("blacklisted_sources", "alert_recipients_zr7", "alert_recipients_mdl"), SafeJSONField
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values_as_read(self)

    def _tidy(self, name: str, *, lower: bool = False):
        value = self.cleaned_data.get(name)
        if value is None:  # emptied, or typed as null
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return value  # the model's validator says why
        return list(dict.fromkeys(item.strip().lower() if lower else item.strip() for item in value))

    def clean_blacklisted_sources(self):
        return self._tidy("blacklisted_sources")

    def clean_alert_recipients_zr7(self):
        return self._tidy("alert_recipients_zr7", lower=True)

    def clean_alert_recipients_mdl(self):
        return self._tidy("alert_recipients_mdl", lower=True)


class StaffAccountForm(forms.Form):
    username = forms.CharField(label="Identifiant", max_length=150)
    first_name = forms.CharField(label="Prénom", max_length=150, required=False)
    last_name = forms.CharField(label="Nom", max_length=150, required=False)
    email = forms.EmailField(label="E-mail", required=False)
    scope = forms.ChoiceField(label="Entités", choices=EntityScope.choices)
    # A new account starts with the least it may do: whoever creates it raises the role on purpose.
    role = forms.ChoiceField(label="Rôle", choices=Role.choices, initial=Role.VIEWER)
    is_active = forms.BooleanField(label="Actif", required=False, initial=True)
    password1 = forms.CharField(label="Mot de passe", widget=forms.PasswordInput, required=False, strip=False)
    password2 = forms.CharField(
        label="Mot de passe (confirmation)", widget=forms.PasswordInput, required=False, strip=False
    )

    def __init__(self, *args, scopes: list[str], creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = [(v, label) for v, label in EntityScope.choices if v in scopes]
        self.creating = creating
        if creating:
            self.fields["password1"].required = True
            self.fields["password2"].required = True
            del self.fields["is_active"]
        else:
            self.fields["username"].disabled = True
            del self.fields["password1"]
            del self.fields["password2"]

    def clean(self):
        cleaned = super().clean()
        if self.creating and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "Les deux mots de passe ne correspondent pas.")
        return cleaned


class PasswordSetForm(forms.Form):
    password1 = forms.CharField(label="Nouveau mot de passe", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Confirmation", widget=forms.PasswordInput, strip=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "Les deux mots de passe ne correspondent pas.")
        return cleaned
