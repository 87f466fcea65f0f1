"""Error pages: French HTML for people, JSON for API clients (`{"detail": …}`, and for a 400
the `{"non_field_errors": […]}` of §15).

Django's defaults are English (and a bare « 403 Forbidden »). Paths under /api/ and the
tracking script answer JSON, like the API's own errors (DRF); every other path renders
`errors/page.html`, a standalone page (no sidebar, no database read: it must render
even when the database is what failed). The CSRF failure page is `403_csrf.html`.
"""

from django.http import HttpResponse, JsonResponse
from django.template import loader

MESSAGES = {
    400: ("Requête invalide", "La requête envoyée n'a pas pu être comprise."),
    403: ("Accès refusé", "Votre compte n'a pas accès à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas, ou elle n'est pas visible depuis votre compte."),
    500: (
        "Erreur du serveur",
        "Une erreur inattendue s'est produite. L'équipe technique en est informée ; réessayez dans un instant.",
    ),
}
API_DETAILS = {400: "Requête invalide.", 403: "Accès refusé.", 404: "Introuvable.", 500: "Erreur interne du serveur."}


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/t/"))


def error_response(request, status: int, reason: str = "") -> HttpResponse:
    if _is_api(request):
        message = reason or API_DETAILS[status]
        # §15: an API client reads every 400 as {"field": ["message", …]}, like the views' own.
        body = {"non_field_errors": [message]} if status == 400 else {"detail": message}
        return JsonResponse(body, status=status)
    title, message = MESSAGES[status]
    message = reason or message
    html = loader.get_template("errors/page.html").render({"status": status, "title": title, "message": message})
    return HttpResponse(html, status=status)


def bad_request(request, exception=None):
    return error_response(request, 400)


def permission_denied(request, exception=None):
    # RDZ's own refusals say why, in French (« Votre compte est en lecture seule. »).
    return error_response(request, 403, reason=str(exception or ""))


def page_not_found(request, exception=None):
    return error_response(request, 404)


def server_error(request):
    return error_response(request, 500)
