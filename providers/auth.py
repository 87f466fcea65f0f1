"""DRF authentication, permission and throttle for provider API keys (`X-API-Key`)."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from providers.services import provider_authenticate


class ProviderPrincipal:
    """The `request.user` of a provider call: authenticated, never staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, provider):
        self.provider = provider
        self.pk = None

    def __str__(self) -> str:
        return f"provider:{self.provider.slug}"


class ProviderKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = request.META.get("HTTP_X_API_KEY", "").strip()
        if not key:
            raise NotAuthenticated("Clé API manquante (en-tête X-API-Key).")
        provider = provider_authenticate(key=key)
        if provider is None:
            raise AuthenticationFailed("Clé API invalide.")
        return ProviderPrincipal(provider), provider

    def authenticate_header(self, request):
        return "X-API-Key"


class IsActiveProvider(BasePermission):
    message = "Provider inactif."

    def has_permission(self, request, view):
        return bool(request.auth is not None and getattr(request.auth, "active", False))


class ProviderRateThrottle(SimpleRateThrottle):
    scope = "provider"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
