"""HTML forms of the media pages; rules live in services and images."""

from django import forms
from django.core.exceptions import ValidationError

from media_library.models import MediaEntity, MediaFormat
from media_library.services import media_change_refusal, media_entities_visible, media_entities_writable


def _entity_choices(values: list[str]) -> list[tuple[str, str]]:
    labels = dict(MediaEntity.choices)
    return [(value, labels[value]) for value in values]


def media_entity_field(*, user, label: str = "Entité") -> forms.ChoiceField:
    """The entity of a new image. It offers only the entities the account may file under, and
    says why shared is missing when it is; a shared image posted anyway (an old page, a
    script) gets that same reason rather than « Sélectionnez un choix valide »."""

    def writable(value: str) -> None:
        if reason := media_change_refusal(user=user, entity=value):
            raise ValidationError(reason, code="refused")

    offered = media_entities_writable(user)
    field = forms.ChoiceField(
        label=label,
        choices=_entity_choices(media_entities_visible(user)),
        validators=[writable],
        help_text="" if MediaEntity.SHARED in offered else media_change_refusal(user=user, entity=MediaEntity.SHARED),
    )
    field.widget.choices = _entity_choices(offered)
    return field


class MediaUploadForm(forms.Form):
    entity = forms.ChoiceField(label="Entité", choices=())
    tags = forms.CharField(label="Étiquettes", required=False, max_length=500, help_text="Séparées par des virgules.")
    alt_text = forms.CharField(
        label="Texte alternatif",
        required=False,
        max_length=300,
        help_text="Décrit l'image en français (par défaut : le titre, tiré du nom du fichier).",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entity"] = media_entity_field(user=user)


class MediaFilterForm(forms.Form):
    q = forms.CharField(label="Recherche", required=False, max_length=100)
    entity = forms.ChoiceField(label="Entité", required=False, choices=())
    tag = forms.CharField(label="Étiquette", required=False, max_length=50)
    format = forms.ChoiceField(label="Format", required=False, choices=[("", "Tous"), *MediaFormat.choices])

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entity"].choices = [("", "Toutes"), *_entity_choices(media_entities_visible(user))]


class MediaEditForm(forms.Form):
    title = forms.CharField(label="Titre", max_length=200)
    alt_text = forms.CharField(label="Texte alternatif", required=False, max_length=300)
    tags = forms.CharField(label="Étiquettes", required=False, max_length=500, help_text="Séparées par des virgules.")
