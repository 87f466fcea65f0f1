"""RDZ settings, read from the environment only (django-environ, `.env` optional).

Safe local defaults: SQLite file, a filesystem Celery broker, e-mails written to files.
Production (`DEBUG=False`) refuses to start without `SECRET_KEY`.
"""

import math
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)


class StrictEnv(environ.Env):
    """django-environ, strict about values: one that does not parse stops the start with a
    message naming the variable. Left to itself, django-environ raises a bare ValueError (or
    a KeyError for a DATABASE_URL without a scheme), reads « Flase » or « oui » as False,
    and keeps the digits of « 10s »."""

    BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")

    @staticmethod
    def refuse(var: str, value: str | None, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{var} : valeur « {StrictEnv.password_masked(value)} » refusée, {expected}.")

    @staticmethod
    def password_masked(value: str | None) -> str | None:
        """`value` with the password of its URL masked: the message of a refused value ends in
        the container's or the CI's log. Everything before the last « @ » is hidden when no
        « scheme:// » says where the user name ends."""
        if value is None or "@" not in value:
            return value
        head, _, host = value.rpartition("@")
        scheme, sep, userinfo = head.partition("://")
        if not sep:
            return f"••••@{host}"
        user, colon, _ = userinfo.partition(":")
        return f"{scheme}://{user}{':••••' if colon else ''}@{host}"

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        raw = self.ENVIRON.get(var)
        if raw is None or cast not in (bool, int, float):
            try:
                return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
            except ValueError as exc:  # JSON that does not parse
                raise self.refuse(var, raw, f"illisible ({exc})") from exc
        text = raw.strip()
        if cast is bool:
            if text.lower() in self.BOOLEAN_TRUE_STRINGS:
                return True
            if text.lower() in self.BOOLEAN_FALSE_STRINGS:
                return False
            raise self.refuse(var, raw, "True ou False attendu")
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise self.refuse(var, raw, "nombre entier attendu" if cast is int else "nombre attendu")
        return value

    def int(self, var, default=environ.Env.NOTSET, *, minimum: int = 0) -> int:
        value = super().int(var, default=default)
        if value < minimum:
            raise self.refuse(var, str(value), f"nombre entier d'au moins {minimum} attendu")
        return value

    def float(self, var, default=environ.Env.NOTSET, *, minimum: float = 0.0) -> float:
        value = super().float(var, default=default)
        if value < minimum:
            raise self.refuse(var, str(value), f"nombre d'au moins {minimum:g} attendu")
        return value

    def url_with_scheme(self, var: str, *, default: str, schemes: tuple[str, ...]) -> str:
        """The value when it is empty or an URL of one of `schemes` (a web address with its host)."""
        value = self.str(var, default=default)
        parts = urlsplit(value)
        if value and (parts.scheme not in schemes or (parts.scheme in ("http", "https") and not parts.hostname)):
            raise self.refuse(var, value, f"URL {' ou '.join(f'{s}://…' for s in schemes)} attendue")
        return value

    def database(self, var: str, *, default: str) -> dict:
        value = self.str(var, default=default)
        config = self.db_url_config(value) if "://" in value else {}
        if config.get("ENGINE") not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
            raise self.refuse(
                var, value, "URL postgres://utilisateur:motdepasse@hôte:5432/base ou sqlite:///chemin attendue"
            )
        return config

    def config_url(self, var: str, parse, *, default: str, expected: str) -> dict:
        """A cache or e-mail URL read by django-environ, its error naming the variable."""
        value = self.str(var, default=default)
        try:
            return parse(value)
        except ImproperlyConfigured as exc:  # django-environ's "Invalid email schema …"
            raise self.refuse(var, value, f"schéma inconnu, {expected}") from exc

    def rate(self, var: str, *, default: str) -> str:
        """A DRF throttle rate, « 600/min » (empty: no limit)."""
        value = self.str(var, default=default).strip()
        if value and not re.fullmatch(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
            raise self.refuse(var, value, "débit « nombre/s », « /min », « /hour » ou « /day » attendu (ex. 600/min)")
        return value


env = StrictEnv()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file))

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY est obligatoire quand DEBUG=False.")
    SECRET_KEY = "insecure-local-development-key-change-me-0123456789abcdefghijklmnop"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL used in links sent outside (rejection links in e-mails, snippets).
SITE_URL = env.url_with_scheme("SITE_URL", default="http://127.0.0.1:8000", schemes=("https", "http")).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "rdz.core",
    "leads",
    "providers",
    "commandes",
    "routing",
    "media_library",
]

MIDDLEWARE = [
    # Before SecurityMiddleware: the container healthcheck is neither HTTPS nor an allowed host.
    "rdz.core.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "rdz.core.middleware.RefuseNulInUrlMiddleware",
    "rdz.core.middleware.ApiTrailingSlashMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before LocaleMiddleware: removes its Vary: Accept-Language from public image files.
    "media_library.middleware.PublicFileVaryMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After WhiteNoise (static files never reach it): pages of signed-in accounts are not cached.
    "rdz.core.middleware.PrivateNoStoreMiddleware",
]

