"""Routing rules (§5–§7) through the real intake service, with explicit times."""

import datetime

import pytest

from commandes.models import Attribution
from leads.models import Lead
from leads.services import LeadInput, lead_create
from rdz.core.services import settings_update
from rdz.core.timeutils import PARIS
from routing.services import lead_route
from tests.factories import AttributionFactory, ClientFactory, CommandeFactory, LeadFactory, LeadFormFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
# A plain winter Wednesday, 10:00 Paris.
NOW = datetime.datetime(2026, 1, 14, 9, 0, tzinfo=UTC)


def paris(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=PARIS)


def intake(origin, *, product, phone="+33612345678", departement="13", now=NOW, **kwargs) -> Lead:
    data = LeadInput(phone=phone, product=product, departement=departement, **kwargs)
    key = "form" if origin.__class__.__name__ == "LeadForm" else "provider"
    lead, created = lead_create(data=data, now=now, **{key: origin})
    assert created
    lead.refresh_from_db()
    return lead


def phone(n: int) -> str:
    return f"+3361234{n:04d}"


@pytest.fixture
def zr7_form(product):
    return LeadFormFactory(entity="ZR7", product=product)


@pytest.fixture
def mdl_form(product):
    return LeadFormFactory(entity="MDL", product=product)


# --- OPEN (§5) ------------------------------------------------------------------------------
def test_an_open_commande_receives_the_lead(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    lead = intake(zr7_provider, product=product)
    assert lead.status == "routed"
    attribution = Attribution.objects.get(lead=lead)
    assert (attribution.commande, attribution.client, attribution.entity) == (commande, commande.client, "ZR7")
    assert (attribution.phone, attribution.product, attribution.is_backlog) == (lead.phone, product, False)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"active": False}, "commande inactive"),
        ({"starts_on": datetime.date(2026, 1, 15)}, "pas encore commencée"),
        ({"ends_on": datetime.date(2026, 1, 13)}, "terminée"),
    ],
)
def test_a_commande_that_is_not_open_receives_nothing(zr7_provider, product, changes, reason):
    CommandeFactory(client__entity="ZR7", product=product, **changes)
    lead = intake(zr7_provider, product=product)
    assert lead.status == "no_order"
    assert reason in lead.events.last().message


def test_an_inactive_client_closes_its_commandes(zr7_provider, product):
    CommandeFactory(client=ClientFactory(entity="ZR7", active=False), product=product)
    lead = intake(zr7_provider, product=product)
    assert lead.status == "no_order"
    assert "client inactif" in lead.events.last().message


def test_start_and_end_dates_are_inclusive_in_paris_time(zr7_provider, product):
    # 23:30 UTC on 13 January is already 14 January in Paris.
    late = datetime.datetime(2026, 1, 13, 23, 30, tzinfo=UTC)
    CommandeFactory(client__entity="ZR7", product=product, starts_on=datetime.date(2026, 1, 14))
    assert intake(zr7_provider, product=product, now=late).status == "routed"


def test_the_end_date_closes_at_midnight_paris(zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product, ends_on=datetime.date(2026, 1, 13))
    assert intake(zr7_provider, product=product, phone=phone(1), now=paris(2026, 1, 13, 23, 59)).status == "routed"
    assert intake(zr7_provider, product=product, phone=phone(2), now=paris(2026, 1, 14, 0, 0)).status == "no_order"


def test_only_the_leads_product_and_departement_match(zr7_provider, product):
    from tests.factories import ProductFactory

    CommandeFactory(client__entity="ZR7", product=ProductFactory(code="PAC"))
    CommandeFactory(client__entity="ZR7", product=product, departements=["2A", "13"])
    corsica = CommandeFactory(client__entity="ZR7", product=product, departements=["2B"])
    lead = intake(zr7_provider, product=product, departement="2A")
    assert lead.status == "routed"
    assert not corsica.attributions.exists()
    assert intake(zr7_provider, product=product, phone=phone(3), departement="971").status == "no_order"


def test_the_weekly_quota_is_never_exceeded(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=2)
    statuses = [intake(zr7_provider, product=product, phone=phone(i)).status for i in range(3)]
    assert statuses == ["routed", "routed", "no_order"]
    assert commande.attributions.count() == 2
    assert "quota hebdomadaire atteint (2/2)" in Lead.objects.get(phone=phone(2)).events.last().message


