"""Staff accounts (§2): account admins create and edit sub-accounts within their own
entities, with a role (admin / manager / viewer). Every change is audited."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from rdz.core.models import EntityScope, StaffProfile
from rdz.core.scoping import is_account_admin, user_entities
from rdz.core.services import CoreError, audit_log

User = get_user_model()


def scope_entities(scope: str) -> frozenset[str]:
    return frozenset(["ZR7", "MDL"]) if scope == EntityScope.BOTH else frozenset([scope])


def scopes_for(actor) -> list[str]:
    """Scopes the actor may give: only within the actor's own entities."""
    mine = user_entities(actor)
    return [s for s in EntityScope.values if scope_entities(s) <= mine]


def staff_accounts_for(actor):
    """Accounts the actor manages: profiled, non-superuser, scope within the actor's entities."""
    if not is_account_admin(actor):
        return User.objects.none()
    return (
        User.objects.filter(staff_profile__scope__in=scopes_for(actor), is_superuser=False)
        .select_related("staff_profile")
        .order_by("username")
    )


def _check(actor, *, scope: str, target=None) -> None:
    if not is_account_admin(actor):
        raise CoreError("Seuls les administrateurs gèrent les comptes.")
    if scope not in scopes_for(actor):
        raise CoreError("Vous ne pouvez pas donner accès à une entité qui n'est pas la vôtre.")
    if target is not None and not staff_accounts_for(actor).filter(pk=target.pk).exists():
        raise CoreError("Ce compte n'est pas dans votre périmètre.")


def _password_check(password: str, user) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CoreError(" ".join(exc.messages), field="password1") from exc


@transaction.atomic
def staff_account_create(
    *,
    actor,
    username: str,
    password: str,
    scope: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
):
    _check(actor, scope=scope)
    username = username.strip()
    try:
        # The Django admin's own rule: an account created here stays editable there.
        User.username_validator(username)
    except ValidationError as exc:
        raise CoreError(" ".join(exc.messages), field="username") from exc
    if User.objects.filter(username__iexact=username).exists():
        raise CoreError(f"L'identifiant « {username} » est déjà pris.", field="username")
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, is_staff=True)
    _password_check(password, user)
    user.set_password(password)
    user.save()
    StaffProfile.objects.create(user=user, scope=scope, role=role)
    for entity in sorted(scope_entities(scope)):
        audit_log(
            action="account_create",
            actor=actor,
            entity=entity,
            obj=user,
            message=f"Compte {username} ({scope}, {role})",
        )
    return user


@transaction.atomic
def staff_account_update(
    *, actor, user, scope: str, role: str, email: str, first_name: str, last_name: str, is_active: bool
):
    _check(actor, scope=user.staff_profile.scope, target=user)
    _check(actor, scope=scope)
    if user.pk == actor.pk and (not is_active or role != "admin"):
        raise CoreError("Vous ne pouvez pas retirer vos propres droits d'administrateur ni désactiver votre compte.")
    before = f"{user.staff_profile.scope}/{user.staff_profile.role}/{'actif' if user.is_active else 'inactif'}"
    User.objects.filter(pk=user.pk).update(email=email, first_name=first_name, last_name=last_name, is_active=is_active)
    if user.is_active and not is_active:
        staff_sessions_end(user=user)
    StaffProfile.objects.filter(user=user).update(scope=scope, role=role)
    after = f"{scope}/{role}/{'actif' if is_active else 'inactif'}"
    for entity in sorted(scope_entities(scope) | user_entities(user)):
        audit_log(
            action="account_update",
            actor=actor,
            entity=entity,
            obj=user,
            message=f"{user.username} : {before} → {after}",
        )
    user.refresh_from_db()
    return user


@transaction.atomic
def staff_password_set(*, actor, user, password: str) -> None:
    _check(actor, scope=user.staff_profile.scope, target=user)
    _password_check(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    for entity in sorted(user_entities(user)):
        audit_log(action="account_password", actor=actor, entity=entity, obj=user, message="Mot de passe redéfini")


def staff_sessions_end(*, user) -> int:
    """Log a deactivated account out everywhere: its sessions and its API token are deleted.

    Refused while the account is inactive, they would otherwise work again the moment it is
    reactivated (a suspended account reopened on whatever browser or script still held them):
    after a reactivation the account logs in afresh, and a superuser gives it a new token.
    Sessions are found in the database (the configured engine); returns how many ended."""
    Token.objects.filter(user_id=user.pk).delete()
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0  # sessions kept outside the database: refused while inactive, as Django does
    store = store_class()
    keys = [
        key
        for key, data in store_class.get_model_class()
        .objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", "session_data")
        .iterator()
        if str(store.decode(data).get(SESSION_KEY)) == str(user.pk)
    ]
    for key in keys:
        store_class(session_key=key).delete()
    return len(keys)


def staff_account_state(user) -> tuple[str, frozenset[str]]:
    """How an account reads in the audit (« ZR7/manager/actif »), and its entities."""
    profile = StaffProfile.objects.filter(user_id=user.pk).first()
    scope, role = (profile.scope, profile.role) if profile else ("-", "-")
    flags = "actif" if user.is_active else "inactif"
    if user.is_superuser:
        flags += ", superutilisateur"
    return f"{scope}/{role}/{flags}", scope_entities(scope) if profile else frozenset()


def staff_account_change_record(
    *, actor, user, action: str, before: str = "", entities_before: frozenset[str] = frozenset()
) -> None:
    """Audit an account created, changed or deleted in the Django admin (the Comptes page
    audits through the services above): one row per entity concerned, before → after."""
    after, entities_after = staff_account_state(user) if action != "account_delete" else ("supprimé", frozenset())
    message = f"{user.username} : {before} → {after}" if before else f"Compte {user.username} ({after})"
    for entity in sorted(entities_before | entities_after):
        audit_log(action=action, actor=actor, entity=entity, obj=user, message=f"{message} (administration)")
