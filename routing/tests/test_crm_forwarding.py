"""CRM forwarding of form leads (§11) against real local HTTP servers playing each CRM."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from leads.models import CrmStatus, Lead, LeadEvent
from leads.normalization import normalize_phone
from leads.services import LeadInput
from leads.services_forms import form_lead_submit
from leads.services_rgpd import rgpd_erase
from rdz.core.alerts import alerts_check_crm_failures
from rdz.core.models import Alert, AuditLog, CircuitBreaker, OutboxItem, OutboxStatus
from rdz.core.services import settings_update
from routing import crm
from routing.crm import CRM_FORWARD_KIND, crm_forward_replay, crm_forward_run
from routing.fake_crm import FakeCrm
from routing.models import CrmAttempt
from routing.tasks import crm_retry_due
from tests.factories import LeadFormFactory, OppositionEntryFactory
from tests.smtp import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

PRIMARY_KEY = "zr7-form-key"
FALLBACK_KEY = "mdl-fallback-key"


@pytest.fixture
def crms():
    zr7 = FakeCrm(name="ZR7", key=PRIMARY_KEY).start()
    mdl = FakeCrm(name="MDL", key=FALLBACK_KEY).start()
    connectors = {
        "ZR7": {"url": zr7.url, "auth_header": "X-API-Key", "timeout": 1.0, "field_map": {}},
        "MDL": {"url": mdl.url, "auth_header": "X-API-Key", "timeout": 1.0, "field_map": {}},
    }
    with override_settings(CRM_CONNECTORS=connectors, CRM_RETRY_BASE_SECONDS=0, CRM_MAX_ATTEMPTS=3):
        yield zr7, mdl
    zr7.stop()
    mdl.stop()


@pytest.fixture
def form(product):
    settings_update(user=None, changes={"fallback_crm_key_mdl": FALLBACK_KEY})
    return LeadFormFactory(code="pv-sud", entity="ZR7", product=product, target_crm="ZR7", crm_api_key=PRIMARY_KEY)


def submit(form, phone="0612345678") -> Lead:
    lead, created = form_lead_submit(
        form=form,
        data=LeadInput(phone=normalize_phone(phone), product=form.product, departement="13", first_name="Zoé"),
    )
    assert created
    return lead


def run_outbox(max_steps: int = 20) -> list[str]:
    """Run due crm_forward rows as the worker would, until none is left."""
    outcomes = []
    for _ in range(max_steps):
        item = (
            OutboxItem.objects.filter(
                kind=CRM_FORWARD_KIND, status=OutboxStatus.PENDING, next_attempt_at__lte=timezone.now()
            )
            .order_by("id")
            .first()
        )
        if item is None:
            return outcomes
        outcomes.append(crm_forward_run(item_id=item.pk))
    raise AssertionError(f"outbox still busy after {max_steps} steps: {outcomes}")


def test_a_form_lead_is_sent_to_its_target_crm_with_its_id_as_idempotency_key(crms, form):
    zr7, mdl = crms
    lead = submit(form)
    assert lead.crm_status == CrmStatus.PENDING
    assert run_outbox() == ["sent"]
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target, lead.crm_attempts) == (CrmStatus.SENT, "ZR7", 1)
    call = zr7.calls[0]
    assert call["headers"]["idempotency-key"] == str(lead.id)
    assert call["headers"]["x-api-key"] == PRIMARY_KEY
    assert call["body"]["telephone"] == "+33612345678"
    assert call["body"]["produit"] == "PV"
    assert mdl.calls == []
    assert lead.events.filter(kind=LeadEvent.Kind.FORWARDED).count() == 1
    assert CrmAttempt.objects.get(lead=lead).status_code == 201


def test_a_500_is_retried_and_then_sent(crms, form):
    zr7, _ = crms
    zr7.script = [500]
    lead = submit(form)
    assert run_outbox() == ["retry", "sent"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.SENT
    assert lead.crm_attempts == 2
    assert len(zr7.records) == 1
    kinds = list(lead.events.filter(kind__in=["forwarded", "forward_failed"]).values_list("kind", flat=True))
    assert kinds == ["forward_failed", "forwarded"]


def test_a_timeout_then_success_leaves_one_record_in_the_crm(crms, form):
    zr7, _ = crms
    zr7.script = [("slow", 2.5)]
    lead = submit(form)
    assert run_outbox() == ["retry", "sent"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.SENT
    assert len(zr7.calls) == 2
    assert {c["headers"]["idempotency-key"] for c in zr7.calls} == {str(lead.id)}
    assert len(zr7.records) == 1
    assert "délai dépassé" in CrmAttempt.objects.filter(lead=lead).order_by("id").first().error


def test_an_invalid_key_on_the_primary_falls_back_to_the_other_crm(crms, form):
    zr7, mdl = crms
    zr7.key = "rotated-on-the-crm-side"  # the CRM no longer accepts the form's key
    lead = submit(form)
    assert run_outbox() == ["fallback", "fallback_sent"]
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target) == (CrmStatus.FALLBACK_SENT, "MDL")
    assert len(zr7.calls) == 1  # an auth error is not retried
    assert mdl.calls[0]["headers"]["x-api-key"] == FALLBACK_KEY
    assert mdl.calls[0]["body"]["phone"] == "+33612345678"  # the MDL CRM's own field names
    messages = " ".join(lead.events.values_list("message", flat=True))
    assert "repli vers le CRM MDL" in messages


def test_a_redirect_from_the_crm_is_not_followed_and_the_lead_falls_back(crms, form, http_endpoint, settings):
    """A 307 would be replayed with the body and the form's key to whatever host it names."""
    zr7, mdl = crms
    http_endpoint.script = [("redirect", 307, zr7.url)]
    settings.CRM_CONNECTORS = {
        **settings.CRM_CONNECTORS,
        "ZR7": {**settings.CRM_CONNECTORS["ZR7"], "url": http_endpoint.url},
    }
    lead = submit(form)
    assert run_outbox() == ["fallback", "fallback_sent"]
    assert len(http_endpoint.requests) == 1 and zr7.calls == []  # the redirect target never heard of it
    assert len(mdl.records) == 1
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target) == (CrmStatus.FALLBACK_SENT, "MDL")
    first = CrmAttempt.objects.filter(lead=lead).order_by("id").first()
    assert first.status_code == 307 and "non suivie" in first.error


