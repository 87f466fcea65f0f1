"""The tracking script of a landing form, `/t/<code>.js` (§11)."""

import json

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from leads.models import LeadForm, ProductFieldType
from leads.services_forms import HONEYPOT_FIELD, leadform_variant_weights

JS_CONTENT_TYPE = "application/javascript; charset=utf-8"
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def tracking_script_url(*, form: LeadForm, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/t/{form.code}.js"


def extra_inputs_html(*, product) -> str:
    """The product's extra fields (§3) as inputs named `extra.<name>`, with the browser-side
    checks their type allows (required, whole numbers, the list of choices); the intake
    validates them again and the script shows its French messages next to each field."""
    lines = []
    # Through the relation, so a list of forms can prefetch every product's fields at once.
    for f in sorted(product.fields.all(), key=lambda f: (f.position, f.id)):
        name = f"extra.{f.name}"
        required = " required" if f.required else ""
        if f.type == ProductFieldType.CHOICE:
            options = format_html_join("", '<option value="{}">{}</option>', ((c, c) for c in f.choices or []))
            html = format_html(
                '<select name="{}"{}><option value="">{}</option>{}</select>', name, required, f.label, options
            )
        elif f.type == ProductFieldType.BOOLEAN:
            html = format_html('<label><input name="{}" type="checkbox"> {}</label>', name, f.label)
        elif f.type == ProductFieldType.INTEGER:
            html = format_html('<input name="{}" type="number" step="1" placeholder="{}"{}>', name, f.label, required)
        else:
            html = format_html('<input name="{}" maxlength="500" placeholder="{}"{}>', name, f.label, required)
        lines.append(f"  {html}\n")
    return "".join(lines)


def tracking_snippet(*, form: LeadForm, base_url: str) -> str:
    """The HTML to paste in a landing page: the script and a minimal form."""
    return (
        f'<script src="{tracking_script_url(form=form, base_url=base_url)}" async></script>\n'
        f'<form data-rdz-form="{form.code}">\n'
        '  <input name="first_name" placeholder="Prénom">\n'
        '  <input name="last_name" placeholder="Nom">\n'
        '  <input name="phone" type="tel" placeholder="Téléphone" required>\n'
        '  <input name="email" type="email" placeholder="E-mail">\n'
        '  <input name="departement" placeholder="Département (ex. 13)" required>\n'
        + extra_inputs_html(product=form.product)
        + '  <label><input name="consent" type="checkbox" required> J\'accepte d\'être recontacté(e)</label>\n'
        '  <button type="submit">Envoyer</button>\n'
        "</form>"
    )


@require_GET
def tracking_script(request: HttpRequest, code: str) -> HttpResponse:
    # Also for a deactivated form: without its script, a page still online would send its
    # form to itself, and the visitor's lead would be lost without a word.
    form = LeadForm.objects.filter(code=code).only("code", "variants", "active").first()
    if form is None:
        return HttpResponse("/* RDZ : formulaire inconnu */\n", status=404, content_type=JS_CONTENT_TYPE)
    base_url = request.build_absolute_uri("/").rstrip("/")
    config = {
        "code": form.code,
        "api": base_url,
        "honeypot": HONEYPOT_FIELD,
        "variants": leadform_variant_weights(form),
        "active": form.active,
    }
    body = render_to_string(
        "leads/tracking.js",
        {
            "code": form.code,
            "script_url": tracking_script_url(form=form, base_url=base_url),
            "config_json": mark_safe(json.dumps(config).translate(_JSON_ESCAPES)),  # noqa: S308 (escaped JSON)
        },
    )
    response = HttpResponse(body, content_type=JS_CONTENT_TYPE)
    # Short cache: a change of variants reaches the pages within minutes.
    response["Cache-Control"] = "public, max-age=300"
    return response