ROOT_URLCONF = "rdz.urls"
WSGI_APPLICATION = "rdz.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rdz.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialize writers, so the quota and duplicate checks done
    # inside `transaction.atomic()` cannot interleave on SQLite (no row locks there).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not :memory:) so a Celery worker process can share the test database.
    _suffix = env.str("TEST_DB_SUFFIX", default="")
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test_rdz{_suffix}.sqlite3")
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# The intake's hot statements are prepared on the PostgreSQL connection (rdz.core.fastsql);
# turn off behind a transaction-mode pooler (PgBouncer) that cannot keep them.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling, circuit breakers) -------------------------------------------
REDIS_URL = env.url_with_scheme("REDIS_URL", default="", schemes=("redis", "rediss", "unix"))
# Socket timeouts, as for the broker: a Redis that accepts connections but never answers
# would otherwise hold every request that throttles (the intake) for ever. Cache calls
# take well under a millisecond; after these, the call fails and the throttle lets the
# request through uncounted (rdz.core.throttling).
REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
if env.str("CACHE_URL", default=""):
    CACHES = {
        "default": env.config_url(
            "CACHE_URL", environ.Env.cache_url_config, default="", expected="URL redis://hôte:6379/0 attendue"
        )
    }
elif REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing (rdz.core.login_guard): failures counted per account name and address,
# and per address; past a limit, logins wait LOGIN_FAILURE_WINDOW_SECONDS.
AUTHENTICATION_BACKENDS = ["rdz.core.login_guard.GuardedModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=30, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60, minimum=1)
LOGIN_URL = "/connexion/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/connexion/"

# --- i18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "fr-fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Daily delivery CSVs (personal data): outside MEDIA_ROOT, downloaded only through the admin.
DELIVERY_ROOT = env.path("DELIVERY_ROOT", default=str(VAR_DIR / "deliveries"))
# Client HTTP endpoints (set by staff) on loopback, private or link-local addresses: refused
# in production (a client URL must not reach RDZ's own network: Redis, metadata services…);
# allowed with DEBUG, where the demo and the tests post to 127.0.0.1.
DELIVERY_PRIVATE_HOSTS_ALLOWED = env.bool("DELIVERY_PRIVATE_HOSTS_ALLOWED", default=DEBUG)
# Media library (§13): public base of the stable image URLs pasted in landing pages
# (a CDN or the web server serving MEDIA_ROOT/library/), and whether Django itself serves
# /media/library/ (with long cache headers) when no web server sits in front.
MEDIA_PUBLIC_URL = env.str("MEDIA_PUBLIC_URL", default=f"{SITE_URL}{MEDIA_URL}")
MEDIA_SERVE = env.bool("MEDIA_SERVE", default=True)
# Upload limits: bytes per file (checked before reading the body), decoded pixels,
# width/height and GIF/WebP frames (decompression bombs are refused).
MEDIA_MAX_UPLOAD_BYTES = env.int("MEDIA_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024, minimum=1)
MEDIA_MAX_PIXELS = env.int("MEDIA_MAX_PIXELS", default=40_000_000, minimum=1)
MEDIA_MAX_WIDTH = env.int("MEDIA_MAX_WIDTH", default=10_000, minimum=1)
MEDIA_MAX_HEIGHT = env.int("MEDIA_MAX_HEIGHT", default=10_000, minimum=1)
MEDIA_MAX_FRAMES = env.int("MEDIA_MAX_FRAMES", default=200, minimum=1)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Bodies above this size are refused (413) before parsing: a lead is a few hundred bytes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024, minimum=1)

# --- E-mail: one SMTP account per entity (§10) ---------------------------------------
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mails"))

_EMAIL_URL_EXPECTED = "URL smtp+tls://utilisateur:motdepasse@hôte:587, consolemail:// ou filemail:// attendue"
_default_email = env.config_url(
    "EMAIL_URL", environ.Env.email_url_config, default="filemail://", expected=_EMAIL_URL_EXPECTED
)


def _email_config(prefix: str) -> dict:
    url = env.str("EMAIL_URL", default="filemail://")
    config = env.config_url(
        f"{prefix}_EMAIL_URL", environ.Env.email_url_config, default=url, expected=_EMAIL_URL_EXPECTED
    )
    config["FROM"] = env.str(f"{prefix}_EMAIL_FROM", default=f"{prefix.lower()}@rdz.local")
    return config


ENTITY_EMAIL = {"ZR7": _email_config("ZR7"), "MDL": _email_config("MDL")}
EMAIL_BACKEND = _default_email["EMAIL_BACKEND"]
for _key in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL"):
    if _key in _default_email:
        globals()[_key] = _default_email[_key]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="rdz@rdz.local")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20, minimum=1)

# --- Celery ---------------------------------------------------------------------------
# The local broker's URL names a host only so that kombu does not warn it has none.
CELERY_BROKER_URL = env.url_with_scheme(
    "CELERY_BROKER_URL",
    default=REDIS_URL or "filesystem://localhost/",
    schemes=("redis", "rediss", "filesystem", "memory"),
)
BROKER_IS_FILESYSTEM = CELERY_BROKER_URL.startswith("filesystem://")
if BROKER_IS_FILESYSTEM:
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange table (worker control, pidbox): kombu puts it in ./control otherwise.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # How often an idle worker looks for new messages (kombu's default: 1 s).
        "polling_interval": env.float("CELERY_FILESYSTEM_POLLING_INTERVAL", default=0.1, minimum=0.01),
    }
