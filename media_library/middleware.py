"""Response headers of the public image files that no view can set itself."""

from django.http import HttpRequest, HttpResponse
from django.utils.cache import cc_delim_re

# Set by `media_library.views.media_file` on the responses it serves.
LANGUAGE_INDEPENDENT = "language_independent"


class PublicFileVaryMiddleware:
    """Listed before LocaleMiddleware, so it sees the response after it: LocaleMiddleware
    adds `Vary: Accept-Language` and `Content-Language` to every response, but an image is
    the same in every language. With that Vary, a cache in front of the public URLs (CDN,
    proxy) keeps one copy per visitor language header, or none at all."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(response, LANGUAGE_INDEPENDENT, False):
            vary = [v for v in cc_delim_re.split(response.get("Vary", "")) if v and v.lower() != "accept-language"]
            if vary:
                response["Vary"] = ", ".join(vary)
            else:
                response.headers.pop("Vary", None)
            response.headers.pop("Content-Language", None)
        return response
