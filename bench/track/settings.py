"""Settings of the track benchmark server: the project's settings plus the core
benchmark's bare-INSERT baseline route (bench/intake/urls.py), behind one (simulated)
proxy, and an in-memory broker (no worker runs)."""

from rdz.settings import *  # noqa: F403
from rdz.settings import REDIS_URL, REST_FRAMEWORK

ROOT_URLCONF = "bench.intake.urls"
# Each simulated visitor has its own address (X-Forwarded-For from one trusted proxy), so the
# per-IP throttles do their real work (a cache read and write) at their production rates.
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": 1}
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