else:
    # visibility_timeout: an unacked message (worker killed) is redelivered after this.
    # Socket timeouts: without them a Redis that accepts the connection but never answers
    # (hung, half-open network path) blocks the enqueue after commit for ever, and with it
    # the intake request; with them the enqueue fails in seconds and the sweeper sends later.
    # Above the worker's 1 s BRPOP, so an idle worker never times out.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
        "socket_connect_timeout": 3,
        "socket_timeout": 5,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Reliability: ack after the task ran, requeue if the worker dies, bounded run time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if BROKER_IS_FILESYSTEM:
    # The filesystem transport has no asynchronous loop: the worker takes its prefetch
    # count of messages, then waits 2 s before acknowledging them and taking more. At 1
    # per process, a hundred queued tasks (the demo's CRM forwardings) would hold a new
    # lead's forwarding for a minute. The transport deletes a message file when it reads
    # it, so a larger prefetch risks nothing more on a killed worker: the outbox sweeper
    # re-sends what was not done, whatever the broker.
    CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_FILESYSTEM_PREFETCH_MULTIPLIER", default=25, minimum=1)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
# The soft limit lets a task stop cleanly before the hard one kills it; a task still running
# when Redis's visibility timeout expires is handed to a second worker while it runs.
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_TASK_SOFT_TIME_LIMIT doit être positif et inférieur à CELERY_TASK_TIME_LIMIT "
        f"({CELERY_TASK_SOFT_TIME_LIMIT} ≥ {CELERY_TASK_TIME_LIMIT})."
    )
_visibility = None if BROKER_IS_FILESYSTEM else CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
if _visibility is not None and _visibility <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT doit dépasser CELERY_TASK_TIME_LIMIT "
        f"({_visibility} ≤ {CELERY_TASK_TIME_LIMIT}) : sinon Redis "
        "confie une tâche encore en cours à un second worker."
    )
CELERY_TASK_DEFAULT_RETRY_DELAY = 30
CELERY_TASK_ANNOTATIONS = {"*": {"max_retries": 5}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    # Basic first: DRF takes the 401 challenge (WWW-Authenticate) from the first class and the
    # session has none, which would answer a call without any credentials 403, like an account
    # without the right. Without an Authorization header Basic steps aside for the session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rdz.core.api.SizeLimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rdz.core.api.exception_handler",
    # Client IP for the per-IP throttles: the address of the peer unless NUM_PROXIES trusted
    # proxies sit in front (then the matching X-Forwarded-For entry); never a spoofable header.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_THROTTLE_RATES": {
        "provider": env.rate("THROTTLE_PROVIDER", default="600/min"),
        "form_ip": env.rate("THROTTLE_FORM_IP", default="30/min"),
        "track_ip": env.rate("THROTTLE_TRACK_IP", default="300/min"),
    },
}
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"
SPECTACULAR_SETTINGS = {
    "TITLE": "RDZ API",
    "DESCRIPTION": "API d'intégration des leads RDZ (providers, formulaires, statistiques).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the entity choices wherever a schema shows them (lead result, stats).
    "ENUM_NAME_OVERRIDES": {"EntityEnum": "rdz.core.entities.Entity", "LeadStatusEnum": "leads.models.LeadStatus"},
}

# --- CORS: only the public form endpoints, per form's allowed origins (§11) ----------
CORS_URLS_REGEX = r"^/api/v1/(forms/[^/]+/submit|track)/\Z"
CORS_ALLOW_CREDENTIALS = False

# --- CRM forwarding of form leads (§11): one connector per company CRM ---------------
# Field maps are JSON objects {"rdz field": "CRM field"} merged over routing.crm defaults.
CRM_AUTH_HEADER = env.str("CRM_AUTH_HEADER", default="X-API-Key")
CRM_TIMEOUT = env.float("CRM_TIMEOUT", default=10.0)
CRM_CONNECTORS = {
    entity: {
        "url": env.str(f"CRM_{entity}_URL", default=""),
        "auth_header": env.str(f"CRM_{entity}_AUTH_HEADER", default=CRM_AUTH_HEADER),
        "timeout": env.float(f"CRM_{entity}_TIMEOUT", default=CRM_TIMEOUT),
        "field_map": env.json(f"CRM_{entity}_FIELD_MAP", default={}),
    }
    for entity in ("ZR7", "MDL")
}
CRM_MAX_ATTEMPTS = env.int("CRM_MAX_ATTEMPTS", default=5, minimum=1)  # per CRM, before the fallback
CRM_RETRY_BASE_SECONDS = env.float("CRM_RETRY_BASE_SECONDS", default=30)  # backoff 30 s, 60 s, 120 s…
CRM_RETRY_HORIZON_HOURS = env.int("CRM_RETRY_HORIZON_HOURS", default=72, minimum=1)  # beat re-tries failures this long

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
