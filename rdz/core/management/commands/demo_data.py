"""Demo data for the embedded default: both entities, products, providers (keys printed),
clients, commandes, staff accounts, a few weeks of leads routed through the real intake, and
two landing forms with their visits, starts and leads (`leads.demo`).

Safe to run again: existing rows are kept; provider keys are rotated (a key is only ever
shown once) and printed again.
"""

import datetime
import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from commandes.delivery import delivery_send_daily
from commandes.models import Client, Commande
from leads.demo import demo_form_history, demo_forms_ensure
from leads.models import Lead, Product, ProductField
from leads.services import LeadInput, lead_create
from leads.stats import rollup_refresh
from providers.models import Provider
from providers.services import provider_create, provider_rotate_key
from rdz.core.models import StaffProfile
from rdz.core.services import settings_get
from rdz.core.timeutils import paris_today

DEMO_PASSWORD = "rdz-demo-2026"  # noqa: S105 (demo accounts of the local default only)

PRODUCTS = [("PV", "Panneaux solaires"), ("PAC", "Pompe à chaleur"), ("ITE", "Isolation thermique extérieure")]
CLIENTS = [
    # entity, name, product, departements, quota, daily cap, priority, backlog
    ("ZR7", "Soleil du Sud", "PV", ["13", "83", "84", "06"], 40, None, 3, True),
    ("ZR7", "Éco Habitat Provence", "PV", ["*"], 25, 10, 1, False),
    ("ZR7", "Chaleur Plus", "PAC", ["*"], 30, None, 2, True),
    ("MDL", "Isolation Bretagne", "ITE", ["29", "22", "35", "56"], 20, None, 2, True),
    ("MDL", "Maison Durable Lyon", "PAC", ["69", "01", "38", "42"], 30, 8, 3, False),
    ("MDL", "Énergie Verte Île-de-France", "PV", ["75", "77", "78", "91", "92", "93", "94", "95"], 35, None, 2, True),
]
MAX_LEADS = 10_000
MAX_DAYS = 365
FIRST_NAMES = ["Jean", "Marie", "Zoé", "Hélène", "François", "Gaëlle", "Loïc", "Anaïs", "Jérôme", "Chloé"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Lambert", "Bonnet", "Rousseau", "Faure"]
DEPARTEMENTS = ["13", "83", "84", "06", "29", "35", "69", "38", "75", "92", "2A", "971", "33", "59"]


class Command(BaseCommand):
    help = "Charge les données de démonstration (entités, produits, providers, clients, commandes, leads)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads", type=int, default=120, help=f"Nombre de leads de démonstration à créer (0 à {MAX_LEADS})"
        )
        parser.add_argument(
            "--days", type=int, default=21, help=f"Leads répartis sur ce nombre de jours passés (1 à {MAX_DAYS})"
        )
        parser.add_argument(
            "--seed", type=int, default=7, help="Graine du tirage aléatoire (même graine, mêmes données)"
        )

    def handle(self, *args, leads, days, seed, **options):
        # Checked before any write: negative days would date leads in the future, and a huge
        # count would run for hours (or overflow the dates).
        if not 0 <= leads <= MAX_LEADS:
            raise CommandError(f"--leads {leads} : un nombre de 0 à {MAX_LEADS} est attendu.")
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days {days} : un nombre de jours de 1 à {MAX_DAYS} est attendu.")
        rng = random.Random(seed)
        with transaction.atomic():
            products = self._products()
            self._accounts()
            self._clients(products)
            app_settings = settings_get()
            if not app_settings.alert_recipients_zr7:
                app_settings.alert_recipients_zr7 = ["alertes-zr7@rdz.local"]
                app_settings.alert_recipients_mdl = ["alertes-mdl@rdz.local"]
                app_settings.save()
        keys = self._providers()
        self._media()
        forms = demo_forms_ensure()
        if not Lead.objects.exists():
            self._leads(rng, products, count=leads, days=days)
            # Landing forms: visits, starts and leads, forwarded to stand-in CRMs (§11).
            demo_form_history(forms=forms, rng=rng, days=days, now=timezone.now())
            self._deliver_past_days()
        # The dashboard and the stats API read daily rollups: build them for the demo period.
        today = paris_today()
        rollup_refresh(start=today - datetime.timedelta(days=days + 1), end=today)
        self._print(keys)

    def _media(self):
        """A few images in the media library (one per entity, one shared); idempotent."""
        import io

        from PIL import Image, ImageDraw

        from media_library.services import media_asset_import

        demo = [
            ("ZR7", "Toiture solaire", (245, 158, 11)),
            ("MDL", "Maison isolée", (16, 185, 129)),
            ("SHARED", "Bandeau commun", (31, 111, 235)),
        ]
        for entity, title, color in demo:
            image = Image.new("RGB", (1200, 400), color)
            draw = ImageDraw.Draw(image)
            for x in range(0, 1200, 40):
                draw.line([(x, 0), (x + 400, 400)], fill=(255, 255, 255), width=3)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85)
            media_asset_import(
                data=out.getvalue(),
                entity=entity,
                legacy_id=f"demo-{entity.lower()}",
                title=title,
                alt_text=f"{title} (image de démonstration)",
                tags=["démo"],
            )

    def _deliver_past_days(self):
        """Run yesterday's daily delivery so the demo shows delivered leads and batches."""
        try:
            delivery_send_daily(day=paris_today() - datetime.timedelta(days=1))
        except Exception as exc:  # the demo stays usable without mail: the leads stay pending
            self.stderr.write(f"Livraison de démonstration impossible : {exc}")

    def _products(self):
        products = {}
        for code, label in PRODUCTS:
            products[code], _ = Product.objects.get_or_create(code=code, defaults={"label": label})
        ProductField.objects.get_or_create(
            product=products["PAC"],
            name="surface",
            defaults={"label": "Surface (m²)", "type": "integer", "required": False},
        )
        return products

    def _accounts(self):
        User = get_user_model()
        specs = [
            ("admin", True, None, None),
            ("zr7", False, "ZR7", "manager"),
            ("mdl", False, "MDL", "manager"),
            ("lecteur", False, "BOTH", "viewer"),
        ]
        for username, is_super, scope, role in specs:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": True, "is_superuser": is_super, "email": f"{username}@rdz.local"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            if scope:
                StaffProfile.objects.get_or_create(user=user, defaults={"scope": scope, "role": role})

    def _clients(self, products):
        for entity, name, product, deps, quota, cap, priority, backlog in CLIENTS:
            client, _ = Client.objects.get_or_create(
                name=name, defaults={"entity": entity, "emails": [f"livraison@{_slug(name)}.example"]}
            )
            if not client.commandes.exists():
                Commande.objects.create(
                    client=client,
                    product=products[product],
                    name=f"{product} {', '.join(deps[:3])}",
                    departements=deps,
                    weekly_quota=quota,
                    daily_cap=cap,
                    priority=priority,
                    accepts_backlog=backlog,
                )

    def _providers(self):
        keys = []
        for entity, name, slug in [("ZR7", "LeadMax", "leadmax"), ("MDL", "Habitat Leads", "habitat-leads")]:
            provider = Provider.objects.filter(slug=slug).first()
            if provider is None:
                provider, key = provider_create(name=name, entity=entity, slug=slug, actor_label="demo_data")
            else:
                key = provider_rotate_key(provider=provider, actor_label="demo_data")
            keys.append((provider, key))
        return keys

    def _leads(self, rng, products, *, count, days):
        providers = list(Provider.objects.all())
        now = timezone.now()
        for i in range(count):
            provider = rng.choice(providers)
            created = now - datetime.timedelta(days=rng.uniform(0, days), minutes=rng.randint(0, 600))
            phone = f"+336{rng.randint(10_000_000, 99_999_999)}" if i % 9 else f"+3361234{5000 + i % 3:04d}"
            data = LeadInput(
                phone=phone,
                product=rng.choice(list(products.values())),
                departement=rng.choice(DEPARTEMENTS),
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                email=f"demo{i}@exemple.fr",
                source=provider.slug,
                consent=True,
            )
            lead_create(data=data, provider=provider, now=created)

    def _print(self, keys):
        url = settings.SITE_URL
        out = self.stdout
        out.write("")
        out.write("Données de démonstration prêtes.")
        out.write(f"  Back-office : {url}/connexion/  — identifiant « admin », mot de passe « {DEMO_PASSWORD} »")
        out.write(f"  Administration Django : {url}/admin/")
        out.write(
            "  Comptes scopés : « zr7 » (ZR7), « mdl » (MDL), « lecteur » (les deux, lecture) — même mot de passe"
        )
        for provider, key in keys:
            out.write(f"  Clé API du provider {provider.slug} ({provider.entity}) : {key}")
        provider, key = keys[0]
        out.write("")
        out.write("Déposer un lead :")
        out.write(
            f"  curl -s -X POST {url}/api/v1/leads/ -H 'Content-Type: application/json' -H 'X-API-Key: {key}' "
            '-d \'{"phone": "06 12 34 56 78", "product": "PV", "departement": "13", '
            '"first_name": "Jean", "last_name": "Dupont", "email": "jean.dupont@exemple.fr"}\''
        )


def _slug(name: str) -> str:
    from django.utils.text import slugify

    return slugify(name)
