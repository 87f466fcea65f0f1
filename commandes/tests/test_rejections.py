"""Client rejections (§10) and the rejection ceiling (§16)."""

import datetime
import time
from unittest import mock

import pytest
from django.utils import timezone

from commandes.models import Attribution, Rejection
from commandes.rejections import (
    RejectionError,
    client_rejection_rate,
    rejection_approve,
    rejection_create,
    rejection_link,
    rejection_refuse,
    rejection_token,
)
from commandes.services import commande_fills
from leads.models import LeadEvent
from rdz.core.timeutils import PARIS, week_start
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db

# A Wednesday; its ISO week starts on Monday 2026-11-16.
WEDNESDAY = datetime.datetime(2026, 11, 18, 15, 0, tzinfo=PARIS)


def _delivered(commande, *, at: datetime.datetime) -> Attribution:
    lead = LeadFactory(entity=commande.entity, product=commande.product, status="delivered")
    return AttributionFactory(
        lead=lead,
        commande=commande,
        created_at=at,
        day=at.date(),
        week_start=week_start(at.date()),
        status="delivered",
        delivered_at=at,
    )


def test_a_staff_rejection_in_the_same_week_credits_the_quota_and_returns_the_lead_to_the_backlog(product, zr7_staff):
    commande = CommandeFactory(product=product, weekly_quota=5)
    attribution = _delivered(commande, at=WEDNESDAY - datetime.timedelta(days=2))  # Monday
    assert commande_fills(commande_ids=[commande.pk], now=WEDNESDAY)[commande.pk].week == 1

    rejection = rejection_create(attribution=attribution, reason="wrong_number", actor=zr7_staff, now=WEDNESDAY)

    assert rejection.status == "approved" and rejection.quota_credited
    attribution.refresh_from_db()
    assert attribution.status == "rejected" and not attribution.counts_for_quota
    assert attribution.lead.status == "rejected"
    assert commande_fills(commande_ids=[commande.pk], now=WEDNESDAY)[commande.pk].week == 0
    event = attribution.lead.events.get(kind=LeadEvent.Kind.REJECTED)
    assert "Faux numéro" in event.message and "Lead Backlog" in event.message


def test_a_rejection_of_a_lead_from_the_previous_week_does_not_credit_the_quota(product, zr7_staff):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=WEDNESDAY - datetime.timedelta(days=5))  # previous Friday

    rejection = rejection_create(attribution=attribution, reason="unreachable", actor=zr7_staff, now=WEDNESDAY)

    assert not rejection.quota_credited
    attribution.refresh_from_db()
    assert attribution.status == "rejected" and attribution.counts_for_quota
    assert attribution.lead.status == "rejected"


def test_a_rejection_after_the_window_is_refused(product, zr7_staff):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=WEDNESDAY - datetime.timedelta(days=8))

    with pytest.raises(RejectionError, match="délai de rejet est dépassé : 7 jours après la livraison"):
        rejection_create(attribution=attribution, reason="other", actor=zr7_staff, now=WEDNESDAY)

    attribution.refresh_from_db()
    assert attribution.status == "delivered"


def test_a_lead_not_yet_delivered_or_already_rejected_cannot_be_rejected(product, zr7_staff):
    commande = CommandeFactory(product=product)
    pending = AttributionFactory(commande=commande)
    delivered = _delivered(commande, at=timezone.now())
    rejection_create(attribution=delivered, reason="duplicate", actor=zr7_staff)

    with pytest.raises(RejectionError, match="livré"):
        rejection_create(attribution=pending, reason="duplicate", actor=zr7_staff)
    with pytest.raises(RejectionError, match="déjà été rejeté"):
        rejection_create(attribution=delivered, reason="duplicate", actor=zr7_staff)


