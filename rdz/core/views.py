"""Back-office pages of the core: login/logout, entity switcher, Tableau de bord,
Alertes, Paramètres and Comptes (§2, §8, §13, §14)."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpResponsePermanentRedirect, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from rdz.core.accounts import (
    scopes_for,
    staff_account_create,
    staff_account_update,
    staff_accounts_for,
    staff_password_set,
)
from rdz.core.alerts import alert_dismiss
from rdz.core.backoffice import StaffRequiredMixin, entity_choose, light_paginate, posted_object_or_404
from rdz.core.forms import PasswordSetForm, SettingsForm, StaffAccountForm
from rdz.core.login_guard import LoginForm
from rdz.core.models import ALERT_KIND_LABELS, Alert, AlertState
from rdz.core.scoping import is_account_admin, user_entities
from rdz.core.selectors import dashboard_context, settings_audits_visible
from rdz.core.services import CoreError, settings_get, settings_update
from rdz.core.text import count_noun

User = get_user_model()


def favicon(request):
    """/favicon.ico, asked by browsers on pages that name no icon (admin, API docs)."""
    return HttpResponsePermanentRedirect(static("backoffice/favicon.svg"))


class BackofficeLoginView(LoginView):
    template_name = "core/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = False


class BackofficeLogoutView(LogoutView):
    """Logout is a POST with its CSRF token (a link or an image must not log anyone out);
    opening /deconnexion/ (typed, bookmarked) shows a page with the button instead of a 405."""

    template_name = "core/logged_out.html"
    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return render(request, self.template_name)
        return render(request, "core/logout_confirm.html")


class EntitySwitchView(StaffRequiredMixin, View):
    """The entity switcher: stores the choice in the session (not a data change)."""

    read_only_post = True

    def post(self, request):
        entity_choose(request, request.POST.get("entity", ""))
        target = request.POST.get("next") or "/"
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = "/"
        return HttpResponseRedirect(target)


class DashboardView(StaffRequiredMixin, TemplateView):
    template_name = "core/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(dashboard_context(user=self.request.user, entities=self.entities))
        return context


class AlertListView(StaffRequiredMixin, TemplateView):
    template_name = "core/alerts.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        state = self.request.GET.get("state", "open")
        qs = self.scoped(Alert.objects.all())
        if state in AlertState.values:
            qs = qs.filter(state=state)
        kind = self.request.GET.get("kind", "")
        if kind:
            qs = qs.filter(kind=kind)
        context["page"] = light_paginate(qs.order_by("-created_at", "-id"), self.request.GET.get("page"))
        context["state"] = state
        context["kind"] = kind
        kinds = set(self.scoped(Alert.objects.all()).values_list("kind", flat=True).distinct())
        context["kinds"] = sorted((ALERT_KIND_LABELS.get(k, k), k) for k in kinds)
        context["states"] = AlertState.choices
        return context

    def post(self, request):
        alert = posted_object_or_404(self.scoped(Alert.objects.all()), request, "alert")
        if alert_dismiss(alert=alert, user=request.user):
            messages.success(request, "Alerte marquée comme résolue.")
        else:
            messages.info(request, "Cette alerte était déjà résolue.")
        return redirect("backoffice-alerts")


class SettingsView(StaffRequiredMixin, TemplateView):
    """Paramètres: everyone reads, account admins change what belongs to their entities."""

    template_name = "core/settings.html"
    admin_only_changes = True

    def _form(self, data=None):
        user = self.request.user
        editable = user_entities(user) if is_account_admin(user) else frozenset()
        return SettingsForm(
            data,
            instance=settings_get(),
            editable_entities=editable,
            read_only=not editable,
            visible_entities=user_entities(user),
        )

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = form or self._form()
        context["audits"] = settings_audits_visible(user=self.request.user).select_related("changed_by")[:50]
        return context

    def post(self, request):
        form = self._form(request.POST)
        if not form.is_valid():
            messages.error(request, "Le formulaire contient des erreurs : rien n'a été enregistré.")
            return self.render_to_response(self.get_context_data(form=form), status=400)
        changes = form.changes(settings_get())
        audits = settings_update(user=request.user, changes=changes)
        if audits:
            messages.success(request, f"Paramètres enregistrés ({count_noun(len(audits), 'modification')}).")
        else:
            messages.info(request, "Aucune modification.")
        return redirect("backoffice-settings")


class AccountListView(StaffRequiredMixin, TemplateView):
    template_name = "core/accounts.html"
    admin_only = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["accounts"] = staff_accounts_for(self.request.user)
        return context


class AccountFormView(StaffRequiredMixin, TemplateView):
    """Create (no pk) or edit (pk) a staff account; the password form resets it."""

    template_name = "core/account_form.html"
    admin_only = True

    def _target(self):
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        return get_object_or_404(staff_accounts_for(self.request.user), pk=pk)

    def _form(self, target, data=None):
        scopes = scopes_for(self.request.user)
        initial = {}
        if target is not None:
            initial = {
                "username": target.username,
                "first_name": target.first_name,
                "last_name": target.last_name,
                "email": target.email,
                "scope": target.staff_profile.scope,
                "role": target.staff_profile.role,
                "is_active": target.is_active,
            }
        return StaffAccountForm(data, initial=initial, scopes=scopes, creating=target is None)

    def get_context_data(self, form=None, password_form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        target = self._target()
        context["target"] = target
        context["form"] = form or self._form(target)
        context["password_form"] = password_form or (PasswordSetForm() if target else None)
        return context

    def post(self, request, pk=None):
        target = self._target()
        if target is not None and "password1" in request.POST and "scope" not in request.POST:
            password_form = PasswordSetForm(request.POST)
            if password_form.is_valid():
                try:
                    staff_password_set(
                        actor=request.user, user=target, password=password_form.cleaned_data["password1"]
                    )
                except CoreError as exc:
                    password_form.add_error("password1", str(exc))
                else:
                    messages.success(request, f"Mot de passe de {target.username} redéfini.")
                    return redirect("backoffice-accounts")
            return self.render_to_response(self.get_context_data(password_form=password_form), status=400)
        form = self._form(target, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if target is None:
                    account = staff_account_create(
                        actor=request.user,
                        username=data["username"],
                        password=data["password1"],
                        scope=data["scope"],
                        role=data["role"],
                        email=data["email"],
                        first_name=data["first_name"],
                        last_name=data["last_name"],
                    )
                    messages.success(request, f"Compte {account.username} créé.")
                else:
                    staff_account_update(
                        actor=request.user,
                        user=target,
                        scope=data["scope"],
                        role=data["role"],
                        email=data["email"],
                        first_name=data["first_name"],
                        last_name=data["last_name"],
                        is_active=data["is_active"],
                    )
                    messages.success(request, f"Compte {target.username} modifié.")
                return redirect("backoffice-accounts")
            except CoreError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        return self.render_to_response(self.get_context_data(form=form), status=400)
