"""Lead Backlog recycling (§10): age rule, accepts_backlog, duplicates (§6), quotas (§5)."""

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from commandes.models import Attribution
from leads.models import LeadEvent
from routing.backlog import backlog_leads, backlog_recycle
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory, OppositionEntryFactory

pytestmark = pytest.mark.django_db


def test_a_no_order_lead_goes_only_to_an_open_commande_that_accepts_the_backlog(product):
    refuses = CommandeFactory(product=product, accepts_backlog=False, priority=10)
    accepts = CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")

    report = backlog_recycle()

    assert report.recycled == 1
    attribution = Attribution.objects.get(lead=lead)
    assert attribution.commande == accepts and attribution.is_backlog
    assert not refuses.attributions.exists()
    lead.refresh_from_db()
    assert lead.status == "routed"
    assert lead.events.filter(kind=LeadEvent.Kind.RECYCLED, message__contains="Lead Backlog").exists()


def test_a_delivered_lead_joins_the_backlog_only_after_the_backlog_age(product):
    CommandeFactory(product=product, accepts_backlog=True)
    old_client = CommandeFactory(product=product)
    now = timezone.now()
    old = AttributionFactory(
        commande=old_client,
        lead=LeadFactory(product=product, status="delivered"),
        status="delivered",
        created_at=now - datetime.timedelta(days=32),
        delivered_at=now - datetime.timedelta(days=31),
    )
    recent = AttributionFactory(
        commande=old_client,
        lead=LeadFactory(product=product, status="delivered"),
        status="delivered",
        delivered_at=now - datetime.timedelta(days=5),
    )

    assert set(backlog_leads().values_list("pk", flat=True)) == {old.lead_id}
    backlog_recycle()

    old.refresh_from_db()
    assert old.status == "recycled"
    assert old.lead.attributions.filter(is_backlog=True, status="pending").count() == 1
    assert not recent.lead.attributions.filter(is_backlog=True).exists()


def test_a_rejected_lead_never_goes_back_to_the_client_that_rejected_it_within_30_days(product):
    rejecting = CommandeFactory(product=product, accepts_backlog=True, priority=5)
    other = CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="rejected")
    AttributionFactory(lead=lead, commande=rejecting, status="rejected", delivered_at=timezone.now())

    backlog_recycle()

    new = Attribution.objects.get(lead=lead, is_backlog=True)
    assert new.commande == other


def test_a_lead_with_only_a_duplicate_match_stays_in_the_backlog(product):
    commande = CommandeFactory(product=product, accepts_backlog=True)
    earlier = LeadFactory(product=product, status="delivered", phone="+33611112222")
    AttributionFactory(lead=earlier, commande=commande, status="delivered", delivered_at=timezone.now())
    lead = LeadFactory(product=product, status="no_order", phone="+33611112222")

    report = backlog_recycle()

    assert report.recycled == 0
    lead.refresh_from_db()
    assert lead.status == "no_order"


def test_recycling_respects_the_weekly_quota(product):
    commande = CommandeFactory(product=product, accepts_backlog=True, weekly_quota=2)
    leads = [LeadFactory(product=product, status="no_order") for _ in range(3)]

    report = backlog_recycle()

    assert report.examined == 3 and report.recycled == 2
    assert commande.attributions.count() == 2
    assert sum(1 for lead in leads if lead.attributions.exists()) == 2


def test_an_opposed_number_is_not_in_the_backlog(product):
    CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")
    OppositionEntryFactory(phone=lead.phone)

    assert backlog_recycle().recycled == 0


def test_the_leads_of_a_source_blacklisted_since_they_came_in_are_not_recycled(product, zr7_provider):
    """§8: a blacklisted source's leads are not routed. Its leads already waiting in the
    backlog were sold by the next recycling all the same."""
    from rdz.core.services import settings_update

    CommandeFactory(product=product, accepts_backlog=True)
    by_source = LeadFactory(product=product, status="no_order", source=" Partenaire-Douteux ")
    by_slug = LeadFactory(
        product=product, status="no_order", provider=zr7_provider, entity_locked=True, source="campagne-12"
    )
    kept_form_lead = LeadFactory(product=product, status="no_order", provider=None, source="landing-pv")
    settings_update(
        changes={"blacklisted_sources": ["partenaire-douteux", f"  {zr7_provider.slug.upper()} "]}, user=None
    )

    listed = set(backlog_leads().values_list("pk", flat=True))

    assert by_source.pk not in listed and by_slug.pk not in listed
    assert kept_form_lead.pk in listed
    report = backlog_recycle()
    assert report.recycled == 1
    assert set(Attribution.objects.values_list("lead_id", flat=True)) == {kept_form_lead.pk}