def test_a_client_rejection_beyond_the_ceiling_waits_for_staff_approval(product, zr7_staff):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=20)
    attributions = [_delivered(commande, at=timezone.now() - datetime.timedelta(hours=1)) for _ in range(5)]

    first = rejection_create(attribution=attributions[0], reason="wrong_number", by_client=True)  # 1/5 = 20 %
    second = rejection_create(attribution=attributions[1], reason="wrong_number", by_client=True)  # 2/5 = 40 %

    assert first.status == "approved"
    assert second.status == "pending"
    attributions[1].refresh_from_db()
    assert attributions[1].status == "delivered"  # nothing applied yet
    assert client_rejection_rate(client=commande.client).percent == 40.0

    rejection_approve(rejection=second, actor=zr7_staff)

    attributions[1].refresh_from_db()
    assert attributions[1].status == "rejected" and attributions[1].lead.status == "rejected"


def test_the_rejection_rate_counts_only_rejections_of_the_leads_delivered_in_its_period(product, zr7_staff):
    """Leads delivered before the 30 days, and rejected within them, are not in « Livrés (30 j) »:
    counting their rejections showed 80 % for a client none of whose 5 recent leads had been
    rejected (or more rejected leads than delivered ones), and held its next rejection for
    approval."""
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=20)
    before = [_delivered(commande, at=WEDNESDAY - datetime.timedelta(days=33)) for _ in range(4)]
    for attribution in before:  # within the 7-day window, 27 days ago
        rejection_create(
            attribution=attribution, reason="wrong_number", actor=zr7_staff, now=WEDNESDAY - datetime.timedelta(days=27)
        )
    recent = [_delivered(commande, at=WEDNESDAY - datetime.timedelta(days=2)) for _ in range(5)]

    rate = client_rejection_rate(client=commande.client, now=WEDNESDAY)
    assert (rate.delivered, rate.rejected, rate.percent) == (5, 0, 0.0)

    rejection = rejection_create(attribution=recent[0], reason="unreachable", by_client=True, now=WEDNESDAY)

    assert rejection.status == "approved"  # 1/5 = 20 %: at the ceiling, not beyond
    rate = client_rejection_rate(client=commande.client, now=WEDNESDAY)
    assert (rate.delivered, rate.rejected, rate.percent) == (5, 1, 20.0)


def test_a_client_rejection_of_a_lead_delivered_before_the_rate_period_still_meets_the_ceiling(product):
    """With a rejection window longer than the 30 days of the rate, the lead being rejected
    may be older than the period: it counts among the delivered leads, and the ceiling holds."""
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"rejection_window_days": 60})
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=20)
    old = _delivered(commande, at=WEDNESDAY - datetime.timedelta(days=40))

    rejection = rejection_create(attribution=old, reason="other", comment="Hors cible", by_client=True, now=WEDNESDAY)

    assert rejection.status == "pending"  # 1/1 = 100 %


def test_the_client_admin_writes_the_rejection_rate_with_a_decimal_comma(client, product, superuser):
    commande = CommandeFactory(product=product, client__name="Solaire Sud", client__rejection_ceiling_percent=100)
    attributions = [_delivered(commande, at=timezone.now() - datetime.timedelta(hours=1)) for _ in range(8)]
    rejection_create(attribution=attributions[0], reason="other", comment="Hors cible", by_client=True)
    client.force_login(superuser)

    page = client.get("/admin/commandes/client/").content.decode()

    assert "12,5 % (1/8)" in page and "12.5" not in page


def test_the_client_rejects_a_lead_through_the_signed_link_of_the_email(client, product):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(days=1))
    url = rejection_link(attribution_id=attribution.pk)
    path = url.split("://", 1)[1].split("/", 1)[1]

    page = client.get(f"/{path}")
    done = client.post(f"/{path}", {"reason": "out_of_area", "comment": "Hors de notre secteur"})

    assert page.status_code == 200 and "Motif du rejet" in page.content.decode()
    assert done.status_code == 200 and "Le lead est rejeté" in done.content.decode()
    rejection = Rejection.objects.get(attribution=attribution)
    assert rejection.source == "client" and rejection.reason == "out_of_area"
    assert attribution.lead.events.filter(kind=LeadEvent.Kind.REJECTED, message__contains="client").exists()
    again = client.get(f"/{path}")
    assert "un rejet (Hors zone" in again.content.decode()


