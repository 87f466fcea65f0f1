"""Differential test of the routing rules (§5–§7, §10): random worlds, a reference model.

The reference below is the specification written as plain Python over plain data, with
no database and no optimisation: OPEN (§5), the 30-day rule (§6), the choice and the
cross-entity fallback (§7), backlog recycling (§10). Hypothesis builds random but valid
worlds (clients and commandes of both entities, prior attributions around the week and
30-day boundaries, rejected and cancelled ones, the cross-entity switches), stores them,
routes a lead through the real service, and checks the real outcome against the reference.

Where the specification leaves a choice, the reference follows what the code documents:
- ties: same priority and fill ratio, the oldest commande (`created_at`) wins; commandes
  created at the same instant are an allowed tie (the code takes the lowest id);
- §6 counts every attribution to the client within 30 days, whatever became of it
  (rejected, cancelled, recycled): a client that rejected a number does not get it again;
- a commande closed or full does not make a lead `duplicate`, only an OPEN one blocked by §6;
- a rejection credits the quota back when it is applied (by staff at once, or when staff
  approve a client's held rejection) in the attribution's own ISO week; a cancellation
  (opposed number) always does.
"""

import collections
import datetime
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandes.models import Attribution, CommandeFill
from commandes.services import commande_fill_rebuild, commande_fills, commande_is_open, duplicate_clients
from leads.apps import intake_caches_clear
from leads.models import Lead, OppositionEntry
from leads.services import LeadInput, lead_create
from leads.services_forms import form_lead_submit
from rdz.core.services import settings_update
from rdz.core.timeutils import PARIS, week_start
from routing.backlog import backlog_recycle
from tests.factories import (
    AttributionFactory,
    ClientFactory,
    CommandeFactory,
    LeadFactory,
    LeadFormFactory,
    ProductFactory,
    ProviderFactory,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
ENTITIES = ("ZR7", "MDL")
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)
DUPLICATE_WINDOW = datetime.timedelta(days=30)
LEAD_PHONE = "+33612345678"
OTHER_PHONE = "+33698765432"
DEPARTEMENTS = ("13", "2A", "75")

# Bounded and fast (each example is a fresh world in a rolled-back savepoint); the same
# examples on every CI run, fresh ones on a developer's machine.
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Instants to route at: a plain winter week, and the weeks of both DST changes (Sunday
# 29 March and Sunday 25 October 2026), from the Friday before to the Tuesday after.
ANCHORS = (
    datetime.datetime(2026, 1, 9, 0, 0, tzinfo=UTC),
    datetime.datetime(2026, 3, 27, 0, 0, tzinfo=UTC),
    datetime.datetime(2026, 10, 23, 0, 0, tzinfo=UTC),
)


# --- The world, as plain data ----------------------------------------------------------------
@dataclass
class ClientSpec:
    entity: str
    active: bool


@dataclass
class CommandeSpec:
    client: int
    product: str  # "PV" (the lead's) or "PAC"
    departements: list[str]
    weekly_quota: int
    daily_cap: int | None
    priority: int
    active: bool
    accepts_backlog: bool
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    created_minute: int  # equal values: created at the same instant


@dataclass
class AttributionSpec:
    commande: int
    phone: str
    at: datetime.datetime
    status: str
    counts_for_quota: bool


@dataclass
class World:
    now: datetime.datetime
    clients: list[ClientSpec]
    commandes: list[CommandeSpec]
    attributions: list[AttributionSpec] = field(default_factory=list)
    cross_entity_enabled: bool = True
    zr7_to_mdl: bool = True
    mdl_to_zr7: bool = True

    @property
    def today(self) -> datetime.date:
        return self.now.astimezone(PARIS).date()

    def client_of(self, commande: int) -> int:
        return self.commandes[commande].client

    def entity_of(self, commande: int) -> str:
        return self.clients[self.client_of(commande)].entity


def paris_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=PARIS).astimezone(UTC)


@st.composite
def instants(draw) -> datetime.datetime:
    return draw(st.sampled_from(ANCHORS)) + draw(st.integers(0, 5 * 24 * 60 - 1)) * MINUTE


