"""DRF authentication, permission and throttle for provider API keys (`X-API-Key`)."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission

from providers.services import provider_authenticate
from rdz.core.throttling import FixedWindowThrottle


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


class ProviderRateThrottle(FixedWindowThrottle):
    """Per provider (rate `provider` of DEFAULT_THROTTLE_RATES), fixed windows in the cache."""

    scope = "provider"

    def throttle_ident(self, request) -> str | None:
        return None if request.auth is None else f"provider-{request.auth.pk}"