def test_a_tampered_link_gets_a_clear_french_page(client, product):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=timezone.now())
    token = rejection_token(attribution_id=attribution.pk)
    other = AttributionFactory(commande=commande, status="delivered", delivered_at=timezone.now())
    forged = f"{other.pk}:" + token.split(":", 1)[1]  # another lead's id with this lead's signature

    response = client.post(f"/rejet/{forged}/", {"reason": "other"})

    assert response.status_code == 400
    assert "pas valide" in response.content.decode()
    assert not Rejection.objects.exists()


def test_an_expired_link_gets_a_clear_french_page(client, product):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=timezone.now())
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 9 * 86400):
        token = rejection_token(attribution_id=attribution.pk)

    response = client.get(f"/rejet/{token}/")

    assert response.status_code == 400
    assert "expiré" in response.content.decode()


def test_staff_reject_from_the_attribution_admin(client, product, zr7_staff):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=timezone.now())
    client.force_login(zr7_staff)

    client.post("/admin/commandes/attribution/", {"action": "reject_duplicate", "_selected_action": [attribution.pk]})

    rejection = Rejection.objects.get(attribution=attribution)
    assert rejection.reason == "duplicate" and rejection.source == "staff" and rejection.created_by == zr7_staff


def test_a_rejection_refused_by_staff_cannot_be_sent_again_through_the_link(client, product, zr7_staff):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=20)
    attributions = [_delivered(commande, at=timezone.now() - datetime.timedelta(hours=1)) for _ in range(5)]
    rejection_create(attribution=attributions[0], reason="wrong_number", by_client=True)  # 1/5
    held = rejection_create(attribution=attributions[1], reason="wrong_number", by_client=True)  # 2/5: held
    rejection_refuse(rejection=held, actor=zr7_staff)
    for _ in range(5):  # more leads delivered since: 2/10 would now be under the ceiling
        _delivered(commande, at=timezone.now() - datetime.timedelta(minutes=30))
    path = "/" + rejection_link(attribution_id=attributions[1].pk).split("://", 1)[1].split("/", 1)[1]

    page = client.get(path)
    again = client.post(path, {"reason": "wrong_number"})

    assert "refusé" in page.content.decode() and "Motif du rejet" not in page.content.decode()
    assert "refusé" in again.content.decode()
    with pytest.raises(RejectionError, match="refusé"):
        rejection_create(attribution=attributions[1], reason="other", by_client=True)
    assert list(Rejection.objects.filter(attribution=attributions[1]).values_list("status", flat=True)) == ["refused"]
    attributions[1].refresh_from_db()
    assert attributions[1].status == "delivered"
    # Staff, who refused it, may still reject the lead themselves.
    assert rejection_create(attribution=attributions[1], reason="other", actor=zr7_staff).status == "approved"


def _link_path(attribution: Attribution) -> str:
    return "/" + rejection_link(attribution_id=attribution.pk).split("://", 1)[1].split("/", 1)[1]


def test_the_link_page_says_at_once_that_the_rejection_window_is_over_instead_of_offering_the_form(client, product):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(days=7, hours=12))

    page = client.get(_link_path(attribution)).content.decode()

    assert "délai de rejet est dépassé" in page
    assert "Motif du rejet" not in page and "<form" not in page
    assert not Rejection.objects.exists()


