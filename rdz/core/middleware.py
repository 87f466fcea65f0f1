"""Request checks that belong to no single view."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import is_valid_path
from django.utils.cache import add_never_cache_headers

from rdz.core.errors import error_response

NUL_IN_URL = "L'adresse contient un caractère nul (%00), refusé."
HEALTH_PATH = "/sante/"


class HealthCheckMiddleware:
    """`GET /sante/` answers 200 « ok » whatever the Host header and the scheme.

    The container healthcheck (docker-compose.yml) calls the server from inside, on
    http://127.0.0.1:8000: a production ALLOWED_HOSTS refuses that host (400) and
    SECURE_SSL_REDIRECT sends it to https (a redirect it cannot follow), so any other page
    would mark a correctly configured server unhealthy. First in MIDDLEWARE, before both
    checks; it reads nothing and reveals nothing.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return HttpResponse("ok", content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RefuseNulInUrlMiddleware:
    """400 for a URL whose path or query string holds a NUL character.

    No database text column can hold NUL, so a filter built from such a parameter — any of
    the admin's list filters, a search box — would fail in PostgreSQL with an error (a 500).
    No legitimate link carries one; refusing them here covers every page at once. Form
    bodies need no such check: Django's and DRF's text fields refuse NUL themselves, and the
    JSON parser refuses it too (`rdz.core.api`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.path:
            return error_response(request, 400, reason=NUL_IN_URL)
        return self.get_response(request)


class ApiTrailingSlashMiddleware:
    """The API's addresses end with a slash (§15). Without this, a client posting to
    `/api/v1/leads` would get CommonMiddleware's 301 to `/api/v1/leads/`, which HTTP clients
    follow as a GET (a 405, or a redirect they do not follow): the lead would be lost. Under
    /api/, a path missing its final slash whose slashed form exists is served as that form,
    without a redirect. Placed before CorsMiddleware, which matches the slashed path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/api/") and not path.endswith("/"):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf) and is_valid_path(f"{path}/", urlconf):
                request.path_info = f"{path}/"
                request.path = f"{request.path}/"
        return self.get_response(request)


class PrivateNoStoreMiddleware:
    """Answers to a request that carries credentials (a session cookie, an Authorization
    header, a provider's X-API-Key) may hold personal data — lead lists and pages, exports,
    CSV batches, the staff API, a provider's lead: `Cache-Control: no-store, private`, as the Django admin sends, so that neither the
    browser (Back after logging out of a shared computer) nor a proxy keeps them.

    Views that state their own caching keep it (public images, the tracking script). The
    credentials are only looked at, never checked: no session is loaded for this.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control") and (
            settings.SESSION_COOKIE_NAME in request.COOKIES
            or "HTTP_AUTHORIZATION" in request.META
            or "HTTP_X_API_KEY" in request.META
        ):
            add_never_cache_headers(response)
        return response
