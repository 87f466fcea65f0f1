"""HTML forms of the media pages; rules live in services and images."""

from django import forms

from media_library.models import MediaEntity, MediaFormat
from media_library.services import media_entities_for


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
        labels = dict(MediaEntity.choices)
        self.fields["entity"].choices = [(value, labels[value]) for value in media_entities_for(user)]


class MediaFilterForm(forms.Form):
    q = forms.CharField(label="Recherche", required=False, max_length=100)
    entity = forms.ChoiceField(label="Entité", required=False, choices=())
    tag = forms.CharField(label="Étiquette", required=False, max_length=50)
    format = forms.ChoiceField(label="Format", required=False, choices=[("", "Tous"), *MediaFormat.choices])

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(MediaEntity.choices)
        self.fields["entity"].choices = [("", "Toutes")] + [
            (value, labels[value]) for value in media_entities_for(user)
        ]


class MediaEditForm(forms.Form):
    title = forms.CharField(label="Titre", max_length=200)
    alt_text = forms.CharField(label="Texte alternatif", required=False, max_length=300)
    tags = forms.CharField(label="Étiquettes", required=False, max_length=500, help_text="Séparées par des virgules.")