def test_the_link_page_of_a_lead_recycled_since_says_it_can_no_longer_be_rejected(client, product):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(days=3))
    # A backlog age shorter than the window: the lead went back to the backlog while still in it.
    Attribution.objects.filter(pk=attribution.pk).update(status="recycled")

    page = client.get(_link_path(attribution)).content.decode()
    posted = client.post(_link_path(attribution), {"reason": "other"}).content.decode()

    for body in (page, posted):
        assert "ne peut plus être rejeté" in body and "Motif du rejet" not in body
    assert not Rejection.objects.exists()


@pytest.mark.parametrize("won_before", ["rejection_refusal", "rejection_create"])
def test_a_double_click_on_the_link_page_shows_the_recorded_rejection_not_an_error(
    client, product, monkeypatch, won_before
):
    from commandes import views_public

    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(hours=2))
    step = getattr(views_public, won_before)

    def first_click_wins(**kwargs):
        # The first click's request records the rejection just before this step of the second.
        if not Rejection.objects.exists():
            rejection_create(attribution=attribution, reason="wrong_number", by_client=True)
        return step(**kwargs)

    monkeypatch.setattr(views_public, won_before, first_click_wins)

    second = client.post(_link_path(attribution), {"reason": "wrong_number"})

    body = second.content.decode()
    assert second.status_code == 200
    assert "un rejet (Faux numéro, accepté)" in body
    assert "déjà été rejeté" not in body and 'role="alert"' not in body
    assert Rejection.objects.filter(attribution=attribution).count() == 1


def test_staff_rejecting_a_lead_whose_client_rejection_awaits_approval_are_told_so(product, zr7_staff):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(hours=1))
    held = rejection_create(attribution=attribution, reason="wrong_number", by_client=True)
    assert held.status == "pending"

    with pytest.raises(RejectionError) as refused:
        rejection_create(attribution=attribution, reason="other", actor=zr7_staff)

    assert "attend" in str(refused.value) and "Rejets" in str(refused.value)
    assert "déjà été rejeté" not in str(refused.value)  # it is not: the lead is still delivered


def test_a_client_coming_back_to_a_held_rejection_reads_that_staff_are_examining_it(client, product):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(hours=1))
    rejection_create(attribution=attribution, reason="wrong_number", by_client=True)

    page = client.get(_link_path(attribution)).content.decode()

    assert "Votre demande de rejet (Faux numéro) est en cours d'examen par notre équipe." in page
    assert "plafond" not in page  # the staff's own label is not the client's business


def test_approving_a_held_rejection_of_a_lead_recycled_since_does_not_tell_it_is_back_in_the_backlog(
    product, zr7_staff
):
    from routing.backlog import backlog_recycle

    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    delivered_at = timezone.now() - datetime.timedelta(days=40)
    attribution = _delivered(commande, at=delivered_at)
    held = rejection_create(
        attribution=attribution, reason="unreachable", by_client=True, now=delivered_at + datetime.timedelta(days=1)
    )
    assert held.status == "pending"
    # Staff take their time: the aged delivery meanwhile sends the lead to another client (§10).
    CommandeFactory(product=product, client__name="Repreneur", accepts_backlog=True)
    assert backlog_recycle().recycled == 1

    rejection_approve(rejection=held, actor=zr7_staff)

    lead = attribution.lead
    lead.refresh_from_db()
    assert lead.status == "routed"
    event = lead.events.get(kind=LeadEvent.Kind.REJECTED)
    assert "Lead Backlog" not in event.message
    assert event.message.endswith("le lead reste au client qui l'a reçu depuis (attribution plus récente)")


def test_a_client_whose_rejection_staff_refused_reads_that_the_lead_stays_delivered(client, product, zr7_staff):
    """« Ce lead a déjà fait l'objet d'un rejet (Faux numéro, refusé) » read as if the lead
    had been rejected: the client is told its request was refused and the lead stays delivered."""
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(hours=1))
    held = rejection_create(attribution=attribution, reason="wrong_number", by_client=True)
    rejection_refuse(rejection=held, actor=zr7_staff)

    page = client.get(_link_path(attribution)).content.decode()

    assert (
        "Votre demande de rejet (Faux numéro) a été examinée et refusée par notre équipe : le lead reste livré." in page
    )
    assert "a déjà fait l'objet d'un rejet" not in page and "<form" not in page