def test_the_last_transient_failure_also_falls_back(crms, form):
    zr7, mdl = crms
    zr7.script = [503, 503, 503]
    lead = submit(form)
    assert run_outbox() == ["retry", "retry", "fallback", "fallback_sent"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.FALLBACK_SENT
    assert len(mdl.records) == 1


def test_a_crm_that_refuses_the_connection_is_named_so_in_french_on_the_lead(crms, form, settings):
    connectors = {
        **settings.CRM_CONNECTORS,
        "ZR7": {**settings.CRM_CONNECTORS["ZR7"], "url": f"http://127.0.0.1:{free_port()}/"},
    }
    settings.CRM_CONNECTORS = connectors
    settings_update(user=None, changes={"cross_entity_zr7_to_mdl": False})
    lead = submit(form)
    run_outbox()
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.FAILED
    assert "erreur de connexion : connexion refusée par le serveur" in lead.crm_last_error
    assert "ConnectionError" not in lead.crm_last_error


def test_with_the_fallback_disabled_in_the_settings_the_lead_is_failed_and_staff_alerted(crms, form):
    zr7, mdl = crms
    settings_update(user=None, changes={"cross_entity_zr7_to_mdl": False, "alert_crm_failure_threshold": 1})
    zr7.key = "something-else"
    lead = submit(form)
    assert run_outbox() == ["failed"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.FAILED
    assert "désactivé" in lead.events.filter(kind=LeadEvent.Kind.FORWARD_FAILED).last().message
    assert mdl.calls == []
    alert = Alert.objects.get(key="crm_failures:ZR7", state="open")
    # One lead is one lead, and the e-mail's link lists the failures of these 24 hours only.
    assert alert.message.startswith("1 lead de formulaire ZR7 n'a pas pu être transmis au CRM")
    from rdz.core.services import alert_email_body

    assert "?crm_status=failed&entity=ZR7&from=" in alert_email_body(alert)


def test_the_crm_failures_alert_is_raised_once_while_the_failures_stay_above_the_threshold(crms, form):
    zr7, _ = crms
    settings_update(user=None, changes={"cross_entity_enabled": False, "alert_crm_failure_threshold": 2})
    zr7.script = [401, 401]
    submit(form)
    submit(form, phone="0611223344")
    assert run_outbox() == ["failed", "failed"]
    submit(form, phone="0622334455")
    assert run_outbox() == ["sent"]  # one success does not undo the day's failures
    assert alerts_check_crm_failures() == 0  # so the next check does not raise (and e-mail) it again
    assert list(Alert.objects.filter(key="crm_failures:ZR7").values_list("state", flat=True)) == ["open"]


def test_leads_erased_or_opposed_before_their_forwarding_are_stopped_not_failed(crms, form):
    """RDZ stopped their forwarding on purpose (erasure, opposition list): no CRM refused
    them, yet they read « Échec » and counted toward « N leads n'ont pas pu être transmis au
    CRM », the dashboard's CRM health and the statistics' CRM failures."""
    from leads.stats import daily_rows, rollup_refresh_day
    from rdz.core.timeutils import paris_today

    settings_update(user=None, changes={"alert_crm_failure_threshold": 2})
    submit(form)
    opposed = submit(form, phone="0611223344")
    rgpd_erase(phone="0612345678")
    OppositionEntryFactory(phone=opposed.phone)
    run_outbox()

    assert set(Lead.objects.values_list("crm_status", flat=True)) == {CrmStatus.STOPPED}
    assert alerts_check_crm_failures() == 0
    assert not Alert.objects.filter(key="crm_failures:ZR7").exists()
    today = paris_today()
    rollup_refresh_day(day=today)
    [row] = daily_rows(entities=["ZR7"], start=today, end=today)
    assert (row["crm"]["failed"], row["crm"]["stopped"]) == (0, 2)


def test_a_fallback_still_waiting_when_its_direction_is_switched_off_is_not_sent(crms, form):
    zr7, mdl = crms
    zr7.key = "rotated-on-the-crm-side"
    lead = submit(form)
    assert crm_forward_run(item_id=OutboxItem.objects.get(kind=CRM_FORWARD_KIND).pk) == "fallback"
    settings_update(user=None, changes={"cross_entity_zr7_to_mdl": False})  # e.g. while the MDL CRM was paused
    assert run_outbox() == ["failed"]
    assert mdl.calls == []
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_attempts) == (CrmStatus.FAILED, 1)
    assert "ZR7 → MDL désactivé" in lead.events.filter(kind=LeadEvent.Kind.FORWARD_FAILED).last().message


def test_a_locked_lead_never_falls_back_to_the_other_crm(crms, form):
    zr7, mdl = crms
    zr7.key = "something-else"
    lead = submit(form)
    Lead.objects.filter(pk=lead.pk).update(entity_locked=True)
    assert run_outbox() == ["failed"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.FAILED
    assert "verrouillé" in lead.crm_last_error + lead.events.last().message
    assert mdl.calls == []


def test_an_opposed_number_is_never_forwarded(crms, form):
    zr7, _ = crms
    lead = submit(form)
    OppositionEntryFactory(phone=lead.phone)
    assert run_outbox() == ["opposed"]
    assert zr7.calls == []
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.STOPPED


def test_a_lead_opposed_at_intake_is_not_queued(crms, form):
    OppositionEntryFactory(phone="+33698765432")
    lead = submit(form, phone="06 98 76 54 32")
    assert lead.status == "opposed"
    assert not OutboxItem.objects.filter(kind=CRM_FORWARD_KIND, ref=str(lead.pk)).exists()
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target) == ("", "")  # never shown as waiting for a CRM


def test_a_form_lead_is_stored_pending_for_its_target_crm_with_its_outbox_row(crms, form):
    lead = submit(form)
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target) == ("pending", form.target_crm)
    assert OutboxItem.objects.filter(kind=CRM_FORWARD_KIND, ref=str(lead.pk), status="pending").count() == 1


