"""The per-day quota counters (`CommandeFill`) follow the attributions on every write path."""

import datetime

import pytest
from django.db import connection
from django.db.models import Count

from commandes.models import Attribution, CommandeFill
from commandes.services import commande_fills
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2026, 3, 9)


def counted() -> dict[tuple[int, datetime.date], int]:
    rows = Attribution.objects.filter(counts_for_quota=True).values("commande_id", "day").annotate(n=Count("*"))
    return {(r["commande_id"], r["day"]): r["n"] for r in rows}


def kept() -> dict[tuple[int, datetime.date], int]:
    return {(f.commande_id, f.day): f.used for f in CommandeFill.objects.all() if f.used}


def attribution(commande, day: datetime.date, **kwargs) -> Attribution:
    monday = day - datetime.timedelta(days=day.weekday())
    return AttributionFactory(commande=commande, day=day, week_start=monday, **kwargs)


def test_counters_follow_inserts_updates_and_deletes_on_every_path():
    first, second = CommandeFactory(), CommandeFactory()
    a = attribution(first, MONDAY)
    b = attribution(first, MONDAY)
    attribution(second, MONDAY + datetime.timedelta(days=2))
    assert kept() == counted() == {(first.pk, MONDAY): 2, (second.pk, MONDAY + datetime.timedelta(days=2)): 1}

    # A rejection credits the quota back (counts_for_quota off), then on again.
    Attribution.objects.filter(pk=a.pk).update(counts_for_quota=False)
    assert kept()[(first.pk, MONDAY)] == 1
    Attribution.objects.filter(pk=a.pk).update(counts_for_quota=True)
    assert kept()[(first.pk, MONDAY)] == 2

    # Moving a row to another commande and day; an update that changes nothing counted.
    Attribution.objects.filter(pk=b.pk).update(commande=second, day=MONDAY + datetime.timedelta(days=1))
    Attribution.objects.filter(pk=a.pk).update(status="delivered")
    assert kept() == counted()

    # Bulk writes (one statement, many rows) and deletes.
    leads = [LeadFactory() for _ in range(5)]
    Attribution.objects.bulk_create(
        [
            Attribution(
                lead=lead,
                commande=second,
                client=second.client,
                entity=second.entity,
                phone=lead.phone,
                product=lead.product,
                week_start=MONDAY,
                day=MONDAY + datetime.timedelta(days=n % 2),
            )
            for n, lead in enumerate(leads)
        ]
    )
    Attribution.objects.filter(commande=second).update(counts_for_quota=False)
    Attribution.objects.filter(commande=second, day=MONDAY).update(counts_for_quota=True)
    assert kept() == counted()
    Attribution.objects.filter(lead__in=leads[:3]).delete()
    leads[3].delete()  # cascade from the lead
    assert kept() == counted()


def test_a_raw_sql_update_is_counted_too():
    commande = CommandeFactory()
    a = attribution(commande, MONDAY)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE commandes_attribution SET counts_for_quota = %s WHERE id = %s", [False, a.pk])
    assert kept() == counted() == {}


def test_commande_fills_reads_the_week_and_the_day_from_the_counters():
    commande = CommandeFactory()
    for offset in (0, 1, 1, 6):
        attribution(commande, MONDAY + datetime.timedelta(days=offset))
    attribution(commande, MONDAY - datetime.timedelta(days=1))  # previous week
    now = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)  # Tuesday
    fill = commande_fills(commande_ids=[commande.pk], now=now)[commande.pk]
    assert (fill.week, fill.day) == (4, 2)


def test_the_rebuild_command_finds_and_repairs_counters_that_drifted():
    from django.core.management import CommandError, call_command

    commande = CommandeFactory()
    attribution(commande, MONDAY)
    attribution(commande, MONDAY)
    call_command("commande_fill_rebuild", "--check")  # exact: exits normally
    CommandeFill.objects.filter(commande=commande).update(used=7)  # as after a restore without triggers
    CommandeFill.objects.create(commande=commande, day=MONDAY + datetime.timedelta(days=3), used=2)
    with pytest.raises(CommandError, match="2 compteur"):
        call_command("commande_fill_rebuild", "--check")
    assert kept() != counted()
    call_command("commande_fill_rebuild")
    assert kept() == counted() == {(commande.pk, MONDAY): 2}


def test_the_rebuild_command_counts_in_french():
    """« 1 compteur(s) corrigé(s) », « 1 attributions »: a form letter."""
    import io

    from django.core.management import CommandError, call_command

    commande = CommandeFactory()
    attribution(commande, MONDAY)
    CommandeFill.objects.filter(commande=commande).update(used=7)
    with pytest.raises(CommandError, match=r"^1 compteur faux : lancez"):
        call_command("commande_fill_rebuild", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("commande_fill_rebuild", stdout=out)
    assert out.getvalue() == (
        f"commande #{commande.pk} {MONDAY:%d/%m/%Y} : 1 attribution, compteur 7\n1 compteur corrigé.\n"
    )