@st.composite
def attribution_times(draw, now: datetime.datetime) -> datetime.datetime:
    """Before `now`, often right at a boundary: the 30-day window, Monday 00:00 or
    midnight (Paris) of today."""
    today = now.astimezone(PARIS).date()
    monday = paris_midnight(week_start(today))
    at = draw(
        st.one_of(
            st.integers(0, 35 * 24 * 60).map(lambda m: now - m * MINUTE),
            st.integers(-1, 1).map(lambda m: now - DUPLICATE_WINDOW + m * MINUTE),
            st.integers(-1, 1).map(lambda m: monday + m * MINUTE),
            st.integers(-1, 1).map(lambda m: paris_midnight(today) + m * MINUTE),
        )
    )
    return min(at, now)


@st.composite
def worlds(draw, *, backlog_flags: bool = False) -> World:
    now = draw(instants())
    today = now.astimezone(PARIS).date()
    clients = draw(
        st.lists(
            st.builds(ClientSpec, entity=st.sampled_from(ENTITIES), active=st.just(True)),
            min_size=1,
            max_size=4,
        )
    )
    # One client in ten is inactive.
    for client in clients:
        client.active = draw(st.integers(0, 9)) > 0
    commandes = []
    for _ in range(draw(st.integers(1, 7))):
        # Mostly without dates, so that most worlds have OPEN commandes.
        starts_in = draw(st.sampled_from([None, None, None, -1, 0, 1]))
        ends_in = draw(st.sampled_from([None, None, None, -1, 0, 1]))
        if starts_in is not None and ends_in is not None and ends_in < starts_in:
            starts_in, ends_in = ends_in, starts_in
        departements = draw(
            st.one_of(
                st.just(["*"]),
                st.just(["13", "2A"]),
                st.lists(st.sampled_from(DEPARTEMENTS), min_size=1, max_size=3, unique=True),
            )
        )
        commandes.append(
            CommandeSpec(
                client=draw(st.integers(0, len(clients) - 1)),
                product=draw(st.sampled_from(["PV", "PV", "PV", "PV", "PV", "PAC"])),
                departements=departements,
                weekly_quota=draw(st.integers(1, 4)),
                daily_cap=draw(st.none() | st.integers(1, 3)),
                priority=draw(st.sampled_from([0, 0, 0, 1, 1, 2, -1])),
                active=draw(st.integers(0, 9)) > 0,
                accepts_backlog=draw(st.booleans()) if backlog_flags else False,
                starts_on=None if starts_in is None else today + starts_in * DAY,
                ends_on=None if ends_in is None else today + ends_in * DAY,
                created_minute=draw(st.integers(0, 3)),
            )
        )
    world = World(
        now=now,
        clients=clients,
        commandes=commandes,
        # Mostly on (the default), so that the fallback is often there to be tried.
        cross_entity_enabled=draw(st.sampled_from([True, True, True, False])),
        zr7_to_mdl=draw(st.sampled_from([True, True, True, False])),
        mdl_to_zr7=draw(st.sampled_from([True, True, True, False])),
    )
    if commandes:
        for _ in range(draw(st.integers(0, 8))):
            at = draw(attribution_times(now))
            status = draw(st.sampled_from(["pending", "delivered", "rejected", "cancelled", "recycled"]))
            # As the services leave them: a rejection credits the quota back only within the
            # attribution's own week (so a credited one may be from any week), a cancellation
            # always.
            counts = {"rejected": draw(st.booleans()), "cancelled": False}.get(status, True)
            world.attributions.append(
                AttributionSpec(
                    commande=draw(st.integers(0, len(commandes) - 1)),
                    phone=draw(st.sampled_from([LEAD_PHONE, OTHER_PHONE])),
                    at=at,
                    status=status,
                    counts_for_quota=counts,
                )
            )
    return world


# --- The reference model ---------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    status: str  # routed | duplicate | no_order
    allowed: frozenset[int]  # commande indexes the lead may go to (ties), when routed


def reference_fill(world: World, commande: int) -> tuple[int, int]:
    """(this ISO week, today): quota-counting attributions by Paris day (§5)."""
    today = world.today
    monday = week_start(today)
    days = [a.at.astimezone(PARIS).date() for a in world.attributions if a.commande == commande and a.counts_for_quota]
    return (sum(monday <= d < monday + 7 * DAY for d in days), sum(d == today for d in days))


def reference_is_open(world: World, index: int) -> bool:
    c = world.commandes[index]
    today = world.today
    if not c.active or not world.clients[c.client].active:
        return False
    if c.starts_on is not None and today < c.starts_on:
        return False
    if c.ends_on is not None and today > c.ends_on:
        return False
    week, day = reference_fill(world, index)
    return week < c.weekly_quota and (c.daily_cap is None or day < c.daily_cap)