def test_the_daily_cap_closes_the_commande_until_the_next_paris_day(zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product, weekly_quota=10, daily_cap=1)
    assert intake(zr7_provider, product=product, phone=phone(1), now=paris(2026, 1, 14, 9)).status == "routed"
    second = intake(zr7_provider, product=product, phone=phone(2), now=paris(2026, 1, 14, 23, 59))
    assert second.status == "no_order"
    assert "plafond journalier atteint (1/1)" in second.events.last().message
    assert intake(zr7_provider, product=product, phone=phone(3), now=paris(2026, 1, 15, 0, 0)).status == "routed"


def test_attributions_credited_back_do_not_count_for_the_quota(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=1)
    AttributionFactory(
        commande=commande, counts_for_quota=False, lead__product=product, week_start=datetime.date(2026, 1, 12)
    )
    assert intake(zr7_provider, product=product).status == "routed"


# --- Week boundary (Monday 00:00 Europe/Paris) -----------------------------------------------
def test_sunday_2359_and_monday_0000_paris_count_in_different_weeks(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=1)
    sunday = intake(zr7_provider, product=product, phone=phone(1), now=paris(2026, 1, 18, 23, 59, 59))
    again_sunday = intake(zr7_provider, product=product, phone=phone(2), now=paris(2026, 1, 18, 23, 59, 59, 500000))
    monday = intake(zr7_provider, product=product, phone=phone(3), now=paris(2026, 1, 19, 0, 0))
    assert (sunday.status, again_sunday.status, monday.status) == ("routed", "no_order", "routed")
    weeks = sorted(commande.attributions.values_list("week_start", flat=True))
    assert weeks == [datetime.date(2026, 1, 12), datetime.date(2026, 1, 19)]


def test_the_week_starts_at_paris_midnight_not_utc_midnight(zr7_provider, product):
    CommandeFactory(client__entity="ZR7", product=product, weekly_quota=1)
    # Monday 00:30 Paris is still Sunday 23:30 UTC: it is the new week in Paris.
    assert intake(zr7_provider, product=product, phone=phone(1), now=paris(2026, 1, 18, 12)).status == "routed"
    monday_paris = datetime.datetime(2026, 1, 18, 23, 30, tzinfo=UTC)
    assert intake(zr7_provider, product=product, phone=phone(2), now=monday_paris).status == "routed"


