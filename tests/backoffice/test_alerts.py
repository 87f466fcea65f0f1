"""§14 alerts: each condition fires once (one e-mail) and clears when it is gone."""

import datetime

import pytest
from django.utils import timezone

from leads.stats import rollup_refresh_day
from rdz.core.alerts import alerts_check_crm_failures, alerts_check_silence, daily_summary_body, daily_summary_send
from rdz.core.models import Alert, AuditLog
from rdz.core.services import circuit_record_failure, settings_update
from rdz.core.timeutils import PARIS, paris_today
from tests.factories import AttributionFactory, LeadFactory, LeadFormFactory, ProviderFactory, RejectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipients(db):
    settings_update(
        user=None,
        changes={
            "alert_recipients_zr7": ["alertes@zr7.test"],
            "alert_recipients_mdl": ["alertes@mdl.test"],
            "alert_silence_hours": 6,
            "alert_crm_failure_threshold": 2,
        },
    )


def _open(key_prefix: str) -> list[Alert]:
    return list(Alert.objects.filter(key__startswith=key_prefix, state="open"))


def test_a_silent_provider_raises_one_alert_and_one_email_then_clears_when_a_lead_arrives(
    recipients, entity_smtp, smtp_server, django_capture_on_commit_callbacks, product
):
    provider = ProviderFactory(entity="ZR7", name="Muet", created_at=timezone.now() - datetime.timedelta(hours=10))
    LeadFactory(provider=provider, entity_locked=True, created_at=timezone.now() - datetime.timedelta(hours=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_check_silence() == 1
        assert alerts_check_silence() == 0  # still silent: no second alert, no second e-mail
    alert = _open("silence:provider:")[0]
    assert alert.entity == "ZR7" and "Muet" in alert.message
    assert len(smtp_server.messages) == 1
    assert smtp_server.envelopes[0][1] == ["alertes@zr7.test"]

    LeadFactory(provider=provider, entity_locked=True)
    alerts_check_silence()
    alert.refresh_from_db()
    assert alert.state == "cleared" and alert.cleared_at is not None
    alerts_check_silence()
    assert Alert.objects.filter(key=alert.key).count() == 1


def test_a_silent_form_raises_an_alert_and_a_deactivated_one_clears_it(recipients, product):
    form = LeadFormFactory(entity="MDL", created_at=timezone.now() - datetime.timedelta(hours=7))
    assert alerts_check_silence() == 1
    assert _open("silence:form:")[0].entity == "MDL"
    form.active = False
    form.save()
    alerts_check_silence()
    assert _open("silence:form:") == []


def test_a_silence_alert_says_when_the_last_lead_came_or_that_none_ever_came(recipients, product):
    """A provider that never sent a lead is silent from its creation: the alert must not
    present that date as its last lead's, nor say « 6 h » of a silence of three days."""
    now = timezone.now()
    created = now - datetime.timedelta(days=5)
    never = ProviderFactory(entity="ZR7", name="Neuf", created_at=created)
    quiet = ProviderFactory(entity="ZR7", name="Calme", created_at=created)
    last = LeadFactory(provider=quiet, entity_locked=True, created_at=now - datetime.timedelta(days=3))

    assert alerts_check_silence(now=now) == 2

    never_alert = Alert.objects.get(key=f"silence:provider:{never.pk}")
    at = timezone.localtime(created, PARIS)
    assert never_alert.message == (
        f"Le provider « Neuf (ZR7) » n'a envoyé aucun lead depuis sa création le {at:%d/%m/%Y à %H:%M} "
        "(alerte au-delà de 6 h sans lead)."
    )
    quiet_alert = Alert.objects.get(key=f"silence:provider:{quiet.pk}")
    at = timezone.localtime(last.created_at, PARIS)
    assert quiet_alert.message == (
        f"Le provider « Calme (ZR7) » n'a envoyé aucun lead depuis le {at:%d/%m/%Y à %H:%M} "
        "(alerte au-delà de 6 h sans lead)."
    )


def test_a_fresh_provider_is_not_silent(recipients):
    ProviderFactory(entity="ZR7")
    assert alerts_check_silence() == 0


def test_crm_failures_above_the_threshold_fire_once_and_clear(recipients, product):
    leads = [LeadFactory(entity="MDL", crm_status="failed") for _ in range(2)]
    LeadFactory(entity="ZR7", crm_status="failed")  # below the threshold in ZR7
    assert alerts_check_crm_failures() == 1
    assert alerts_check_crm_failures() == 0
    assert [a.key for a in _open("crm_failures:")] == ["crm_failures:MDL"]
    leads[0].crm_status = "fallback_sent"
    leads[0].save()
    alerts_check_crm_failures()
    assert _open("crm_failures:") == []


def test_the_daily_summary_is_sent_once_per_entity_from_its_own_account(recipients, entity_smtp, smtp_server, product):
    yesterday = paris_today() - datetime.timedelta(days=1)
    LeadFactory(entity="ZR7", status="delivered", created_at=timezone.now() - datetime.timedelta(days=1))
    assert daily_summary_send(entity="ZR7", day=yesterday) is True
    assert daily_summary_send(entity="ZR7", day=yesterday) is False
    assert daily_summary_send(entity="MDL", day=yesterday) is True
    assert len(smtp_server.messages) == 2
    zr7 = smtp_server.messages[0]
    assert zr7["To"] == "alertes@zr7.test"
    assert zr7["From"] == "livraison@zr7.test"
    assert "Résumé" in zr7["Subject"]
    assert "Leads reçus : 1" in zr7.get_content()
    assert AuditLog.objects.filter(action="daily_summary").count() == 2


def test_the_daily_summary_counts_the_deliveries_and_rejections_made_that_day(product):
    """Leads received the day before are delivered this morning and rejected days later: the
    summary counts those by the day they happened, per entity (the client's)."""
    day = datetime.date(2026, 3, 29)  # DST day in Paris: 23 hours
    morning = datetime.datetime(2026, 3, 29, 9, 30, tzinfo=PARIS)
    AttributionFactory.create_batch(2, status="delivered", delivered_at=morning)
    AttributionFactory(status="delivered", delivered_at=datetime.datetime(2026, 3, 28, 23, 30, tzinfo=PARIS))
    AttributionFactory(status="delivered", delivered_at=morning, commande__client__entity="MDL")
    RejectionFactory(created_at=morning)
    RejectionFactory(created_at=morning, status="pending")
    RejectionFactory(created_at=datetime.datetime(2026, 3, 30, 0, 5, tzinfo=PARIS))
    body = daily_summary_body(entity="ZR7", day=day)
    assert "leads livrés aux clients : 2\n" in body
    assert "rejets demandés : 2 (dont à approuver : 1)" in body
    assert "leads livrés aux clients : 1\n" in daily_summary_body(entity="MDL", day=day)


def test_the_alerts_page_lists_alerts_raised_elsewhere_with_their_state(client, zr7_staff, recipients):
    for _ in range(5):
        circuit_record_failure(name="client-zr7-api", entity="ZR7", error="HTTP 500")
    client.force_login(zr7_staff)
    page = client.get("/alertes/").content.decode()
    assert "client-zr7-api" in page and "Active" in page
    alert = Alert.objects.get(key="circuit:client-zr7-api")
    assert client.post("/alertes/", {"alert": alert.pk}).status_code == 302
    page = client.get("/alertes/?state=cleared").content.decode()
    assert "client-zr7-api" in page and "Résolue" in page
    assert AuditLog.objects.filter(action="alert_clear").count() == 1


def test_closing_an_alert_already_resolved_says_so_and_audits_nothing(client, zr7_staff, recipients):
    for _ in range(5):
        circuit_record_failure(name="client-zr7-api", entity="ZR7", error="HTTP 500")
    alert = Alert.objects.get(key="circuit:client-zr7-api")
    client.force_login(zr7_staff)
    client.post("/alertes/", {"alert": alert.pk}, follow=True)
    # A second click (another tab, or a colleague who closed it meanwhile).
    page = client.post("/alertes/", {"alert": alert.pk}, follow=True).content.decode()
    assert "Cette alerte était déjà résolue." in page
    assert "Alerte marquée comme résolue." not in page
    assert AuditLog.objects.filter(action="alert_clear").count() == 1


def test_the_summary_counts_come_from_the_rollups(recipients, product):
    today = paris_today()
    LeadFactory(entity="MDL", status="no_order")
    rollup_refresh_day(day=today)
    body = daily_summary_body(entity="MDL", day=today)
    assert "sans commande (backlog) : 1" in body


def test_the_pilotage_jobs_are_scheduled_in_paris_time_with_a_description(db):
    from django_celery_beat.models import PeriodicTask

    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="rdz.core.pilotage_tasks.")}
    assert set(tasks) == {
        "rdz.core.pilotage_tasks.rollups_refresh_recent",
        "rdz.core.pilotage_tasks.rollups_refresh_nightly",
        "rdz.core.pilotage_tasks.alerts_check",
        "rdz.core.pilotage_tasks.daily_summary",
    }
    for task in tasks.values():
        assert task.enabled and task.description
        assert str(task.crontab.timezone) == "Europe/Paris"
    summary = tasks["rdz.core.pilotage_tasks.daily_summary"]
    assert (summary.crontab.hour, summary.crontab.minute) == ("8-23", "0")  # 08:00, then the catch-ups