def test_running_the_same_outbox_row_twice_sends_once(crms, form):
    zr7, _ = crms
    lead = submit(form)
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(lead.pk))
    assert crm_forward_run(item_id=item.pk) == "sent"
    assert crm_forward_run(item_id=item.pk) == "not_claimed"
    assert len(zr7.calls) == 1


def test_failed_forwardings_are_replayed_by_the_beat_job_and_the_command(crms, form):
    zr7, _ = crms
    settings_update(user=None, changes={"cross_entity_enabled": False})
    zr7.script = [401]
    lead = submit(form)
    assert run_outbox() == ["failed"]
    assert crm_retry_due() == 0  # just tried: the periodic job lets a refusing CRM rest
    CrmAttempt.objects.filter(lead=lead).update(created_at=timezone.now() - datetime.timedelta(hours=7))
    assert crm_retry_due() == 1
    assert OutboxItem.objects.get(kind=CRM_FORWARD_KIND, status=OutboxStatus.PENDING).max_attempts == 2
    assert run_outbox() == ["sent"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.SENT

    other = submit(form, phone="0611223344")
    zr7.script = [401]
    run_outbox()
    other.refresh_from_db()
    assert other.crm_status == CrmStatus.FAILED
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    out = io.StringIO()
    call_command("crm_replay", "--from", yesterday.isoformat(), "--to", today.isoformat(), "--dry-run", stdout=out)
    assert out.getvalue() == f"1 transmission CRM serait relancée du {yesterday:%d/%m/%Y} au {today:%d/%m/%Y}.\n"
    out = io.StringIO()
    call_command("crm_replay", "--from", yesterday.isoformat(), "--to", today.isoformat(), stdout=out)
    assert out.getvalue() == f"1 transmission CRM relancée du {yesterday:%d/%m/%Y} au {today:%d/%m/%Y}.\n"
    assert run_outbox() == ["sent"]
    with pytest.raises(CommandError, match="Date hors limites"):
        call_command("crm_replay", "--from", "0001-01-01", "--to", "9999-12-31")
    other.refresh_from_db()
    assert other.crm_status == CrmStatus.SENT


def test_an_erased_lead_is_never_forwarded_nor_replayed(crms, form):
    zr7, _ = crms
    settings_update(user=None, changes={"cross_entity_enabled": False})
    waiting = submit(form)
    rgpd_erase(phone=waiting.phone)
    assert run_outbox() == ["nothing_to_do"]  # its pending forwarding stops

    zr7.script = [401]
    failed = submit(form, phone="0611223344")
    assert run_outbox() == ["failed"]
    rgpd_erase(phone=failed.phone)
    CrmAttempt.objects.filter(lead=failed).update(created_at=timezone.now() - datetime.timedelta(hours=7))
    assert crm_retry_due() == 0
    now = timezone.now()
    assert crm_forward_replay(created_from=now - datetime.timedelta(hours=1), created_to=now) == 0
    assert [c["answer"] for c in zr7.calls] == [401]  # nothing of either person reached the CRM


def test_overlapping_replays_never_send_a_lead_twice(crms, form, monkeypatch):
    zr7, _ = crms
    settings_update(user=None, changes={"cross_entity_enabled": False})
    zr7.script = [401, 401]
    first, second = submit(form), submit(form, phone="0611223344")
    assert run_outbox() == ["failed", "failed"]
    requeue = crm.crm_forward_requeue

    def other_replay_meanwhile(*, lead, **kwargs):
        if lead.pk == first.pk:
            # The hourly job queues the second lead and a worker sends it, after this
            # replay read its list and before it reaches that lead.
            with transaction.atomic():
                assert requeue(lead=Lead.objects.get(pk=second.pk))
            assert run_outbox() == ["sent"]
        return requeue(lead=lead, **kwargs)

    monkeypatch.setattr(crm, "crm_forward_requeue", other_replay_meanwhile)
    now = timezone.now()
    assert crm_forward_replay(created_from=now - datetime.timedelta(hours=1), created_to=now) == 1
    assert run_outbox() == ["sent"]
    sent = [c["headers"]["idempotency-key"] for c in zr7.calls if c["answer"] == "ok"]
    assert sorted(sent) == sorted([str(first.pk), str(second.pk)])
    second.refresh_from_db()
    assert second.crm_status == CrmStatus.SENT


def test_an_open_circuit_postpones_the_forwarding_until_its_probe_without_spending_an_attempt(crms, form):
    zr7, _ = crms
    settings_update(user=None, changes={"circuit_failure_threshold": 1})
    zr7.script = [500]
    lead = submit(form)
    assert run_outbox() == ["retry", "postponed"]
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(lead.pk))
    assert (item.status, item.attempts) == (OutboxStatus.PENDING, 1)
    assert len(zr7.calls) == 1

    now = timezone.now()
    CircuitBreaker.objects.filter(name="crm:ZR7").update(next_probe_at=now)
    OutboxItem.objects.filter(pk=item.pk).update(next_attempt_at=now)
    assert run_outbox() == ["sent"]
    assert CircuitBreaker.objects.get(name="crm:ZR7").state == "closed"