def test_the_command_recycles_and_the_admin_lists_the_backlog_with_counts(product, superuser, client, capsys):
    LeadFactory(product=product, status="no_order", departement="13")
    LeadFactory(product=product, status="no_order", departement="2A")
    LeadFactory(product=product, status="routed")
    client.force_login(superuser)

    page = client.get("/admin/commandes/backloglead/")
    call_command("backlog_recycle")

    assert page.status_code == 200
    counts = page.context["backlog_counts"]
    assert counts["total"] == 2
    assert {row["departement"]: row["n"] for row in counts["by_departement"]} == {"13": 1, "2A": 1}
    assert counts["by_product"] == [{"product__code": "PV", "n": 2}]
    assert "Lead Backlog" in capsys.readouterr().out


def test_a_lead_recycled_and_delivered_by_a_concurrent_run_is_not_recycled_again(product, monkeypatch):
    """Two runs read the backlog at the same time (beat and the command): by the time the
    slower one reaches a lead, the other has recycled it and its client's endpoint has
    taken it. It is no longer in the backlog: it must not be given a second time."""
    from commandes.delivery import attributions_mark_delivered
    from routing import backlog

    CommandeFactory(product=product, accepts_backlog=True, priority=5)
    CommandeFactory(product=product, accepts_backlog=True)
    lead = LeadFactory(product=product, status="no_order")
    recycle_one = backlog._recycle_one

    def other_run_first(*, lead_id, now):
        recycle_one(lead_id=lead_id, now=now)  # the other run, ahead on this lead
        attributions_mark_delivered(
            qs=Attribution.objects.filter(lead_id=lead_id, status="pending"), now=now, message="Livré", data={}
        )
        return recycle_one(lead_id=lead_id, now=now)

    monkeypatch.setattr(backlog, "_recycle_one", other_run_first)

    report = backlog_recycle()

    assert report.recycled == 0
    assert list(lead.attributions.values_list("status", flat=True)) == ["delivered"]
    lead.refresh_from_db()
    assert lead.status == "delivered"


def test_the_limit_is_spent_on_leads_a_commande_could_take_not_on_the_newest(product):
    """A large backlog of departements nobody buys must not hide, run after run, the older
    leads of a departement a commande now takes."""
    taker = CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=True, departements=["29"])
    now = timezone.now()
    older = LeadFactory(
        product=product, status="no_order", departement="29", created_at=now - datetime.timedelta(days=3)
    )
    for _ in range(3):
        LeadFactory(product=product, status="no_order", departement="13")  # newer, not covered
    # Covered departement, but locked to the other entity: it cannot go there either.
    LeadFactory(product=product, status="no_order", departement="29", entity="MDL", entity_locked=True)
    # Covered by a commande that has ended.
    CommandeFactory(product=product, accepts_backlog=True, departements=["13"], ends_on=datetime.date(2020, 1, 1))

    report = backlog_recycle(limit=2)

    assert (report.examined, report.recycled) == (1, 1)
    assert Attribution.objects.get(lead=older).commande == taker


@pytest.mark.parametrize(
    "changes",
    [{"cross_entity_enabled": False}, {"cross_entity_mdl_to_zr7": False}],
    ids=["fallback-off", "direction-off"],
)
def test_the_limit_is_not_spent_on_other_entity_leads_the_settings_keep_from_crossing(product, changes):
    """With the fallback off (or off in that direction), the newest unlocked leads of the other
    entity cannot go to a commande: they must not use up the run and hide this entity's leads."""
    from rdz.core.services import settings_update

    settings_update(user=None, changes=changes)
    taker = CommandeFactory(client__entity="ZR7", product=product, accepts_backlog=True)
    now = timezone.now()
    older = LeadFactory(product=product, status="no_order", created_at=now - datetime.timedelta(days=3))
    for _ in range(3):
        LeadFactory(product=product, status="no_order", entity="MDL", entity_locked=False)  # newer

    report = backlog_recycle(limit=2)

    assert (report.examined, report.recycled) == (1, 1)
    assert Attribution.objects.get(lead=older).commande == taker


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_the_command_refuses_a_limit_below_one_in_french(product, limit):
    from django.core.management import CommandError

    LeadFactory(product=product, status="no_order")
    CommandeFactory(product=product, accepts_backlog=True)

    with pytest.raises(CommandError, match="au moins 1"):
        call_command("backlog_recycle", "--limit", limit)

    assert not Attribution.objects.exists()