def test_a_summary_whose_0800_run_was_lost_with_the_broker_goes_out_at_the_next_hour_once(
    recipients, entity_smtp, smtp_server, product
):
    """Beat counts the 08:00 run as done before handing it to the broker: with Redis down at
    that minute, nobody would get the summary that day."""
    from django_celery_beat.models import PeriodicTask

    from rdz.core.pilotage_tasks import daily_summary

    schedule = PeriodicTask.objects.get(task="rdz.core.pilotage_tasks.daily_summary").crontab.schedule
    lost_at = datetime.datetime(2026, 10, 24, 8, 0, tzinfo=PARIS)  # the eve of the autumn change
    start, delta, _ = schedule.remaining_delta(lost_at, tz=schedule.tz)
    assert start + delta == datetime.datetime(2026, 10, 24, 9, 0, tzinfo=PARIS)

    assert daily_summary() == 2  # the 09:00 run: yesterday's summaries, one per entity
    assert daily_summary() == 0  # 10:00 … 23:00: already sent, nothing more
    assert len(smtp_server.messages) == 2
    last = datetime.datetime(2026, 10, 24, 23, 0, tzinfo=PARIS)
    start, delta, _ = schedule.remaining_delta(last, tz=schedule.tz)
    assert (start + delta).astimezone(datetime.UTC) == datetime.datetime(2026, 10, 25, 7, 0, tzinfo=datetime.UTC)