def test_one_forwarding_probes_the_paused_crm_and_its_success_sends_the_others_at_once(crms, form):
    zr7, _ = crms
    settings_update(user=None, changes={"circuit_failure_threshold": 1})
    zr7.script = [500]
    first, second = submit(form), submit(form, phone="0698765432")
    assert run_outbox() == ["retry", "postponed", "postponed"]

    # The probe time comes for the breaker and the first row; the other is not picked yet.
    now = timezone.now()
    CircuitBreaker.objects.filter(name="crm:ZR7").update(next_probe_at=now)
    OutboxItem.objects.filter(kind=CRM_FORWARD_KIND, ref=str(first.pk)).update(next_attempt_at=now)
    assert crm.circuit_allows(name="crm:ZR7", entity="ZR7") is True  # a worker claims the probe…
    assert crm.circuit_allows(name="crm:ZR7", entity="ZR7") is False  # …and no one else calls meanwhile
    CircuitBreaker.objects.filter(name="crm:ZR7").update(next_probe_at=now)

    assert run_outbox() == ["sent", "sent"]  # the probe went through: the held forwarding follows
    assert CircuitBreaker.objects.get(name="crm:ZR7").state == "closed"
    second.refresh_from_db()
    assert second.crm_status == CrmStatus.SENT and len(zr7.calls) == 3