def reference_duplicate(world: World, client: int, *, phone: str, product: str) -> bool:
    """§6: this phone and product attributed to the client within the last 30 days (rolling)."""
    return any(
        world.client_of(a.commande) == client
        and a.phone == phone
        and world.commandes[a.commande].product == product
        and a.at > world.now - DUPLICATE_WINDOW
        for a in world.attributions
    )


def reference_route(
    world: World, *, entity: str, locked: bool, departement: str, phone: str, backlog: bool = False
) -> Expected:
    """§7: own entity first, then the other one if allowed; `duplicate` only when an OPEN
    matching commande was blocked by §6."""

    def in_entity(target: str) -> tuple[frozenset[int], bool]:
        matching = [
            i
            for i, c in enumerate(world.commandes)
            if world.entity_of(i) == target
            and c.product == "PV"
            and ("*" in c.departements or departement in c.departements)
            and (c.accepts_backlog or not backlog)
        ]
        open_ = [i for i in matching if reference_is_open(world, i)]
        free = [i for i in open_ if not reference_duplicate(world, world.client_of(i), phone=phone, product="PV")]
        if not free:
            return frozenset(), len(open_) > 0

        def key(i: int):
            c = world.commandes[i]
            return (-c.priority, Fraction(reference_fill(world, i)[0], c.weekly_quota), c.created_minute)

        best = min(key(i) for i in free)
        return frozenset(i for i in free if key(i) == best), len(free) < len(open_)

    chosen, blocked = in_entity(entity)
    if not chosen:
        other = "MDL" if entity == "ZR7" else "ZR7"
        direction = world.zr7_to_mdl if entity == "ZR7" else world.mdl_to_zr7
        if not locked and world.cross_entity_enabled and direction:
            chosen, blocked_there = in_entity(other)
            blocked = blocked or blocked_there
    if chosen:
        return Expected("routed", chosen)
    return Expected("duplicate" if blocked else "no_order", frozenset())


# --- Storing a world -------------------------------------------------------------------------
@contextmanager
def rolled_back():
    """Each example's world lives in a savepoint rolled back afterwards."""
    intake_caches_clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def store(world: World, products: dict) -> list:
    """Create the world's rows; return the commandes, by index."""
    settings_update(
        user=None,
        changes={
            "cross_entity_enabled": world.cross_entity_enabled,
            "cross_entity_zr7_to_mdl": world.zr7_to_mdl,
            "cross_entity_mdl_to_zr7": world.mdl_to_zr7,
        },
    )
    clients = [ClientFactory(entity=c.entity, active=c.active) for c in world.clients]
    base = world.now - 60 * DAY
    commandes = [
        CommandeFactory(
            client=clients[c.client],
            product=products[c.product],
            departements=c.departements,
            weekly_quota=c.weekly_quota,
            daily_cap=c.daily_cap,
            priority=c.priority,
            active=c.active,
            accepts_backlog=c.accepts_backlog,
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            created_at=base + c.created_minute * MINUTE,
        )
        for c in world.commandes
    ]
    for a in world.attributions:
        commande = commandes[a.commande]
        day = a.at.astimezone(PARIS).date()
        lead = LeadFactory(
            entity=commande.entity, product=commande.product, phone=a.phone, status="routed", created_at=a.at
        )
        AttributionFactory(
            lead=lead,
            commande=commande,
            created_at=a.at,
            day=day,
            week_start=week_start(day),
            status=a.status,
            counts_for_quota=a.counts_for_quota,
            delivered_at=None if a.status in ("pending", "cancelled") else a.at,
        )
    return commandes


def assert_fills_match(world: World, commandes: list) -> None:
    """The counters the database keeps are what a recount finds, and what the reference counts."""
    assert commande_fill_rebuild(check_only=True) == []
    fills = commande_fills(commande_ids=[c.pk for c in commandes], now=world.now)
    for index, commande in enumerate(commandes):
        assert (fills[commande.pk].week, fills[commande.pk].day) == reference_fill(world, index), index


@pytest.fixture
def products(db):
    return {"PV": ProductFactory(code="PV"), "PAC": ProductFactory(code="PAC")}