@pytest.mark.parametrize("how", ["erasure", "retention"])
def test_an_anonymized_lead_leaves_the_backlog_and_is_never_sold_again(product, how):
    """Its phone is emptied, so the opposition list no longer matches it: an erased person's
    lead, or one past the retention period, would go out as an empty row to a client."""
    from leads.services_rgpd import lead_retention_anonymize, rgpd_erase

    CommandeFactory(product=product, accepts_backlog=True)
    now = timezone.now()
    lead = LeadFactory(
        product=product, status="rejected", phone="+33611112222", created_at=now - datetime.timedelta(days=4 * 366)
    )
    kept = LeadFactory(product=product, status="no_order")
    if how == "erasure":
        rgpd_erase(phone="+33611112222")
    else:
        lead_retention_anonymize(now=now)

    assert list(backlog_leads().values_list("pk", flat=True)) == [kept.pk]
    report = backlog_recycle()

    assert report.recycled == 1
    assert not lead.attributions.exists()


def test_a_lead_whose_recycling_hits_a_deadlock_waits_for_the_next_run_and_the_others_go(product, monkeypatch):
    """PostgreSQL aborts one side of a deadlock (a rejection approved while the same lead is
    recycled): that lead's transaction is rolled back, the run goes on with the others."""
    from django.db import OperationalError, transaction

    from routing import backlog

    CommandeFactory(product=product, accepts_backlog=True)
    unlucky = LeadFactory(product=product, status="no_order", created_at=timezone.now())
    other = LeadFactory(product=product, status="no_order", created_at=timezone.now() - datetime.timedelta(hours=1))
    real = backlog._recycle_one

    @transaction.atomic
    def deadlocked(*, lead_id, now):
        if lead_id == unlucky.pk:
            real.__wrapped__(lead_id=lead_id, now=now)  # wrote its rows, then PostgreSQL aborts it
            raise OperationalError("deadlock detected")
        return real(lead_id=lead_id, now=now)

    monkeypatch.setattr(backlog, "_recycle_one", deadlocked)

    report = backlog_recycle()

    assert (report.examined, report.recycled, report.failed) == (2, 1, 1)
    assert report.summary().startswith("Lead Backlog : 2 leads examinés, 1 réattribué, 1 à reprendre")
    assert Attribution.objects.filter(lead=other).count() == 1
    assert not Attribution.objects.filter(lead=unlucky).exists()  # rolled back whole
    unlucky.refresh_from_db()
    assert unlucky.status == "no_order" and backlog_leads().filter(pk=unlucky.pk).exists()
    monkeypatch.undo()
    assert backlog_recycle().recycled == 1  # the next run takes it


def test_a_recycling_run_that_goes_past_monday_midnight_counts_its_later_leads_in_the_new_week(product, monkeypatch):
    """§5: the week starts Monday 00:00 Paris. A run started on Sunday evening (a large
    backlog, the command run by hand) gave the leads it routed after midnight Sunday's date:
    counted in the closed week, they left the new week's quota whole, and the client got
    them on top of it."""
    import routing.backlog
    from routing.services import lead_route

    commande = CommandeFactory(product=product, accepts_backlog=True, weekly_quota=1)
    lead = LeadFactory(product=product, status="no_order")
    # Sunday 8 March 2026, 23:59:50 in Paris (UTC+1); the lead's turn comes 40 seconds later.
    started = datetime.datetime(2026, 3, 8, 22, 59, 50, tzinfo=datetime.UTC)
    ticks = [1000.0, 1040.0]
    clock = type("Clock", (), {"monotonic": staticmethod(lambda: ticks.pop(0) if len(ticks) > 1 else ticks[0])})
    monkeypatch.setattr(routing.backlog, "time", clock)

    assert backlog_recycle(now=started).recycled == 1

    attribution = Attribution.objects.get(lead=lead)
    monday = datetime.date(2026, 3, 9)
    assert (attribution.day, attribution.week_start) == (monday, monday)
    assert attribution.created_at == started + datetime.timedelta(seconds=40)
    # The new week's only place is taken: a lead arriving at 00:01 finds the commande full.
    late = lead_route(lead=LeadFactory(product=product), now=started + datetime.timedelta(minutes=1, seconds=10))
    assert late.status == "no_order" and commande.attributions.count() == 1