def test_closing_the_crm_breaker_by_hand_sends_the_postponed_forwardings_now(crms, form, client, zr7_staff):
    zr7, _ = crms
    settings_update(user=None, changes={"circuit_failure_threshold": 1})
    zr7.script = [500]
    lead = submit(form)
    assert run_outbox() == ["retry", "postponed"]  # held until the probe, minutes away
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(lead.pk))
    assert item.next_attempt_at > timezone.now() + datetime.timedelta(seconds=30)
    breaker = CircuitBreaker.objects.get(name="crm:ZR7")
    client.force_login(zr7_staff)

    response = client.post(
        "/admin/core/circuitbreaker/", {"action": "resume", "_selected_action": [breaker.pk]}, follow=True
    )

    assert "1 envoi en pause relancé" in response.content.decode()
    assert CircuitBreaker.objects.get(pk=breaker.pk).state == "closed"
    assert run_outbox() == ["sent"]
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.SENT


def test_a_forwarding_interrupted_at_every_attempt_falls_back_without_calling_the_primary_again(crms, form):
    # Each run died during the call (worker killed by the hard time limit): the row was handed
    # out again when its lease ran out, past its last attempt.
    zr7, mdl = crms
    lead = submit(form)
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(lead.pk))
    OutboxItem.objects.filter(pk=item.pk).update(attempts=item.max_attempts)

    assert run_outbox() == ["fallback", "fallback_sent"]

    assert zr7.records == {} and len(mdl.records) == 1
    lead.refresh_from_db()
    assert lead.crm_status == CrmStatus.FALLBACK_SENT
    assert LeadEvent.objects.filter(lead=lead, message__contains="interrompu").exists()


