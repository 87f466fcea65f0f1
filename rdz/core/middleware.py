"""Request checks that belong to no single view."""

from rdz.core.errors import error_response

NUL_IN_URL = "L'adresse contient un caractère nul (%00), refusé."


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
