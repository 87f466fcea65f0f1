"""A demo landing page on a second local origin (§11), and two stand-in CRMs.

    python manage.py landing_demo --port 8081

serves http://127.0.0.1:8081/ (a landing page including the form's tracking script from
SITE_URL) and plays the ZR7 and MDL CRMs on two more ports, printing each record they
receive. Start RDZ with CRM_ZR7_URL / CRM_MDL_URL pointing at them (the command prints the
line) to watch the forwarding succeed.
"""

import functools
import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leads.demo import demo_form_ensure
from leads.models import LeadForm
from leads.services import LeadError
from leads.views_tracking import tracking_script_url
from routing.fake_crm import FakeCrm

DEMO_CODE = "demo-pv"

PAGE = """<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 38rem; margin: 2rem auto; padding: 0 1rem; color: #1d2433; }}
    form {{ display: grid; gap: .6rem; background: #f4f6fa; padding: 1.2rem; border-radius: .6rem; }}
    input {{ padding: .5rem; font-size: 1rem; }}
    input[aria-invalid="true"] {{ border: 2px solid #b00020; }}
    button {{ padding: .7rem; font-size: 1rem; background: #1f6feb; color: white; border: 0; border-radius: .4rem; }}
    button:disabled {{ opacity: .6; }}
    .rdz-error {{ font-size: .9rem; }}
    .rdz-success {{ background: #e6f4ea; padding: 1rem; border-radius: .6rem; }}
  </style>
</head>
<body>
  <h1 data-rdz-show-variant="A">Produisez votre électricité avec le soleil</h1>
  <h1 data-rdz-show-variant="B">Jusqu'à 70 % d'économies sur votre facture</h1>
  {body}
  <p><small>Page de démonstration servie depuis {origin} ; script : <code>{script}</code></small></p>
  <script src="{script}" async></script>
</body>
</html>
"""

FORM = """<p>Un conseiller vous rappelle sous 48 heures.</p>
  <form data-rdz-form="{code}" data-rdz-consent-version="demo-v1">
    <input name="first_name" placeholder="Prénom" autocomplete="given-name">
    <input name="last_name" placeholder="Nom" autocomplete="family-name">
    <input name="phone" type="tel" placeholder="Téléphone (06 12 34 56 78)" autocomplete="tel">
    <input name="email" type="email" placeholder="E-mail" autocomplete="email">
    <input name="departement" placeholder="Département (ex. 13, 2A, 971)">
    <label><input name="consent" type="checkbox"> J'accepte d'être recontacté(e) au sujet de mon projet.</label>
    <button type="submit">Être rappelé</button>
  </form>
  <p><a href="/autre-page.html">Une autre page du site</a> (le même visiteur est reconnu).</p>"""

OTHER = """<p>Une autre page du même site : la visite compte pour le même visiteur.</p>
  <p><a href="/">Retour au formulaire</a></p>"""


class Command(BaseCommand):
    help = (
        "Sert une page d'atterrissage de démonstration sur une seconde origine (par défaut le formulaire "
        f"« {DEMO_CODE} », créé au besoin) et joue les CRM ZR7 et MDL. Ctrl-C pour arrêter."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8081, help="Port de la page (défaut 8081)")
        parser.add_argument("--form", default=DEMO_CODE, help=f"Code du formulaire (défaut {DEMO_CODE})")
        parser.add_argument("--zr7-crm-port", type=int, default=8082, help="Port du faux CRM ZR7 (0 : aucun)")
        parser.add_argument("--mdl-crm-port", type=int, default=8083, help="Port du faux CRM MDL (0 : aucun)")

    def handle(self, *args, port, form, zr7_crm_port, mdl_crm_port, **options):
        for option, value in (("--port", port), ("--zr7-crm-port", zr7_crm_port), ("--mdl-crm-port", mdl_crm_port)):
            if not 0 <= value <= 65535:
                raise CommandError(f"{option} {value} : un numéro de port entre 0 et 65535 est attendu.")
        origin = f"http://127.0.0.1:{port}"
        lead_form = self._form(form, origin)
        script = tracking_script_url(form=lead_form, base_url=settings.SITE_URL)
        pages = {
            "/": PAGE.format(
                title="Panneaux solaires — démonstration",
                body=FORM.format(code=html.escape(lead_form.code)),
                origin=origin,
                script=html.escape(script),
            ).encode(),
            "/autre-page.html": PAGE.format(
                title="Autre page", body=OTHER, origin=origin, script=html.escape(script)
            ).encode(),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                page = pages.get(self.path.split("?")[0])
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                body = page or b"Page introuvable"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        crms = []
        try:
            for entity, crm_port, option in (
                ("ZR7", zr7_crm_port, "--zr7-crm-port"),
                ("MDL", mdl_crm_port, "--mdl-crm-port"),
            ):
                if crm_port:
                    crms.append(
                        _bind(
                            functools.partial(FakeCrm, name=entity, port=crm_port, on_record=self._printer(entity)),
                            crm_port,
                            option,
                        ).start()
                    )
            server = _bind(lambda: ThreadingHTTPServer(("127.0.0.1", port), Handler), port, "--port")
        except CommandError:
            for crm in crms:
                crm.stop()
            raise
        out = self.stdout
        out.write(f"Page d'atterrissage : {origin}/  (formulaire « {lead_form.code} », script {script})")
        if lead_form.allowed_origins and origin not in lead_form.allowed_origins:
            out.write(self.style.WARNING(f"Attention : {origin} n'est pas une origine autorisée de ce formulaire."))
        if crms:
            env = " ".join(f"CRM_{c.name}_URL={c.url}" for c in crms)
            out.write(f"Faux CRM : {', '.join(f'{c.name} {c.url}' for c in crms)}")
            out.write(f"Pour que RDZ leur transmette les leads, démarrez-le avec : {env} bin/run")
        out.write("Ctrl-C pour arrêter.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            for crm in crms:
                crm.stop()

    def _printer(self, entity: str):
        lock = threading.Lock()

        def on_record(crm_id: str, body: dict) -> None:
            with lock:
                self.stdout.write(f"[CRM {entity}] reçu {crm_id} : {json.dumps(body, ensure_ascii=False)[:300]}")

        return on_record

    def _form(self, code: str, origin: str) -> LeadForm:
        existed = LeadForm.objects.filter(code=code).exists()
        try:
            form = demo_form_ensure(code, origins=[origin, origin.replace("127.0.0.1", "localhost")])
        except LeadError as exc:
            raise CommandError(str(exc.errors)) from exc
        if form is None:
            raise CommandError(f"Formulaire inconnu : « {code} ».")
        if not existed:
            self.stdout.write(f"Formulaire de démonstration « {code} » créé (origine autorisée {origin}).")
        return form


def _bind(make, port: int, option: str):
    """Start a local server, or say in French which port is taken and how to choose another."""
    try:
        return make()
    except OSError as exc:
        raise CommandError(
            f"Le port {port} est déjà utilisé ({exc.strerror}) : choisissez-en un autre avec {option}."
        ) from exc