@pytest.mark.parametrize(
    ("sunday_2359", "monday_0000", "previous_monday"),
    [
        # Spring forward on Sunday 29 March 2026: that Sunday evening is UTC+2.
        (
            datetime.datetime(2026, 3, 29, 21, 59, tzinfo=UTC),
            datetime.datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
            datetime.datetime(2026, 3, 22, 23, 0, tzinfo=UTC),
        ),
        # Fall back on Sunday 25 October 2026: that Sunday evening is UTC+1.
        (
            datetime.datetime(2026, 10, 25, 22, 59, tzinfo=UTC),
            datetime.datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
            datetime.datetime(2026, 10, 18, 22, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_dst_week_still_runs_from_monday_to_monday_paris(
    zr7_provider, product, sunday_2359, monday_0000, previous_monday
):
    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=2)
    first = intake(zr7_provider, product=product, phone=phone(1), now=previous_monday)
    last = intake(zr7_provider, product=product, phone=phone(2), now=sunday_2359 + datetime.timedelta(seconds=59))
    over = intake(zr7_provider, product=product, phone=phone(3), now=sunday_2359 + datetime.timedelta(seconds=59))
    next_week = intake(zr7_provider, product=product, phone=phone(4), now=monday_0000)
    assert [first.status, last.status, over.status, next_week.status] == ["routed", "routed", "no_order", "routed"]
    first_monday = previous_monday.astimezone(PARIS).date()
    assert first_monday.weekday() == 0
    assert sorted(commande.attributions.values_list("week_start", flat=True)) == [
        first_monday,
        first_monday,
        first_monday + datetime.timedelta(days=7),
    ]


# --- Duplicate rule (§6) ------------------------------------------------------------------------
def _earlier_attribution(commande, product, at):
    lead = LeadFactory(product=product, phone="+33612345678", created_at=at)
    AttributionFactory(lead=lead, commande=commande, created_at=at, week_start=datetime.date(2020, 1, 6))


def test_the_same_phone_and_product_within_30_days_is_a_duplicate_for_that_client(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    _earlier_attribution(commande, product, NOW - datetime.timedelta(days=29, hours=23))
    lead = intake(zr7_provider, product=product)
    assert lead.status == "duplicate"
    assert "doublon 30 jours" in lead.events.last().message
    assert commande.attributions.count() == 1


def test_after_30_days_the_same_phone_may_go_to_the_client_again(zr7_provider, product):
    commande = CommandeFactory(client__entity="ZR7", product=product)
    _earlier_attribution(commande, product, NOW - datetime.timedelta(days=30, seconds=1))
    assert intake(zr7_provider, product=product).status == "routed"
    assert commande.attributions.count() == 2


def test_a_duplicate_for_one_client_still_goes_to_another_client(zr7_provider, product):
    first = CommandeFactory(client__entity="ZR7", product=product, priority=5)
    second = CommandeFactory(client__entity="ZR7", product=product, priority=1)
    _earlier_attribution(first, product, NOW - datetime.timedelta(days=3))
    lead = intake(zr7_provider, product=product)
    assert lead.status == "routed"
    assert Attribution.objects.get(lead=lead).commande == second


def test_the_duplicate_rule_is_per_client_across_its_commandes(zr7_provider, product):
    client = ClientFactory(entity="ZR7")
    old = CommandeFactory(client=client, product=product, departements=["13"])
    CommandeFactory(client=client, product=product, departements=["*"])
    _earlier_attribution(old, product, NOW - datetime.timedelta(days=1))
    assert intake(zr7_provider, product=product).status == "duplicate"


def test_the_same_phone_for_another_product_is_not_a_duplicate(zr7_provider, product):
    from tests.factories import ProductFactory

    commande = CommandeFactory(client__entity="ZR7", product=product)
    _earlier_attribution(
        CommandeFactory(client=commande.client, product=ProductFactory(code="PAC")), ProductFactory(code="PAC"), NOW
    )
    assert intake(zr7_provider, product=product).status == "routed"


def test_no_matching_commande_at_all_is_no_order(zr7_provider, product):
    lead = intake(zr7_provider, product=product)
    assert lead.status == "no_order"
    assert "aucune commande" in lead.events.last().message


# --- Choice between candidates (§7.2) --------------------------------------------------------------
def test_the_highest_priority_wins_even_if_fuller(zr7_provider, product):
    full_but_first = CommandeFactory(client__entity="ZR7", product=product, priority=3, weekly_quota=10)
    for i in range(5):
        AttributionFactory(
            commande=full_but_first,
            lead__product=product,
            lead__phone=phone(100 + i),
            week_start=datetime.date(2026, 1, 12),
        )
    CommandeFactory(client__entity="ZR7", product=product, priority=1, weekly_quota=10)
    lead = intake(zr7_provider, product=product)
    assert Attribution.objects.get(lead=lead).commande == full_but_first


def test_at_equal_priority_the_lowest_fill_ratio_wins_then_the_oldest(zr7_provider, product):
    half = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=4)
    AttributionFactory(
        commande=half, lead__product=product, lead__phone=phone(200), week_start=datetime.date(2026, 1, 12)
    )
    AttributionFactory(
        commande=half, lead__product=product, lead__phone=phone(201), week_start=datetime.date(2026, 1, 12)
    )
    quarter = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=8)
    AttributionFactory(
        commande=quarter, lead__product=product, lead__phone=phone(202), week_start=datetime.date(2026, 1, 12)
    )
    older = CommandeFactory(
        client__entity="ZR7", product=product, weekly_quota=8, created_at=NOW - datetime.timedelta(days=9)
    )
    AttributionFactory(
        commande=older, lead__product=product, lead__phone=phone(203), week_start=datetime.date(2026, 1, 12)
    )
    lead = intake(zr7_provider, product=product)
    attribution = Attribution.objects.get(lead=lead)
    assert attribution.commande == older
    verdicts = {c["commande_id"]: c["verdict"] for c in attribution.explanation["commandes"]}
    assert verdicts == {older.pk: "chosen", quarter.pk: "passed", half.pk: "passed"}


# --- Cross-entity fallback (§7.3, §8, §9) --------------------------------------------------------
def test_an_unlocked_lead_falls_back_to_the_other_entity_and_keeps_its_own(zr7_form, product):
    mdl = CommandeFactory(client__entity="MDL", product=product)
    lead = intake(zr7_form, product=product)
    assert (lead.status, lead.entity) == ("routed", "ZR7")
    attribution = Attribution.objects.get(lead=lead)
    assert (attribution.commande, attribution.entity) == (mdl, "MDL")
    assert attribution.explanation["cross_entity"] is True


def test_the_own_entity_is_always_tried_first(zr7_form, product):
    CommandeFactory(client__entity="MDL", product=product, priority=99)
    own = CommandeFactory(client__entity="ZR7", product=product, priority=0)
    lead = intake(zr7_form, product=product)
    assert Attribution.objects.get(lead=lead).commande == own


@pytest.mark.parametrize(
    ("changes", "zr7_crosses", "mdl_crosses"),
    [
        ({"cross_entity_enabled": False}, False, False),
        ({"cross_entity_zr7_to_mdl": False}, False, True),
        ({"cross_entity_mdl_to_zr7": False}, True, False),
        ({}, True, True),
    ],
)
def test_the_cross_entity_setting_is_global_and_per_direction(
    zr7_form, mdl_form, product, changes, zr7_crosses, mdl_crosses
):
    CommandeFactory(client__entity="ZR7", product=product, departements=["75"])
    CommandeFactory(client__entity="MDL", product=product, departements=["13"])
    settings_update(user=None, changes=changes)
    from_zr7 = intake(zr7_form, product=product, phone=phone(1), departement="13")
    from_mdl = intake(mdl_form, product=product, phone=phone(2), departement="75")
    assert (from_zr7.status == "routed", from_mdl.status == "routed") == (zr7_crosses, mdl_crosses)
    if not zr7_crosses:
        assert "repli ZR7 → MDL désactivé" in from_zr7.events.last().message


@pytest.mark.parametrize("provider_fixture", ["zr7_provider", "mdl_provider"])
def test_a_provider_lead_stays_in_its_entity_in_both_directions(request, product, provider_fixture):
    provider = request.getfixturevalue(provider_fixture)
    other = "MDL" if provider.entity == "ZR7" else "ZR7"
    CommandeFactory(client__entity=other, product=product)
    lead = intake(provider, product=product)
    assert (lead.status, lead.entity_locked) == ("no_order", True)
    assert "verrouillé" in lead.events.last().message


def test_settings_changes_apply_to_the_next_lead_without_restart(zr7_form, product):
    CommandeFactory(client__entity="MDL", product=product)
    settings_update(user=None, changes={"cross_entity_enabled": False})
    assert intake(zr7_form, product=product, phone=phone(1)).status == "no_order"
    settings_update(user=None, changes={"cross_entity_enabled": True})
    assert intake(zr7_form, product=product, phone=phone(2)).status == "routed"


def test_a_duplicate_in_the_own_entity_may_still_cross(zr7_form, product):
    own = CommandeFactory(client__entity="ZR7", product=product)
    _earlier_attribution(own, product, NOW - datetime.timedelta(days=2))
    CommandeFactory(client__entity="MDL", product=product)
    assert intake(zr7_form, product=product).status == "routed"


# --- lead_route used on its own (backlog) ---------------------------------------------------------
def test_the_backlog_only_goes_to_commandes_that_accept_it(product):
    CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=False)
    taker = CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=True, priority=-1)
    lead = LeadFactory(product=product, entity="ZR7")
    result = lead_route(lead=lead, now=NOW, backlog=True)
    assert result.status == "routed"
    assert (result.attribution.commande, result.attribution.is_backlog) == (taker, True)
    assert result.attribution.explanation["commandes"][0]["verdict"] == "chosen"