def test_the_jobs_run_twice_safely(recipients, product, entity_smtp, smtp_server, django_capture_on_commit_callbacks):
    from rdz.core.pilotage_tasks import alerts_check, daily_summary, rollups_refresh_recent

    ProviderFactory(entity="ZR7", created_at=timezone.now() - datetime.timedelta(days=1))
    LeadFactory(entity="ZR7")
    assert rollups_refresh_recent() == 1
    assert rollups_refresh_recent() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_check() == 1
        assert alerts_check() == 0
    assert Alert.objects.filter(state="open").count() == 1
    assert daily_summary() == 2
    assert daily_summary() == 0
    assert len(smtp_server.messages) == 3  # the alert once, each entity's summary once


@pytest.mark.django_db(transaction=True)
def test_two_summary_runs_at_the_same_instant_send_one_email(recipients, entity_smtp, smtp_server, monkeypatch):
    """A task redelivered while the first run is still sending must not e-mail the summary twice."""
    import threading
    import time

    from django.db import connection

    from rdz.core import alerts

    yesterday = paris_today() - datetime.timedelta(days=1)
    send = alerts.send_entity_mail

    def slow_send(**kwargs):
        time.sleep(0.5)  # the other run arrives while this one is on the wire
        send(**kwargs)

    monkeypatch.setattr(alerts, "send_entity_mail", slow_send)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(daily_summary_send(entity="ZR7", day=yesterday))
        except Exception as exc:  # SQLite may refuse the second writer: it must not send either
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(smtp_server.messages) == 1
    assert results.count(True) == 1
    assert AuditLog.objects.filter(action="daily_summary").count() == 1


def test_a_summary_the_smtp_server_could_not_take_is_recorded_and_sent_by_a_later_check(
    recipients, entity_smtp, smtp_server, product
):
    from rdz.core.pilotage_tasks import alerts_check, daily_summary

    smtp_server.stop()
    assert daily_summary() == 0  # no crash: both entities were tried
    failed = _open("daily_summary:")
    assert sorted(a.entity for a in failed) == ["MDL", "ZR7"]
    assert all("résumé" in a.message.lower() for a in failed)

    smtp_server.start()
    alerts_check()
    summaries = [m for m in smtp_server.messages if "Résumé du" in m["Subject"]]
    assert sorted(m["To"] for m in summaries) == ["alertes@mdl.test", "alertes@zr7.test"]
    assert _open("daily_summary:") == []
    alerts_check()
    assert daily_summary() == 0
    assert len([m for m in smtp_server.messages if "Résumé du" in m["Subject"]]) == 2


