"""Plumbing shared by every back-office page: who may enter, which entities a page shows
(the account's entities narrowed by the entity switcher), who may change data, and a
paginator that never counts the whole table.

Scoping itself stays in rdz.core.scoping; this module only decides which `entities` to
pass to `scope_queryset`.
"""

from dataclasses import dataclass

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from rdz.core.entities import Entity
from rdz.core.scoping import can_change, is_account_admin, scope_queryset, user_entities

SESSION_ENTITY_KEY = "backoffice_entity"


def selected_entities(request: HttpRequest) -> frozenset[str]:
    """The account's entities, narrowed to the one chosen in the switcher (session)."""
    allowed = user_entities(request.user)
    chosen = request.session.get(SESSION_ENTITY_KEY)
    if chosen in allowed:
        return frozenset([chosen])
    return allowed


def entity_choose(request: HttpRequest, entity: str) -> None:
    """Remember the switcher choice; an entity outside the account's scope means "all mine"."""
    if entity in user_entities(request.user):
        request.session[SESSION_ENTITY_KEY] = entity
    else:
        request.session.pop(SESSION_ENTITY_KEY, None)


def entities_from_param(request: HttpRequest, value: str | None) -> frozenset[str]:
    """A page's `entity` filter, never wider than the switcher selection."""
    selection = selected_entities(request)
    if value in Entity.values:
        return selection & frozenset([value])
    return selection


class StaffRequiredMixin(LoginRequiredMixin):
    """Back-office page: logged in and scoped to at least one entity.

    POST (and other unsafe methods) need a role that may change data (viewers: 403);
    `admin_only` pages need an account admin for every method, `admin_only_changes`
    only for changes.
    """

    admin_only = False
    admin_only_changes = False
    read_only_post = False  # POST that changes no data (e.g. a search form)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not user_entities(request.user):
            raise PermissionDenied("Ce compte n'a accès à aucune entité.")
        if self.admin_only and not is_account_admin(request.user):
            raise PermissionDenied("Réservé aux administrateurs.")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not self.read_only_post:
            if not can_change(request.user):
                raise PermissionDenied("Votre compte est en lecture seule.")
            if self.admin_only_changes and not is_account_admin(request.user):
                raise PermissionDenied("Réservé aux administrateurs.")
        self.entities = selected_entities(request)
        return super().dispatch(request, *args, **kwargs)

    def scoped(self, qs: QuerySet, entities: frozenset[str] | None = None) -> QuerySet:
        return scope_queryset(qs, self.request.user, entities=self.entities if entities is None else entities)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_change"] = can_change(self.request.user)
        context["is_account_admin"] = is_account_admin(self.request.user)
        context["entities"] = sorted(self.entities)
        return context


@dataclass
class LightPage:
    """One page of results without COUNT(*): fetch one row more to know if a next page exists."""

    object_list: list
    number: int
    has_next: bool
    per_page: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.object_list)


def light_paginate(qs, page: str | int | None, per_page: int = 50) -> LightPage:
    try:
        number = max(1, min(int(page or 1), 10_000))
    except (TypeError, ValueError):
        number = 1
    offset = (number - 1) * per_page
    rows = list(qs[offset : offset + per_page + 1])
    return LightPage(rows[:per_page], number, len(rows) > per_page, per_page)


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus `names` (to build pagination and filter links)."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def id_param(raw: str | None) -> int | None:
    """A database id typed in a URL or a form, or None when it is not one.

    `str.isdigit()` alone is not enough: « ² » is a digit that int() refuses, and an id past
    64 bits makes SQLite raise instead of finding nothing.
    """
    if not raw or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 0 < value <= 2**63 - 1 else None


def posted_object_or_404(qs: QuerySet, request: HttpRequest, name: str):
    """The object of `qs` whose id the POST field `name` holds; 404 when the field is missing,
    is not an id (a hand-made request: the ORM would raise on « abc »), or names no object
    of `qs` (already scoped by the caller)."""
    pk = id_param(request.POST.get(name))
    if pk is None:
        raise Http404("Objet introuvable.")
    return get_object_or_404(qs, pk=pk)
