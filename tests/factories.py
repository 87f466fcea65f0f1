"""One factory per model (factory_boy)."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from commandes.models import Attribution, Client, Commande, DeliveryBatch, HttpDeliveryAttempt, Rejection
from leads.models import DailyRollup, Lead, LeadEvent, LeadForm, OppositionEntry, Product, ProductField
from media_library.models import MediaAsset, MediaTag
from providers.models import Provider
from rdz.core.models import Alert, StaffProfile
from rdz.core.timeutils import paris_today, week_start


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = "PV"
    label = factory.LazyAttribute(
        lambda o: {"PV": "Panneaux solaires", "PAC": "Pompe à chaleur", "ITE": "Isolation"}.get(o.code, o.code)
    )
    active = True


class ProductFieldFactory(DjangoModelFactory):
    class Meta:
        model = ProductField

    product = factory.SubFactory(ProductFactory)
    name = factory.Sequence(lambda n: f"champ_{n}")
    label = factory.LazyAttribute(lambda o: o.name.replace("_", " ").capitalize())
    type = "text"
    required = False


class ProviderFactory(DjangoModelFactory):
    class Meta:
        model = Provider

    name = factory.Sequence(lambda n: f"Provider {n}")
    slug = factory.Sequence(lambda n: f"provider-{n}")
    entity = "ZR7"
    active = True


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Client

    entity = "ZR7"
    name = factory.Sequence(lambda n: f"Client {n}")
    emails = factory.LazyAttribute(lambda o: [f"{o.name.lower().replace(' ', '')}@client.example"])
    active = True


class CommandeFactory(DjangoModelFactory):
    class Meta:
        model = Commande

    client = factory.SubFactory(ClientFactory)
    product = factory.SubFactory(ProductFactory)
    departements = factory.LazyFunction(lambda: ["*"])
    weekly_quota = 100
    priority = 0
    active = True
    accepts_backlog = False


class LeadFormFactory(DjangoModelFactory):
    class Meta:
        model = LeadForm

    code = factory.Sequence(lambda n: f"form-{n}")
    name = factory.Sequence(lambda n: f"Formulaire {n}")
    entity = "ZR7"
    product = factory.SubFactory(ProductFactory)
    target_crm = factory.LazyAttribute(lambda o: o.entity)
    allowed_origins = factory.LazyFunction(lambda: ["http://127.0.0.1:8765"])


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    entity = "ZR7"
    entity_locked = False
    product = factory.SubFactory(ProductFactory)
    phone = factory.Sequence(lambda n: f"+336{10000000 + n:08d}")
    email = factory.Sequence(lambda n: f"personne{n}@example.fr")
    first_name = "Jean"
    last_name = "Dupont"
    departement = "13"
    source = "test"
    status = "no_order"


class LeadEventFactory(DjangoModelFactory):
    class Meta:
        model = LeadEvent

    lead = factory.SubFactory(LeadFactory)
    kind = "note"
    message = "Note de test"


class AttributionFactory(DjangoModelFactory):
    class Meta:
        model = Attribution

    lead = factory.SubFactory(LeadFactory)
    commande = factory.SubFactory(CommandeFactory)
    client = factory.LazyAttribute(lambda o: o.commande.client)
    entity = factory.LazyAttribute(lambda o: o.commande.entity)
    phone = factory.LazyAttribute(lambda o: o.lead.phone)
    product = factory.LazyAttribute(lambda o: o.lead.product)
    week_start = factory.LazyFunction(lambda: week_start(paris_today()))
    # Consistent with week_start as attribution_create writes them: today if this week,
    # else that week's Monday (quota fills count days of the week).
    day = factory.LazyAttribute(lambda o: paris_today() if o.week_start == week_start(paris_today()) else o.week_start)


class OppositionEntryFactory(DjangoModelFactory):
    class Meta:
        model = OppositionEntry

    phone = factory.Sequence(lambda n: f"+337{10000000 + n:08d}")
    reason = "Bloctel"
    source = "bloctel"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@rdz.local")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "motdepasse-solide-42")

    @factory.post_generation
    def finish(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffProfileFactory(DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(UserFactory)
    scope = "ZR7"
    role = "manager"


class MediaTagFactory(DjangoModelFactory):
    class Meta:
        model = MediaTag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"etiquette-{n}")


class MediaAssetFactory(DjangoModelFactory):
    """A real 8×8 PNG stored under a random name (use a temporary MEDIA_ROOT in tests)."""

    class Meta:
        model = MediaAsset

    entity = "ZR7"
    title = factory.Sequence(lambda n: f"Image {n}")
    alt_text = "Une image de test"
    format = "PNG"
    width = 8
    height = 8
    size = factory.LazyAttribute(lambda o: o.file.size)
    file = factory.django.ImageField(width=8, height=8, format="PNG", color="green")


class DeliveryBatchFactory(DjangoModelFactory):
    class Meta:
        model = DeliveryBatch

    client = factory.SubFactory(ClientFactory)
    entity = factory.LazyAttribute(lambda o: o.client.entity)
    date = factory.LazyFunction(paris_today)


class HttpDeliveryAttemptFactory(DjangoModelFactory):
    class Meta:
        model = HttpDeliveryAttempt

    attribution = factory.SubFactory(AttributionFactory)
    client = factory.LazyAttribute(lambda o: o.attribution.client)
    entity = factory.LazyAttribute(lambda o: o.attribution.entity)
    url = "http://127.0.0.1:9/leads"
    status_code = 200
    success = True


class RejectionFactory(DjangoModelFactory):
    class Meta:
        model = Rejection

    attribution = factory.SubFactory(AttributionFactory, status="rejected")
    client = factory.LazyAttribute(lambda o: o.attribution.client)
    entity = factory.LazyAttribute(lambda o: o.attribution.entity)
    reason = "wrong_number"
    source = "staff"
    status = "approved"


class DailyRollupFactory(DjangoModelFactory):
    class Meta:
        model = DailyRollup

    # Consistent with week_start as attribution_create writes them: today if this week,
    # else that week's Monday (quota fills count days of the week).
    day = factory.LazyAttribute(lambda o: paris_today() if o.week_start == week_start(paris_today()) else o.week_start)
    entity = "ZR7"
    product = factory.SubFactory(ProductFactory)
    source = "test"
    status = "routed"
    count = 1


class AlertFactory(DjangoModelFactory):
    class Meta:
        model = Alert

    entity = "ZR7"
    kind = "test"
    key = factory.Sequence(lambda n: f"test:{n}")
    message = factory.Sequence(lambda n: f"Alerte de test {n}")
