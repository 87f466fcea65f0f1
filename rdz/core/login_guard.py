"""Password guessing: every way in with a password (the back-office login, the admin login,
HTTP Basic on the staff API) goes through `GuardedModelBackend`, which counts failures per
account name and address, and per address, in the cache (a count lives until a window
passes without failure).

Past a limit, the password is not even checked for a whole window: the login pages say
so in French (`LoginForm`), the API answers as for a wrong password. A cache that is down
or silent (bounded by its socket timeouts) does not lock staff out: the guard then lets the
password be checked, uncounted, and says so in the log.
"""

import hashlib
import logging
import math
import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from rdz.core.throttling import CACHE_ERRORS, _window_count, client_address_key

logger = logging.getLogger(__name__)

INVALID_LOGIN = "Identifiant ou mot de passe incorrect. Les deux champs tiennent compte de la casse."


def _keys(request, username: str) -> list[tuple[str, int]]:
    # The address as the API throttles see it (NUM_PROXIES decides whether X-Forwarded-For
    # counts; an IPv6 address stands for its /64 network).
    address = (client_address_key(request) if request is not None else None) or "-"
    account = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return [
        (f"login-fail:{account}:{address}", settings.LOGIN_FAILURE_LIMIT),
        (f"login-fail-ip:{address}", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
    ]


def login_wait_seconds(request, username: str) -> int:
    """Seconds before `username` may try again from this address (0: it may try now)."""
    try:
        until = cache.get_many([f"{key}:blocked" for key, _limit in _keys(request, username)]).values()
    except CACHE_ERRORS:
        logger.warning("login guard: cache unavailable, login not limited", exc_info=True)
        return 0
    wait = max(until, default=0) - time.time()
    return math.ceil(wait) if wait > 0 else 0


def login_failure_record(request, username: str) -> None:
    """Count a failure; the one that reaches a limit blocks for a whole window from now."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    try:
        for key, limit in _keys(request, username):
            if _window_count(key, window) >= limit:
                cache.set(f"{key}:blocked", time.time() + window, window)
    except CACHE_ERRORS:
        logger.warning("login guard: cache unavailable, failure not counted", exc_info=True)


def login_blocked_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Trop de tentatives de connexion échouées : réessayez dans {minutes} minute{'s' if minutes > 1 else ''}."


class GuardedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        name = name if isinstance(name, str) else ""
        wait = login_wait_seconds(request, name)
        if wait:
            raise PermissionDenied(login_blocked_message(wait))  # stops authenticate(): no password check
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(request, name)
        return user


class GuardedLoginMixin:
    """Says in French that the account is blocked for a while, instead of "wrong password"."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        wait = login_wait_seconds(self.request, username)
        if wait:
            raise forms.ValidationError(login_blocked_message(wait), code="throttled")
        return super().clean()


class LoginForm(GuardedLoginMixin, AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": INVALID_LOGIN}


class AdminLoginForm(GuardedLoginMixin, AdminAuthenticationForm):
    pass