# --- A race lost under the client lock ----------------------------------------------------------
def test_a_race_lost_under_the_lock_stores_the_lead_with_the_true_outcome(zr7_provider, product, monkeypatch):
    """The lead is written after the re-check under the lock: if it refuses (another
    intake took the last place meanwhile), the lead and its timeline say so."""
    import routing.services

    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=1)
    real_lock = routing.services.routing_lock_and_recheck

    def lock_after_a_concurrent_intake(**kwargs):
        AttributionFactory(
            commande=commande, lead__product=product, lead__phone=phone(9), week_start=datetime.date(2026, 1, 12)
        )
        return real_lock(**kwargs)

    monkeypatch.setattr(routing.services, "routing_lock_and_recheck", lock_after_a_concurrent_intake)
    lead = intake(zr7_provider, product=product)
    assert lead.status == "no_order"
    assert not Attribution.objects.filter(lead=lead).exists()
    decision = lead.events.get(kind="not_routed")
    assert "quota hebdomadaire atteint (1/1)" in decision.message
    assert decision.data["commandes"][0]["verdict"] == "full"
    assert not lead.events.filter(kind="routed").exists()


@pytest.mark.parametrize(
    ("change", "verdict", "reason"),
    [
        ({"weekly_quota": 1}, "full", "quota hebdomadaire atteint (1/1)"),
        ({"daily_cap": 1}, "full", "plafond journalier atteint (1/1)"),
        ({"active": False}, "closed", "commande inactive"),
        ({"ends_on": datetime.date(2026, 1, 13)}, "closed", "terminée"),
    ],
)
def test_a_commande_closed_or_lowered_by_staff_while_the_intake_routes_is_read_again_under_the_lock(
    zr7_provider, product, monkeypatch, change, verdict, reason
):
    """The candidates were read before staff saved the commande: the re-check under the
    client lock reads its settings again, so the new quota is never overrun (§16)."""
    import routing.services
    from commandes.models import Commande

    commande = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=5)
    AttributionFactory(
        commande=commande,
        lead__product=product,
        lead__phone=phone(9),
        week_start=datetime.date(2026, 1, 12),
        day=datetime.date(2026, 1, 14),
    )
    real_lock = routing.services.routing_lock_and_recheck

    def lock_after_staff_saved(**kwargs):
        Commande.objects.filter(pk=commande.pk).update(**change)
        return real_lock(**kwargs)

    monkeypatch.setattr(routing.services, "routing_lock_and_recheck", lock_after_staff_saved)
    lead = intake(zr7_provider, product=product)

    assert lead.status == "no_order"
    assert Attribution.objects.filter(commande=commande).count() == 1
    decision = lead.events.get(kind="not_routed")
    assert decision.data["commandes"][0]["verdict"] == verdict
    assert reason in decision.message