@pytest.mark.parametrize(("days", "text"), [(7, "7 jours"), (1, "1 jour")])
def test_the_window_over_message_follows_the_french_plural(client, product, days, text):
    from rdz.core.services import settings_update

    settings_update(user=None, changes={"rejection_window_days": days})
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(days=days, hours=1))

    page = client.get(_link_path(attribution)).content.decode()

    assert f"Le délai de rejet est dépassé : {text} après la livraison" in page
    assert "jour(s)" not in page


def test_a_client_rejecting_for_another_reason_is_asked_to_say_which(client, product):
    """« Autre » with nothing said left staff nothing to judge the rejection by (§16)."""
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=100)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(hours=1))

    page = client.get(_link_path(attribution)).content.decode()
    bare = client.post(_link_path(attribution), {"reason": "other", "comment": "  "})

    assert "Commentaire (obligatoire pour « Autre »)" in page
    assert bare.status_code == 400
    assert "Motif « Autre » : précisez la raison du rejet dans le commentaire." in bare.content.decode()
    assert not Rejection.objects.exists()
    said = client.post(_link_path(attribution), {"reason": "other", "comment": "Le prospect a déjà un devis signé"})
    assert "Le lead est rejeté (Autre)" in said.content.decode()
    assert Rejection.objects.get().comment == "Le prospect a déjà un devis signé"


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_approving_on_the_rejets_page_says_where_the_lead_went_and_whether_the_quota_was_credited(
    client, product, zr7_staff
):
    """« Rejet approuvé : le lead revient au backlog » was said also of a lead a recycling had
    meanwhile given to another client, which keeps it."""
    from routing.backlog import backlog_recycle

    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    delivered_at = timezone.now() - datetime.timedelta(days=40)
    attribution = _delivered(commande, at=delivered_at)
    held = rejection_create(
        attribution=attribution, reason="unreachable", by_client=True, now=delivered_at + datetime.timedelta(days=1)
    )
    CommandeFactory(product=product, client__name="Repreneur", accepts_backlog=True)
    assert backlog_recycle().recycled == 1
    client.force_login(zr7_staff)

    response = client.post("/rejets/", {"rejection": held.pk, "decision": "approve"}, follow=True)

    assert _messages(response) == [
        "Rejet approuvé : quota non recrédité (semaine précédente) ; "
        "le lead reste au client qui l'a reçu depuis (attribution plus récente)."
    ]


def test_a_staff_rejection_on_the_lead_page_says_the_lead_is_back_in_the_backlog_and_the_quota_credited(
    client, product, zr7_staff
):
    commande = CommandeFactory(product=product)
    attribution = _delivered(commande, at=timezone.now() - datetime.timedelta(minutes=5))
    client.force_login(zr7_staff)

    response = client.post(
        f"/leads/{attribution.lead_id}/", {"attribution": attribution.pk, "reason": "wrong_number"}, follow=True
    )

    assert _messages(response) == ["Lead rejeté : quota de la commande recrédité ; retour dans le Lead Backlog."]


def test_deciding_a_rejection_on_the_rejets_page_keeps_its_filters(client, product, zr7_staff):
    commande = CommandeFactory(product=product, client__rejection_ceiling_percent=0)
    delivered_at = timezone.now() - datetime.timedelta(hours=2)
    attribution = _delivered(commande, at=delivered_at)
    held = rejection_create(attribution=attribution, reason="unreachable", by_client=True, now=delivered_at)
    client.force_login(zr7_staff)

    response = client.post(
        "/rejets/?statut=pending&motif=unreachable&page=abc&next=https://ailleurs.example/",
        {"rejection": held.pk, "decision": "refuse"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/rejets/?statut=pending&motif=unreachable"
