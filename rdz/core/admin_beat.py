"""The beat schedules (django-celery-beat's admin, superusers only) in French, refusing what
beat cannot run.

The library's form saved headers typed as a JSON list, which then stopped beat for every
schedule; it saved unreadable headers and a task that then never ran, answered a server
error to a task name longer than its column or to emptied headers, and gave its schedule
rules, its crontab errors and its crontabs in plain words in English (« At 09:30 AM »).
"""

import json
import re

from cron_descriptor import (
    ExpressionDescriptor,
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
)
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django_celery_beat import validators as cron_validators
from django_celery_beat.admin import ClockedScheduleAdmin as BaseClockedScheduleAdmin
from django_celery_beat.admin import CrontabScheduleAdmin as BaseCrontabScheduleAdmin
from django_celery_beat.admin import IntervalScheduleAdmin as BaseIntervalScheduleAdmin
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm as BasePeriodicTaskForm
from django_celery_beat.admin import PeriodicTaskInline as BasePeriodicTaskInline
from django_celery_beat.admin import SolarScheduleAdmin as BaseSolarScheduleAdmin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from rdz.core.admin_mixins import SafeChangelistMixin

SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")

# The cron description's French translation keeps the day and month names of the process
# locale, English.
FRENCH_NAMES = {
    "Monday": "lundi",
    "Tuesday": "mardi",
    "Wednesday": "mercredi",
    "Thursday": "jeudi",
    "Friday": "vendredi",
    "Saturday": "samedi",
    "Sunday": "dimanche",
    "January": "janvier",
    "February": "février",
    "March": "mars",
    "April": "avril",
    "May": "mai",
    "June": "juin",
    "July": "juillet",
    "August": "août",
    "September": "septembre",
    "October": "octobre",
    "November": "novembre",
    "December": "décembre",
}
_NAMES = re.compile(r"\b(" + "|".join(FRENCH_NAMES) + r")\b")

CRONTAB_FIELD_ERRORS = {
    "minute": "Minutes invalides : de 0 à 59",
    "hour": "Heures invalides : de 0 à 23",
    "day_of_month": "Jours du mois invalides : de 1 à 31",
    "month_of_year": "Mois invalides : de 1 à 12",
    "day_of_week": "Jours de la semaine invalides : de 0 à 6 (0 = dimanche) ou mon…sun",
}
CRONTAB_FIELD_SYNTAX = ", « * », une liste (0,30), une plage (8-18) ou un pas (*/10)."


def crontab_description(crontab: CrontabSchedule | None) -> str:
    """A crontab in plain French words, with its time zone: « À 09:30 (Europe/Paris) »."""
    if crontab is None:
        return "—"
    parts = (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week)
    expression = " ".join(parts)
    options = Options()
    options.locale_code = "fr_FR"
    options.use_24hour_time_format = True
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError):
        text = expression
    return f"{_NAMES.sub(lambda m: FRENCH_NAMES[m.group(1)], text)} ({crontab.timezone})"


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


class TaskListFilter(admin.AllValuesFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "tâche"


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(SafeChangelistMixin, BasePeriodicTaskAdmin):
    form = PeriodicTaskForm

    list_display = ("name", "enabled", "schedule_display", "start_time", "last_run_at", "one_off")
    list_filter = ["enabled", "one_off", ("task", TaskListFilter), "start_time", "last_run_at"]
    change_form_template = "admin/django_celery_beat/periodictask/change_form.html"

    @admin.display(description="planification")
    def schedule_display(self, obj: PeriodicTask) -> str:
        if obj.crontab_id:
            return crontab_description(obj.crontab)
        return str(obj.scheduler or "—")

    @admin.display(description="en clair")
    def crontab_translation(self, obj: PeriodicTask) -> str:
        return crontab_description(obj.crontab)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The library's view puts its English descriptions in the context over any given here.
        extra_context = {
            **(extra_context or {}),
            "readable_crontabs": {c.pk: crontab_description(c) for c in CrontabSchedule.objects.all()},
        }
        return admin.ModelAdmin.changeform_view(self, request, object_id, form_url, extra_context)

    @admin.action(description="Lancer les tâches sélectionnées maintenant")
    def run_tasks(self, request, queryset):
        self.celery_app.loader.import_default_modules()
        unknown = [t.task for t in queryset if t.task not in self.celery_app.tasks]
        if unknown:
            self.message_user(
                request, f"Tâche « {unknown[0]} » inconnue des workers : rien n'a été lancé.", level=messages.ERROR
            )
            return
        for task in queryset:
            self.celery_app.tasks[task.task].apply_async(
                args=json.loads(task.args or "[]"),
                kwargs=json.loads(task.kwargs or "{}"),
                queue=task.queue or None,
                headers={"periodic_task_name": task.name},
            )
        count = len(queryset)
        self.message_user(request, f"{count} tâche{'s' if count > 1 else ''} lancée{'s' if count > 1 else ''}.")


class CrontabForm(forms.ModelForm):
    """Each cron field checked by the library's own rule, its error in French."""

    class Meta:
        model = CrontabSchedule
        fields = "__all__"  # noqa: DJ007 - the admin chooses the fields

    def _cron_field(self, name: str) -> str:
        value = self.cleaned_data[name]
        try:
            getattr(cron_validators, f"{name}_validator")(value)
        except ValidationError as exc:
            raise ValidationError(CRONTAB_FIELD_ERRORS[name] + CRONTAB_FIELD_SYNTAX) from exc
        return value

    def clean_minute(self):
        return self._cron_field("minute")

    def clean_hour(self):
        return self._cron_field("hour")

    def clean_day_of_month(self):
        return self._cron_field("day_of_month")

    def clean_month_of_year(self):
        return self._cron_field("month_of_year")

    def clean_day_of_week(self):
        return self._cron_field("day_of_week")


class PeriodicTaskInline(BasePeriodicTaskInline):
    fields = ("name", "task_name", "args", "kwargs")
    readonly_fields = fields
    verbose_name = "tâche utilisant cette planification"
    verbose_name_plural = "tâches utilisant cette planification"

    @admin.display(description="tâche")
    def task_name(self, obj: PeriodicTask) -> str:
        return obj.task


for model in (CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    admin.site.unregister(model)


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(SafeChangelistMixin, BaseCrontabScheduleAdmin):
    form = CrontabForm
    inlines = [PeriodicTaskInline]
    list_display = ("__str__", "description")
    fields = ("description", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("description",)

    @admin.display(description="en clair")
    def description(self, obj: CrontabSchedule) -> str:
        return crontab_description(obj) if obj.pk else "—"


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(SafeChangelistMixin, BaseIntervalScheduleAdmin):
    inlines = [PeriodicTaskInline]


@admin.register(SolarSchedule)
class SolarScheduleAdmin(SafeChangelistMixin, BaseSolarScheduleAdmin):
    inlines = [PeriodicTaskInline]


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(SafeChangelistMixin, BaseClockedScheduleAdmin):
    inlines = [PeriodicTaskInline]