# --- Intake ----------------------------------------------------------------------------------
INTAKES = st.lists(
    st.tuples(
        st.sampled_from(ENTITIES),
        st.booleans(),  # locked: a provider's lead; else a form's
        st.sampled_from(["13", "13", "2A", "75"]),
        # The world's phones (its §6 history), or a number of its own.
        st.sampled_from([LEAD_PHONE, OTHER_PHONE, None, None]),
        # Minutes after the previous lead: at once, later that day, or over midnight / a Monday.
        st.sampled_from([0, 0, 1, 60, 12 * 60, 24 * 60, 3 * 24 * 60]),
    ),
    min_size=2,
    max_size=6,
)


def test_intake_routes_every_random_world_as_the_reference_does(products):
    @EXAMPLES
    @given(world=worlds(), intakes=INTAKES)
    def check(world, intakes):
        with rolled_back():
            commandes = store(world, products)
            providers = {entity: ProviderFactory(entity=entity) for entity in ENTITIES}
            forms = {entity: LeadFormFactory(entity=entity, product=products["PV"]) for entity in ENTITIES}
            for n, (entity, locked, departement, phone, wait) in enumerate(intakes):
                phone = phone or f"+3361111{n:04d}"
                world.now += wait * MINUTE
                assert_fills_match(world, commandes)
                # The services that answer the same questions outside the intake agree too.
                for index, commande in enumerate(commandes):
                    assert commande_is_open(commande=commande, now=world.now) == reference_is_open(world, index), index
                clients = {c.client_id: world.client_of(i) for i, c in enumerate(commandes)}
                blocked = duplicate_clients(
                    client_ids=list(clients), phone=phone, product_id=products["PV"].pk, now=world.now
                )
                assert blocked == {
                    pk for pk, i in clients.items() if reference_duplicate(world, i, phone=phone, product="PV")
                }
                expected = reference_route(world, entity=entity, locked=locked, departement=departement, phone=phone)

                data = LeadInput(phone=phone, product=products["PV"], departement=departement, visitor_id=f"v{n}")
                if locked:
                    lead, created = lead_create(data=data, now=world.now, provider=providers[entity])
                else:  # a landing page's submission, its own path to lead_create
                    lead, created = form_lead_submit(data=data, now=world.now, form=forms[entity])

                lead.refresh_from_db()
                assert created
                assert (lead.status, lead.entity, lead.entity_locked) == (expected.status, entity, locked)
                attributions = list(Attribution.objects.filter(lead=lead))
                if expected.status != "routed":
                    assert attributions == []
                    continue
                (attribution,) = attributions
                index = [c.pk for c in commandes].index(attribution.commande_id)
                assert index in expected.allowed, (index, sorted(expected.allowed))
                assert (attribution.client_id, attribution.entity) == (
                    commandes[index].client_id,
                    world.entity_of(index),
                )
                assert not attribution.is_backlog
                world.attributions.append(AttributionSpec(index, phone, world.now, "pending", True))
            assert_fills_match(world, commandes)

    check()


# --- Backlog recycling (§10) -----------------------------------------------------------------
@dataclass
class BacklogLeadSpec:
    entity: str
    locked: bool
    departement: str
    phone: str
    status: str  # no_order | rejected | delivered
    commande: int | None  # rejected / delivered: the commande (of its product) it went to
    credited: bool | None  # rejected: its quota credited back (rejected within the same week)
    days_ago: int  # its attribution (rejected / delivered), or its intake (no_order)


@st.composite
def backlog_worlds(draw) -> tuple[World, list[BacklogLeadSpec], int]:
    world = draw(worlds(backlog_flags=True))
    age_days = draw(st.integers(1, 40))
    leads = []
    for _ in range(draw(st.integers(1, 4))):
        status = draw(st.sampled_from(["no_order", "rejected", "delivered"]))
        pv = [i for i, c in enumerate(world.commandes) if c.product == "PV"]
        if not pv:
            status = "no_order"
        leads.append(
            BacklogLeadSpec(
                entity=draw(st.sampled_from(ENTITIES)),
                locked=draw(st.booleans()),
                departement=draw(st.sampled_from(DEPARTEMENTS)),
                phone=draw(st.sampled_from([LEAD_PHONE, OTHER_PHONE, "+33611111111"])),
                status=status,
                commande=None if status == "no_order" else draw(st.sampled_from(pv)),
                credited=draw(st.booleans()) if status == "rejected" else None,
                days_ago=draw(st.integers(1, 45)),
            )
        )
    return world, leads, age_days