def test_a_client_deactivated_while_the_intake_routes_gets_nothing(zr7_provider, product, monkeypatch):
    import routing.services
    from commandes.models import Client

    commande = CommandeFactory(client__entity="ZR7", product=product)
    real_lock = routing.services.routing_lock_and_recheck

    def lock_after_staff_saved(**kwargs):
        Client.objects.filter(pk=commande.client_id).update(active=False)
        return real_lock(**kwargs)

    monkeypatch.setattr(routing.services, "routing_lock_and_recheck", lock_after_staff_saved)
    lead = intake(zr7_provider, product=product)

    assert lead.status == "no_order"
    assert not Attribution.objects.filter(lead=lead).exists()
    assert "client inactif" in lead.events.get(kind="not_routed").message


def test_a_race_lost_on_the_first_candidate_goes_to_the_next_one(zr7_provider, product, monkeypatch):
    import routing.services

    first = CommandeFactory(client__entity="ZR7", product=product, weekly_quota=1, priority=2)
    second = CommandeFactory(client__entity="ZR7", product=product, priority=1)
    real_lock = routing.services.routing_lock_and_recheck
    raced = []

    def lock_after_a_concurrent_intake(**kwargs):
        if not raced:
            raced.append(kwargs["client_id"])
            AttributionFactory(
                commande=first, lead__product=product, lead__phone=phone(9), week_start=datetime.date(2026, 1, 12)
            )
        return real_lock(**kwargs)

    monkeypatch.setattr(routing.services, "routing_lock_and_recheck", lock_after_a_concurrent_intake)
    lead = intake(zr7_provider, product=product)
    assert lead.status == "routed"
    assert Attribution.objects.get(lead=lead).commande == second
    decision = lead.events.get(kind="routed")
    verdicts = {c["commande_id"]: c["verdict"] for c in decision.data["commandes"]}
    assert verdicts == {first.pk: "full", second.pk: "chosen"}
    assert decision.data == Attribution.objects.get(lead=lead).explanation
