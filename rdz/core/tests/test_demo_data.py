"""`demo_data`: the embedded default's demo, landing forms included (§11, §17)."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.models import CrmStatus, Lead, LeadEvent, LeadForm
from leads.selectors import form_stats
from rdz.core.models import OutboxItem, OutboxStatus
from rdz.core.timeutils import paris_today
from routing.models import CrmAttempt

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_entity_has_a_landing_form_with_visits_starts_and_termine(demo_data):
    forms = {form.entity: form for form in LeadForm.objects.all()}
    assert set(forms) == {"ZR7", "MDL"}
    today = paris_today()
    stats = form_stats(form=forms["ZR7"], date_from=today - datetime.timedelta(days=10), date_to=today)
    totals = stats["totals"]
    assert totals["visits"] > totals["starts"] > totals["termine"] > 0
    assert totals["termine"] == Lead.objects.filter(form=forms["ZR7"]).count()
    assert [v["variant"] for v in stats["variants"]] == ["A", "B"]
    assert all(v["visits"] > 0 for v in stats["variants"])


def test_demo_form_leads_went_through_the_real_crm_forwarding_with_fallbacks_and_failures(demo_data, settings):
    form_leads = Lead.objects.filter(form__isnull=False)
    statuses = set(form_leads.values_list("crm_status", flat=True))
    assert {CrmStatus.SENT, CrmStatus.FALLBACK_SENT} <= statuses
    assert CrmStatus.PENDING not in statuses
    # Nothing left for the worker, and no failure inside the beat's retry horizon.
    assert not OutboxItem.objects.filter(kind="crm_forward", status=OutboxStatus.PENDING).exists()
    horizon = timezone.now() - datetime.timedelta(hours=settings.CRM_RETRY_HORIZON_HOURS)
    assert not form_leads.filter(crm_status=CrmStatus.FAILED, created_at__gte=horizon).exists()
    # A fallback: the form's CRM refused the key, the other company's CRM took the lead; both
    # timeline rows dated just after the lead, as a live forwarding.
    lead = form_leads.filter(crm_status=CrmStatus.FALLBACK_SENT).first()
    assert lead.crm_target != lead.form.target_crm
    attempts = list(CrmAttempt.objects.filter(lead=lead).order_by("id").values_list("phase", "status_code"))
    assert attempts == [("primary", 401), ("fallback", 201)]
    crm_events = LeadEvent.objects.filter(lead=lead, actor="CRM").order_by("id")
    assert [e.kind for e in crm_events] == ["forward_failed", "forwarded"]
    assert "clé API refusée" in crm_events[0].message
    assert all(
        datetime.timedelta(0) < e.created_at - lead.created_at < datetime.timedelta(seconds=10) for e in crm_events
    )


def test_demo_data_runs_again_without_adding_forms_or_leads(demo_data):
    counts = (LeadForm.objects.count(), Lead.objects.count(), CrmAttempt.objects.count())
    call_command("demo_data", leads=40, days=10, stdout=io.StringIO())
    assert (LeadForm.objects.count(), Lead.objects.count(), CrmAttempt.objects.count()) == counts
    assert "Clé API du provider leadmax (ZR7)" in demo_data


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"leads": -5}, "--leads"),
        ({"leads": 10**20}, "--leads"),
        ({"days": 0}, "--days"),
        ({"days": -3}, "--days"),
        ({"days": 10**9}, "--days"),
    ],
)
def test_demo_data_refuses_a_count_of_leads_or_days_out_of_range_before_writing_anything(options, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("demo_data", stdout=io.StringIO(), **options)
    assert not Lead.objects.exists()
    assert not LeadForm.objects.exists()