def test_backlog_recycling_routes_every_random_world_as_the_reference_does(products):
    @EXAMPLES
    @given(spec=backlog_worlds())
    def check(spec):
        world, backlog, age_days = spec
        with rolled_back():
            commandes = store(world, products)
            settings_update(user=None, changes={"backlog_age_days": age_days})
            rows = []
            for n, b in enumerate(backlog):
                # Distinct creation times: the recycling takes the newest first.
                created = world.now - b.days_ago * DAY - n * MINUTE
                lead = LeadFactory(
                    entity=b.entity,
                    entity_locked=b.locked,
                    product=products["PV"],
                    departement=b.departement,
                    phone=b.phone,
                    status=b.status,
                    created_at=created,
                )
                if b.commande is not None:
                    # Sold earlier, then rejected (credited back or not) or delivered.
                    counts = b.status == "delivered" or b.credited is False
                    day = created.astimezone(PARIS).date()
                    AttributionFactory(
                        lead=lead,
                        commande=commandes[b.commande],
                        created_at=created,
                        day=day,
                        week_start=week_start(day),
                        status=b.status,
                        delivered_at=created,
                        counts_for_quota=counts,
                    )
                    world.attributions.append(AttributionSpec(b.commande, b.phone, created, b.status, counts))
                rows.append((created, lead, b))
            assert_fills_match(world, commandes)

            # The reference: the leads in the backlog, newest first, each routed with
            # backlog=True, its attribution then counting for the next ones.
            expected = {}
            for created, lead, b in sorted(rows, key=lambda r: r[0], reverse=True):
                if b.status == "delivered" and created >= world.now - age_days * DAY:
                    continue  # delivered recently: not in the backlog
                outcome = reference_route(
                    world, entity=b.entity, locked=b.locked, departement=b.departement, phone=b.phone, backlog=True
                )
                expected[lead.pk] = outcome
                if outcome.status == "routed":
                    chosen = min(outcome.allowed, key=lambda i: commandes[i].pk)
                    world.attributions.append(AttributionSpec(chosen, b.phone, world.now, "pending", True))

            report = backlog_recycle(now=world.now)

            assert report.recycled == sum(e.status == "routed" for e in expected.values())
            for _created, lead, b in rows:
                recycled = list(Attribution.objects.filter(lead=lead, is_backlog=True))
                lead.refresh_from_db()
                outcome = expected.get(lead.pk)
                if outcome is None or outcome.status != "routed":
                    assert (recycled, lead.status) == ([], b.status)
                    continue
                (attribution,) = recycled
                index = [c.pk for c in commandes].index(attribution.commande_id)
                assert index in outcome.allowed, (index, sorted(outcome.allowed))
                assert lead.status == "routed"
            assert_fills_match(world, commandes)

    check()


# --- Fill counters through rejections, cancellations and recycling (§5, §10) ---------------
INTAKE = st.tuples(st.just("intake"), st.sampled_from(ENTITIES), st.booleans(), st.integers(0, 9))
# Minutes forward: within the day, or over a day, a Monday or a DST change.
WAIT = st.tuples(st.just("wait"), st.sampled_from([1, 60, 10 * 60, 24 * 60, 3 * 24 * 60, 5 * 24 * 60]))
REJECT = st.tuples(st.just("reject"), st.integers(0, 50), st.booleans())  # by the client (held) or by staff
# A round: leads come in, a number is opposed, the day's delivery goes, time passes, some
# are rejected (in the attribution's week or a later one), a held rejection is approved,
# the backlog is recycled.
ROUND = st.tuples(
    st.lists(INTAKE, min_size=1, max_size=3),
    st.lists(st.tuples(st.just("oppose"), st.integers(0, 3)), max_size=1),
    st.just([("deliver",)]),
    st.lists(WAIT, min_size=1, max_size=1),
    st.lists(REJECT, min_size=1, max_size=2),
    st.lists(st.tuples(st.just("approve"), st.integers(0, 50)), max_size=1),
    st.lists(st.tuples(st.just("recycle")), max_size=1),
    st.lists(WAIT, max_size=1),
).map(lambda parts: [op for part in parts for op in part])
OPERATIONS = st.lists(ROUND, min_size=1, max_size=5).map(lambda rounds: [op for r in rounds for op in r])


