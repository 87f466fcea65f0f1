"""The client's rejection page (§10), reached from the signed link of the CSV e-mail.

Public (no account): the signed, expiring token is the only credential, and it names one
attribution. Tampered or expired links get a clear French page, never a stack trace.
"""

from django import forms
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from commandes.models import Attribution, RejectionReason
from commandes.rejections import RejectionError, rejection_create, rejection_refusal, rejection_token_read

TEMPLATE = "commandes/public/rejection.html"


class RejectionForm(forms.Form):
    reason = forms.ChoiceField(label="Motif du rejet", choices=RejectionReason.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        label="Commentaire (obligatoire pour « Autre »)", required=False, max_length=1000, widget=forms.Textarea
    )


@never_cache
@require_http_methods(["GET", "POST"])
def rejection_public(request, token: str):
    try:
        attribution_id = rejection_token_read(token=token)
    except RejectionError as exc:
        return render(request, TEMPLATE, {"error": str(exc)}, status=400)
    attribution = Attribution.objects.select_related("lead", "client", "product").filter(pk=attribution_id).first()
    if attribution is None:
        return render(request, TEMPLATE, {"error": "Ce lead n'existe plus."}, status=404)
    refusal = rejection_refusal(attribution=attribution, by_client=True)
    # Read after the refusal: a rejection a concurrent click just recorded shows as such.
    existing = attribution.rejections.first()  # the latest; a refused one stands too
    context = {"attribution": attribution, "lead": attribution.lead, "existing": existing}
    if existing is not None:
        return render(request, TEMPLATE, context)
    if refusal:
        # Past the window, or no longer the client's to reject: say so, no form to fill in vain.
        return render(request, TEMPLATE, {**context, "refusal": refusal}, status=400)
    form = RejectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rejection = rejection_create(
                attribution=attribution,
                reason=form.cleaned_data["reason"],
                comment=form.cleaned_data["comment"],
                by_client=True,
            )
        except RejectionError as exc:
            existing = attribution.rejections.first()
            if existing is not None:
                # A double click: the other request recorded the rejection first; show it.
                return render(request, TEMPLATE, {**context, "existing": existing})
            form.add_error(None, str(exc))
        else:
            return render(request, TEMPLATE, {**context, "done": rejection})
    return render(request, TEMPLATE, {**context, "form": form}, status=400 if form.errors else 200)