@pytest.mark.parametrize("fallback_on", [True, False])
def test_a_form_pointed_at_the_other_crm_sends_its_waiting_leads_there_as_primary(crms, form, superuser, fallback_on):
    """Staff switched a form to the MDL CRM while the ZR7 CRM was down: its leads waiting for
    a retry were taken for fallbacks, failed without a try when the fallback was OFF, or sent
    with the fallback key and shown « envoyé (repli) »."""
    from leads.services_forms import leadform_crm_key_rotate, leadform_target_changed

    zr7, mdl = crms
    zr7.script = [500]
    settings_update(user=None, changes={"cross_entity_enabled": fallback_on})
    lead = submit(form)
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(lead.pk))
    assert crm_forward_run(item_id=item.pk) == "retry"

    form.target_crm = "MDL"
    form.save(update_fields=["target_crm"])
    leadform_crm_key_rotate(form=form, key="mdl-form-key", user=superuser, reason="passage au CRM MDL")
    mdl.key = "mdl-form-key"
    assert leadform_target_changed(form=form, old_target="ZR7", user=superuser) == 1

    assert run_outbox() == ["sent"]
    lead.refresh_from_db()
    assert (lead.crm_status, lead.crm_target) == (CrmStatus.SENT, "MDL")
    assert mdl.calls[0]["headers"]["x-api-key"] == "mdl-form-key"
    assert len(zr7.calls) == 1
    assert lead.events.filter(message__contains="CRM cible du formulaire changé (ZR7 → MDL)").exists()
    audit = AuditLog.objects.filter(action="leadform_update").latest("pk")
    assert audit.message == "Formulaire pv-sud : CRM cible ZR7 → MDL, 1 lead en attente redirigé"


def test_the_admin_switching_a_forms_crm_redirects_its_waiting_leads_only(client, crms, form, superuser):
    zr7, _ = crms
    zr7.script = [500, 500, 500, 500]
    waiting = submit(form)
    item = OutboxItem.objects.get(kind=CRM_FORWARD_KIND, ref=str(waiting.pk))
    assert crm_forward_run(item_id=item.pk) == "retry"
    sent = submit(form, phone="0698765432")
    Lead.objects.filter(pk=sent.pk).update(crm_status=CrmStatus.SENT)
    client.force_login(superuser)
    response = client.post(
        f"/admin/leads/leadform/{form.pk}/change/",
        {
            "code": form.code,
            "name": form.name,
            "entity": form.entity,
            "product": form.product_id,
            "target_crm": "MDL",
            "active": "on",
            "allowed_origins": "",
            "variants": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Lead.objects.get(pk=waiting.pk).crm_target == "MDL"
    assert Lead.objects.get(pk=sent.pk).crm_target == "ZR7"