def test_fill_counters_stay_equal_to_a_recount_through_every_service(products):
    """Intake, delivery, rejection (staff, or client then approval, in the same week or
    a later one), cancellation of opposed numbers and backlog recycling: after each, the
    counters equal both `commande_fill_rebuild`'s recount and the reference's, and no
    commande ever went over its weekly quota or daily cap."""
    from commandes.delivery import attributions_cancel_opposed
    from commandes.models import Rejection
    from commandes.rejections import RejectionError, rejection_approve, rejection_create

    @EXAMPLES
    @given(
        now=instants(),
        shapes=st.lists(
            st.tuples(st.sampled_from(ENTITIES), st.integers(1, 3), st.none() | st.integers(1, 2), st.integers(0, 1)),
            min_size=1,
            max_size=4,
        ),
        operations=OPERATIONS,
    )
    def check(now, shapes, operations):
        with rolled_back():
            settings_update(user=None, changes={"rejection_ceiling_percent": 0})
            commandes = [
                CommandeFactory(
                    client=ClientFactory(entity=entity),
                    product=products["PV"],
                    weekly_quota=quota,
                    daily_cap=cap,
                    priority=priority,
                    accepts_backlog=True,
                )
                for entity, quota, cap, priority in shapes
            ]
            # The reference: each attribution's commande, Paris day, and whether it counts.
            counted: dict[int, list] = {}
            providers = {entity: ProviderFactory(entity=entity) for entity in ENTITIES}
            forms = {entity: LeadFormFactory(entity=entity, product=products["PV"]) for entity in ENTITIES}

            def note_new_attributions():
                for a in Attribution.objects.exclude(pk__in=list(counted)):
                    assert a.counts_for_quota
                    counted[a.pk] = [a.commande_id, a.day, True]

            def credit(attribution_id: int, at: datetime.datetime):
                _, day, _ = counted[attribution_id]
                if week_start(at.astimezone(PARIS).date()) == week_start(day):
                    counted[attribution_id][2] = False

            for op, *args in operations:
                if op == "wait":
                    now += args[0] * MINUTE
                elif op == "intake":
                    entity, locked, n = args
                    data = LeadInput(phone=f"+3361234000{n}", product=products["PV"], departement="13")
                    origin = {"provider": providers[entity]} if locked else {"form": forms[entity]}
                    lead_create(data=data, now=now, **origin)
                elif op == "deliver":  # what the daily delivery writes
                    pending = Attribution.objects.filter(status="pending")
                    Lead.objects.filter(attributions__in=pending).update(status="delivered")
                    pending.update(status="delivered", delivered_at=now)
                elif op == "reject":
                    delivered = list(Attribution.objects.filter(status="delivered").order_by("pk"))
                    if delivered:
                        # A rejection from the client or from staff, now or days after the delivery.
                        a = delivered[args[0] % len(delivered)]
                        try:
                            rejection = rejection_create(
                                attribution=a, reason="wrong_number", by_client=args[1], now=now
                            )
                        except RejectionError:
                            pass  # past the rejection window
                        else:
                            if rejection.status == "approved":
                                credit(a.pk, now)
                elif op == "approve":
                    waiting = list(Rejection.objects.filter(status="pending").order_by("pk"))
                    if waiting:
                        rejection = waiting[args[0] % len(waiting)]
                        rejection_approve(rejection=rejection, actor=None, now=now)
                        credit(rejection.attribution_id, now)
                elif op == "oppose":
                    OppositionEntry.objects.get_or_create(phone=f"+3361234000{args[0] % 4}")
                    cancelled = list(
                        Attribution.objects.filter(status="pending", phone=f"+3361234000{args[0] % 4}").values_list(
                            "pk", flat=True
                        )
                    )
                    attributions_cancel_opposed(qs=Attribution.objects.filter(status="pending"))
                    for pk in cancelled:
                        counted[pk][2] = False
                elif op == "recycle":
                    backlog_recycle(now=now)
                note_new_attributions()

                assert commande_fill_rebuild(check_only=True) == []
                # Every day's counter, past weeks too (a late rejection credits nothing back).
                kept = {(f.commande_id, f.day): f.used for f in CommandeFill.objects.exclude(used=0)}
                reference = collections.Counter((c, d) for c, d, counts in counted.values() if counts)
                assert kept == dict(reference), op
                today = now.astimezone(PARIS).date()
                monday = week_start(today)
                fills = commande_fills(commande_ids=[c.pk for c in commandes], now=now)
                for c in commandes:
                    days = [day for commande_id, day, counts in counted.values() if commande_id == c.pk and counts]
                    week = sum(monday <= d < monday + 7 * DAY for d in days)
                    assert (fills[c.pk].week, fills[c.pk].day) == (week, days.count(today)), (op, c.pk)
                    assert week <= c.weekly_quota
                    assert c.daily_cap is None or days.count(today) <= c.daily_cap

    check()
