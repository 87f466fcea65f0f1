"""Entity scoping (§2), enforced here and nowhere else.

Every scoped model names the path to its entity in `ENTITY_FIELD` (default `"entity"`);
models whose rows may be shared by both entities set `ENTITY_SHARED_VALUE` (media).
Admin classes, views, exports and API views all go through `scope_queryset`; what an account
may file, change or delete under an entity value, through `entity_writable`.
"""

from django.db.models import Q, QuerySet

from rdz.core.entities import ALL_ENTITIES
from rdz.core.models import Role


def user_entities(user) -> frozenset[str]:
    """Entities the account may see; empty for anonymous or unprofiled accounts."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL_ENTITIES
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return frozenset()
    return profile.entities


def user_role(user) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    profile = getattr(user, "staff_profile", None)
    return profile.role if profile else None


def can_change(user) -> bool:
    """Admins and managers change data; viewers only read."""
    return user_role(user) in (Role.ADMIN, Role.MANAGER)


def is_account_admin(user) -> bool:
    return user_role(user) == Role.ADMIN


def entity_field(model) -> str:
    return getattr(model, "ENTITY_FIELD", "entity")


def scope_queryset(qs: QuerySet, user, entities: frozenset[str] | None = None) -> QuerySet:
    """Rows of `qs` the user may see. `entities` narrows further (entity switcher)."""
    allowed = user_entities(user)
    if entities is not None:
        allowed = allowed & frozenset(entities)
    if not allowed:
        return qs.none()
    model = qs.model
    field = entity_field(model)
    condition = Q(**{f"{field}__in": sorted(allowed)})
    shared = getattr(model, "ENTITY_SHARED_VALUE", None)
    if shared:
        condition |= Q(**{field: shared})
    return qs.filter(condition)


def entity_allowed(user, entity: str) -> bool:
    return entity in user_entities(user)


def entity_writable(user, model, value: str) -> bool:
    """Whether the account's entities let it file, change or delete a row of `model` under
    `value` (its role is `can_change`'s part). Every account reads shared rows, but the
    other entity relies on them too (its landing pages show a shared image): only an account
    that covers every entity, or a superuser, writes one (§2)."""
    allowed = user_entities(user)
    shared = getattr(model, "ENTITY_SHARED_VALUE", None)
    if shared and value == shared:
        return allowed >= ALL_ENTITIES
    return value in allowed
