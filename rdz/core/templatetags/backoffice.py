"""Sidebar (§13 categories, current page highlighted), entity switcher and small filters."""

import datetime
import functools

from django import template
from django.http import QueryDict
from django.urls import resolve

from rdz.core.backoffice import selected_entities
from rdz.core.scoping import is_account_admin, user_entities, user_role

register = template.Library()

# §13: categories and entries, in this order.
SIDEBAR = [
    (
        "Acquisition",
        [
            ("Formulaires", "/formulaires/"),
            ("Scripts de tracking", "/scripts/"),
            ("Providers", "/providers/"),
            ("Médias", "/medias/"),
        ],
    ),
    (
        "Distribution",
        [
            ("Clients", "/clients/"),
            ("Commandes", "/commandes/"),
            ("Livraisons", "/livraisons/"),
            ("Lead Backlog", "/backlog/"),
            ("Rejets", "/rejets/"),
        ],
    ),
    (
        "Pilotage",
        [
            ("Tableau de bord", "/"),
            ("Statistiques", "/statistiques/"),
            ("Alertes", "/alertes/"),
        ],
    ),
    (
        "Administration",
        [
            ("Paramètres", "/parametres/"),
            ("Comptes", "/comptes/"),
        ],
    ),
]

# Pages reached from a sidebar entry keep that entry highlighted.
ALIASES = {"/leads/": "/"}


def _active_href(path: str) -> str:
    best = ""
    for _, items in SIDEBAR:
        for _, href in items:
            if href != "/" and path.startswith(href) and len(href) > len(best):
                best = href
    if best:
        return best
    for prefix, href in ALIASES.items():
        if path.startswith(prefix):
            return href
    return "/" if path == "/" else ""


@functools.cache
def _admin_only_hrefs() -> frozenset[str]:
    """Entries whose view is `admin_only` (StaffRequiredMixin): hidden from the other roles."""
    return frozenset(
        href
        for _, items in SIDEBAR
        for _, href in items
        if getattr(getattr(resolve(href).func, "view_class", None), "admin_only", False)
    )


@register.inclusion_tag("backoffice/_sidebar.html", takes_context=True)
def backoffice_sidebar(context):
    request = context["request"]
    active = _active_href(request.path)
    hidden = frozenset() if is_account_admin(request.user) else _admin_only_hrefs()
    groups = [
        {
            "title": title,
            "items": [
                {"label": label, "href": href, "active": href == active} for label, href in items if href not in hidden
            ],
        }
        for title, items in SIDEBAR
    ]
    return {"groups": groups}


@register.inclusion_tag("backoffice/_entity_switcher.html", takes_context=True)
def entity_switcher(context):
    request = context["request"]
    allowed = sorted(user_entities(request.user))
    selected = selected_entities(request)
    return {
        "request": request,
        "allowed": allowed,
        "show": len(allowed) > 1,
        "current": next(iter(selected)) if len(selected) == 1 else "",
        "role": user_role(request.user),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag(takes_context=True)
def url_with(context, **kwargs):
    """The current query string with some parameters replaced (pagination, sorting)."""
    params: QueryDict = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def duration(value) -> str:
    """timedelta → « 2 j 3 h », « 4 min 05 s », « 12 s », « 0,3 s » (a tenth under 10 s, so
    that 0,96 s and 1,02 s both read « 1,0 s »)."""
    if not isinstance(value, datetime.timedelta):
        return ""
    seconds = value.total_seconds()
    if seconds < 9.95:
        return f"{seconds:.1f} s".replace(".", ",")
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def percent(value, total) -> str:
    try:
        return f"{round(100 * value / total)} %" if total else "—"
    except (TypeError, ZeroDivisionError):
        return "—"


@register.filter
def pluriel(value, suffix: str = "s") -> str:
    """French plural ending: none for 0 and 1 (« 0 alerte active », « 1 lead reçu »), where
    Django's `pluralize` follows English (« 0 alertes », « 1 leads »)."""
    try:
        return suffix if abs(int(value)) >= 2 else ""
    except (TypeError, ValueError):
        return ""


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None
