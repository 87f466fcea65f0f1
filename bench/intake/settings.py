"""Settings of the intake benchmark server: the project's settings plus the bare-INSERT
baseline route (bench/intake/urls.py), throttles out of the way, in-memory broker."""

from rdz.settings import *  # noqa: F403
from rdz.settings import REDIS_URL, REST_FRAMEWORK

ROOT_URLCONF = "bench.intake.urls"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"provider": "100000000/min", "form_ip": "100000000/min", "track_ip": "100000000/min"},
}
# The throttle still counts in the cache (Redis when REDIS_URL is set, as in production).
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