def test_a_summary_sent_late_does_not_list_its_own_failure_among_the_active_alerts(
    recipients, entity_smtp, smtp_server, product
):
    yesterday = paris_today() - datetime.timedelta(days=1)
    smtp_server.stop()
    daily_summary_send(entity="ZR7", day=yesterday)
    smtp_server.start()

    assert daily_summary_send(entity="ZR7", day=yesterday) is True

    body = smtp_server.messages[-1].get_content()
    assert "Alertes actives : 0" in body
    assert "n'a pas pu être envoyé" not in body


def test_an_alert_email_the_smtp_server_could_not_take_is_sent_by_a_later_check_once(
    recipients, entity_smtp, smtp_server, django_capture_on_commit_callbacks, product
):
    from rdz.core.pilotage_tasks import alerts_check

    ProviderFactory(entity="MDL", name="Muet", created_at=timezone.now() - datetime.timedelta(hours=10))
    smtp_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_check_silence() == 1
    alert = _open("silence:provider:")[0]
    assert alert.emailed_at is None  # not sent, and the page says so

    smtp_server.start()
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check()
        alerts_check()
    alert.refresh_from_db()
    assert alert.emailed_at is not None
    mailed = [m for m in smtp_server.messages if "Muet" in m.get_content()]
    assert len(mailed) == 1 and mailed[0]["To"] == "alertes@mdl.test"


def test_alert_types_read_in_french_in_the_email_subject_and_on_the_alerts_page(
    recipients, entity_smtp, smtp_server, django_capture_on_commit_callbacks, client, zr7_staff
):
    ProviderFactory(entity="ZR7", name="Muet", created_at=timezone.now() - datetime.timedelta(hours=10))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check_silence()
    assert smtp_server.messages[0]["Subject"] == "[RDZ ZR7] Alerte : Provider silencieux"

    client.force_login(zr7_staff)
    page = client.get("/alertes/").content.decode()
    assert "Provider silencieux" in page and "silence_provider<" not in page
    assert '<option value="silence_provider">Provider silencieux</option>' in page


def test_an_alert_email_says_what_to_do_and_links_to_the_page_where_to_do_it(
    recipients, entity_smtp, smtp_server, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://rdz.example"
    ProviderFactory(entity="MDL", name="Muet", created_at=timezone.now() - datetime.timedelta(hours=10))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check_silence()
        for _ in range(5):
            circuit_record_failure(name="crm:MDL", entity="MDL", error="HTTP 500", label="Le CRM MDL")

    silence, circuit = (m.get_content() for m in smtp_server.messages)
    assert silence.startswith("Le provider « Muet (MDL) » n'a envoyé aucun lead")
    assert "À faire :" in silence
    assert "https://rdz.example/providers/" in silence
    assert "https://rdz.example/alertes/" in silence
    assert "Le CRM MDL est en pause" in circuit
    assert "rien n'est perdu" in circuit.lower()
    assert "https://rdz.example/admin/core/circuitbreaker/" in circuit


def test_the_admin_lists_alert_types_in_french(client, superuser):
    from tests.factories import AlertFactory

    AlertFactory(entity="ZR7", kind="silence_provider", key="silence:provider:1", message="Provider muet")
    client.force_login(superuser)

    page = client.get("/admin/core/alert/").content.decode()

    assert '<td class="field-kind">Provider silencieux</td>' in page
    assert ">silence_provider<" not in page


@pytest.mark.parametrize(
    "kind",
    [
        "livraison_echec",
        "quota_atteint",
        "circuit_ouvert",
        "silence_provider",
        "silence_form",
        "crm_echecs",
        "resume_echec",
        "livraison_http_repli",
    ],
)
def test_an_alert_email_names_each_page_it_links_once_and_every_link_opens(client, superuser, settings, kind):
    """Read in plain text, a bare address under the advice did not say what it opened, the
    summary's alert gave the Alertes page twice, and the paused endpoint's « À faire » began
    with « rien n'est perdu »."""
    import re

    from rdz.core.services import alert_email_body

    settings.SITE_URL = "https://rdz.example"
    body = alert_email_body(Alert(entity="ZR7", kind=kind, key="k", message="Le fait."))
    links = re.findall(r"^(.+?) : https://rdz\.example(\S+)$", body, flags=re.MULTILINE)
    assert len(links) == body.count("https://rdz.example")  # every address follows its page's name
    paths = [path for _, path in links]
    assert len(paths) == len(set(paths)) and ("Toutes les alertes", "/alertes/") in links
    assert "À faire : rien" not in body
    client.force_login(superuser)
    for _, path in links:
        assert client.get(path).status_code == 200, path
