"""The beat schedules (django-celery-beat's admin, superusers only) refusing what beat cannot
run, in French.

The library's form saved headers typed as a JSON list, which then stopped beat for every
schedule; it saved unreadable headers and a task that then never ran, answered a server
error to a task name longer than its column or to emptied headers, and gave its schedule
rules in English.
"""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm as BasePeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from rdz.core.admin_mixins import SafeChangelistMixin

SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")


def _json_check(value: str, *, kind: type, example: str) -> str:
    """`value` as beat reads it (blank means none), or a French error."""
    if not value.strip():
        return "[]" if kind is list else "{}"
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValidationError(f"JSON illisible (ligne {exc.lineno}, colonne {exc.colno}).") from exc
    if not isinstance(parsed, kind):
        expected = "Une liste JSON est attendue" if kind is list else "Un objet JSON est attendu"
        raise ValidationError(f"{expected}, par exemple {example}.")
    return value


class PeriodicTaskForm(BasePeriodicTaskForm):
    def clean(self):
        # The library's clean() reads cleaned_data["task"], absent when the field was refused.
        data = forms.ModelForm.clean(self)
        if data.get("regtask"):
            data["task"] = data["regtask"]
        if not data.get("task") and "task" not in self.errors:
            self.add_error("task", "Indiquez la tâche à lancer : choisissez-la dans la liste ou saisissez son nom.")
        if data.get("expire_seconds") is not None and data.get("expires"):
            self.add_error("expire_seconds", "Une seule expiration : une date ou un nombre de secondes, pas les deux.")
        chosen = [name for name in SCHEDULE_FIELDS if data.get(name)]
        if not chosen:
            self.add_error(None, "Choisissez une planification : intervalle, crontab, événement solaire ou horaire.")
        elif len(chosen) > 1:
            for name in chosen:
                self.add_error(name, "Une seule planification par tâche : laissez les autres vides.")
        elif data.get("clocked") and not data.get("one_off"):
            self.add_error("one_off", "Une tâche à horaire fixe ne part qu'une fois : cochez « Tâche ponctuelle ».")
        return data

    def clean_args(self):
        return _json_check(self.cleaned_data["args"], kind=list, example='["valeur"]')

    def clean_kwargs(self):
        return _json_check(self.cleaned_data["kwargs"], kind=dict, example='{"nom": "valeur"}')

    def clean_headers(self):
        return _json_check(self.cleaned_data["headers"], kind=dict, example="{}")

    def validate_unique(self):
        # PeriodicTask.validate_unique() repeats the schedule rules of clean() in English:
        # only the uniqueness checks (the name) run here.
        try:
            models.Model.validate_unique(self.instance, exclude=self._get_validation_exclusions())
        except ValidationError as exc:
            self._update_errors(exc)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(SafeChangelistMixin, BasePeriodicTaskAdmin):
    form = PeriodicTaskForm
