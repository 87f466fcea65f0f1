"""Celery application wired to Django; schedules live in django-celery-beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rdz.settings")

app = Celery("rdz")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
