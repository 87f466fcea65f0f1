"""Client rejections (§10) and the rejection ceiling (§16).

A delivered lead may be rejected within the rejection window, by staff or by the client
through the signed, expiring link of the CSV e-mail. An approved rejection puts the lead
back into the Lead Backlog; the commande's weekly count is credited back only when the
rejection falls in the same ISO week (Paris) as the attribution. Beyond the client's
rejection ceiling, a client's rejection waits for staff approval.
"""

import datetime
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes

from commandes.models import (
    Attribution,
    AttributionStatus,
    Client,
    Rejection,
    RejectionReason,
    RejectionSource,
    RejectionStatus,
)
from commandes.services import CommandeError
from leads.models import LeadEvent, LeadStatus
from leads.services import lead_event_add, lead_status_set, leads_lock
from rdz.core.services import audit_log, settings_get
from rdz.core.text import count_noun
from rdz.core.timeutils import paris_now, week_start

LINK_SALT = "commandes.rejection-link"
RATE_PERIOD_DAYS = 30


class RejectionError(CommandeError):
    """A refused rejection (French message, shown to staff or on the client's page)."""


# --- Signed links ------------------------------------------------------------------------
class _LinkSigner(signing.TimestampSigner):
    """TimestampSigner with its HMAC key derived once: the daily CSV signs one link per row.

    Same algorithm and output as Django's signer (salted HMAC-SHA256), so tokens are read
    back with the plain `TimestampSigner`.
    """

    def __init__(self) -> None:
        super().__init__(salt=LINK_SALT, algorithm="sha256")
        derived = hashlib.sha256(force_bytes(self.salt + "signer") + force_bytes(self.key)).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value, key=None) -> str:
        if key is not None and key != self.key:
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


def rejection_token(*, attribution_id: int) -> str:
    return _LinkSigner().sign(str(attribution_id))


def rejection_link_builder() -> Callable[[int], str]:
    """A function attribution id → absolute rejection link, for many links at once."""
    placeholder = "TOKEN"
    template = settings.SITE_URL + reverse("rejection-public", args=[placeholder])
    prefix, suffix = template.split(placeholder, 1)
    signer = _LinkSigner()
    return lambda attribution_id: f"{prefix}{signer.sign(str(attribution_id))}{suffix}"


def rejection_link(*, attribution_id: int) -> str:
    """Absolute link to the client's rejection page for this attribution (in the CSV and POST)."""
    return rejection_link_builder()(attribution_id)


def rejection_token_read(*, token: str, max_age_days: int | None = None) -> int:
    """The attribution id of a valid link; RejectionError (French) when tampered or expired."""
    if max_age_days is None:
        # The link lives as long as the rejection window after the e-mail, plus a day of slack.
        max_age_days = settings_get().rejection_window_days + 1
    try:
        value = signing.TimestampSigner(salt=LINK_SALT, algorithm="sha256").unsign(
            token, max_age=datetime.timedelta(days=max_age_days)
        )
    except signing.SignatureExpired as exc:
        raise RejectionError("Ce lien de rejet a expiré : le délai de rejet est dépassé.") from exc
    except signing.BadSignature as exc:
        raise RejectionError("Ce lien de rejet n'est pas valide. Vérifiez qu'il a été copié en entier.") from exc
    try:
        return int(value)
    except ValueError as exc:
        raise RejectionError("Ce lien de rejet n'est pas valide.") from exc


# --- Rate and ceiling (§16) ----------------------------------------------------------------
@dataclass(frozen=True)
class RejectionRate:
    delivered: int
    rejected: int
    days: int

    @property
    def percent(self) -> float:
        return round(100 * self.rejected / self.delivered, 1) if self.delivered else 0.0


def client_rejection_rate(
    *, client: Client, days: int = RATE_PERIOD_DAYS, now: datetime.datetime | None = None
) -> RejectionRate:
    """Leads delivered to the client over the last `days` days, and how many of those it
    rejected (approved or pending): both counts are of the same leads, so the rate reads
    « x % of the leads delivered in the period »."""
    since = (now or timezone.now()) - datetime.timedelta(days=days)
    delivered = Attribution.objects.filter(
        client=client,
        delivered_at__gte=since,
        status__in=[AttributionStatus.DELIVERED, AttributionStatus.REJECTED, AttributionStatus.RECYCLED],
    ).count()
    rejected = Rejection.objects.filter(
        client=client,
        attribution__delivered_at__gte=since,
        status__in=[RejectionStatus.APPROVED, RejectionStatus.PENDING],
    ).count()
    return RejectionRate(delivered=delivered, rejected=rejected, days=days)


def client_rejection_ceiling(*, client: Client) -> int:
    if client.rejection_ceiling_percent is not None:
        return client.rejection_ceiling_percent
    return settings_get().rejection_ceiling_percent


# --- Rejection -----------------------------------------------------------------------------
def rejection_refusal(*, attribution: Attribution, by_client: bool, now: datetime.datetime | None = None) -> str | None:
    """Why this attribution cannot be rejected now (French), or None (§10).

    `rejection_create` asks again under the attribution's lock; the client's page asks
    first, so that it never offers a form that could only be refused.
    """
    now = now or timezone.now()
    live = set(
        attribution.rejections.filter(status__in=[RejectionStatus.APPROVED, RejectionStatus.PENDING]).values_list(
            "status", flat=True
        )
    )
    if RejectionStatus.PENDING in live:
        return "Une demande de rejet du client attend déjà une décision : approuvez-la ou refusez-la (page Rejets)."
    if live:
        return "Ce lead a déjà été rejeté."
    if attribution.delivered_at is None:
        return "Seul un lead livré peut être rejeté."
    if by_client and attribution.rejections.filter(status=RejectionStatus.REFUSED).exists():
        # Staff decided (§16): asking again later, once the rate has dropped, must not undo it.
        return "Ce rejet a été examiné et refusé par notre équipe : le lead reste livré."
    window = settings_get().rejection_window_days
    if now - attribution.delivered_at > datetime.timedelta(days=window):
        return (
            f"Le délai de rejet est dépassé : {count_noun(window, 'jour')} après la livraison "
            f"(livré le {paris_now(attribution.delivered_at):%d/%m/%Y})."
        )
    if attribution.status != AttributionStatus.DELIVERED:
        # Delivered once, then put back into the Lead Backlog (aged delivery).
        return "Ce lead ne peut plus être rejeté."
    return None


def rejection_create(
    *,
    attribution: Attribution,
    reason: str,
    comment: str = "",
    by_client: bool = False,
    actor=None,
    now: datetime.datetime | None = None,
) -> Rejection:
    """Reject a delivered lead (§10). Staff rejections apply at once; a client's rejection
    that would take the client above its ceiling waits for staff approval (§16).

    A client rejecting for « Autre » says why in the comment: staff judge its rejections by
    their reasons (§16), and « Autre » alone says nothing. Staff, who answer for their own
    rejections, may leave it empty.
    """
    now = now or timezone.now()
    if reason not in RejectionReason.values:
        raise RejectionError("Motif de rejet inconnu.")
    with transaction.atomic():
        leads_lock(lead_ids=[attribution.lead_id])
        # The client's row serializes its rejections: two at once cannot both pass the ceiling.
        list(Client.objects.select_for_update().filter(pk=attribution.client_id).values_list("pk", flat=True))
        attribution = (
            Attribution.objects.select_for_update(of=("self",)).select_related("client", "lead").get(pk=attribution.pk)
        )
        if refusal := rejection_refusal(attribution=attribution, by_client=by_client, now=now):
            raise RejectionError(refusal)
        if by_client and reason == RejectionReason.OTHER and not comment.strip():
            raise RejectionError("Motif « Autre » : précisez la raison du rejet dans le commentaire.")
        status = RejectionStatus.APPROVED
        if by_client:
            rate = client_rejection_rate(client=attribution.client, now=now)
            delivered = rate.delivered
            if attribution.delivered_at < now - datetime.timedelta(days=rate.days):
                delivered += 1  # a rejection window longer than the period: this lead counts too
            if 100 * (rate.rejected + 1) / delivered > client_rejection_ceiling(client=attribution.client):
                status = RejectionStatus.PENDING
        try:
            with transaction.atomic():
                rejection = Rejection.objects.create(
                    attribution=attribution,
                    client=attribution.client,
                    entity=attribution.entity,
                    reason=reason,
                    comment=comment[:2000],
                    source=RejectionSource.CLIENT if by_client else RejectionSource.STAFF,
                    status=status,
                    created_at=now,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError as exc:  # a concurrent click won
            raise RejectionError("Ce lead a déjà été rejeté.") from exc
        who = "le client (lien signé)" if by_client else f"{actor or 'le staff'}"
        if status == RejectionStatus.APPROVED:
            _rejection_apply(rejection=rejection, attribution=attribution, now=now, who=who)
        else:
            lead_event_add(
                lead=attribution.lead,
                kind=LeadEvent.Kind.NOTE,
                message=(
                    f"Rejet demandé par {who} ({rejection.get_reason_display()}) : plafond de rejet du client "
                    "dépassé, en attente d'approbation du staff"
                ),
                data={"rejection": rejection.pk},
                at=now,
            )
        audit_log(
            action="rejection_create",
            actor=actor,
            actor_label="" if getattr(actor, "pk", None) else who,
            entity=attribution.entity,
            obj=rejection,
            message=f"Rejet {rejection.get_reason_display()} de l'attribution {attribution.pk} ({rejection.get_status_display()})",
        )
    return rejection


def _rejection_apply(*, rejection: Rejection, attribution: Attribution, now: datetime.datetime, who: str) -> None:
    # Credit the quota back only inside the attribution's own ISO week (Paris, §10).
    same_week = week_start(paris_now(now).date()) == attribution.week_start
    fields = {"status": AttributionStatus.REJECTED}
    if same_week:
        fields["counts_for_quota"] = False
    Attribution.objects.filter(pk=attribution.pk).update(**fields)
    Rejection.objects.filter(pk=rejection.pk).update(quota_credited=same_week)
    rejection.quota_credited = same_week
    # The lead goes back to the backlog unless it has meanwhile been given to someone else.
    if _rejection_is_latest(attribution=attribution):
        lead_status_set(lead_ids=[attribution.lead_id], status=LeadStatus.REJECTED)
    lead_event_add(
        lead=attribution.lead,
        kind=LeadEvent.Kind.REJECTED,
        message=(
            f"Rejeté par {who} pour {attribution.client.name} : {rejection.get_reason_display()}"
            + (f" ({rejection.comment[:200]})" if rejection.comment else "")
            + f" ; {rejection_outcome(rejection=rejection)}"
        ),
        data={"rejection": rejection.pk, "attribution": attribution.pk, "quota_credited": same_week},
        at=now,
    )


def _rejection_lock(*, rejection: Rejection) -> Rejection:
    """The rejection, read again under its lock, its lead's locked first (leads_lock)."""
    lead_id = Rejection.objects.filter(pk=rejection.pk).values_list("attribution__lead_id", flat=True).get()
    leads_lock(lead_ids=[lead_id])
    return (
        Rejection.objects.select_for_update(of=("self",))
        .select_related("attribution__lead", "client")
        .get(pk=rejection.pk)
    )


def _rejection_is_latest(*, attribution: Attribution) -> bool:
    latest = Attribution.objects.filter(lead_id=attribution.lead_id).order_by("-created_at", "-pk")
    return latest.values_list("pk", flat=True).first() == attribution.pk


def rejection_outcome(*, rejection: Rejection) -> str:
    """What an applied rejection did, in French (timeline, and staff's message): whether the
    commande's quota was credited back, and whether the lead went back to the Lead Backlog."""
    credit = (
        "quota de la commande recrédité" if rejection.quota_credited else "quota non recrédité (semaine précédente)"
    )
    if _rejection_is_latest(attribution=rejection.attribution):
        return f"{credit} ; retour dans le Lead Backlog"
    # Not named: that later attribution may belong to the other entity (§2).
    return f"{credit} ; le lead reste au client qui l'a reçu depuis (attribution plus récente)"


@transaction.atomic
def rejection_approve(*, rejection: Rejection, actor, now: datetime.datetime | None = None) -> Rejection:
    """Staff approve a client's rejection held by the ceiling (§16)."""
    now = now or timezone.now()
    rejection = _rejection_lock(rejection=rejection)
    if rejection.status != RejectionStatus.PENDING:
        raise RejectionError("Ce rejet n'est pas en attente d'approbation.")
    attribution = (
        Attribution.objects.select_for_update(of=("self",))
        .select_related("lead", "client")
        .get(pk=rejection.attribution_id)
    )
    Rejection.objects.filter(pk=rejection.pk).update(status=RejectionStatus.APPROVED, decided_by=actor, decided_at=now)
    rejection.status = RejectionStatus.APPROVED
    _rejection_apply(rejection=rejection, attribution=attribution, now=now, who=f"le client (approuvé par {actor})")
    audit_log(action="rejection_approve", actor=actor, entity=rejection.entity, obj=rejection, message="Rejet approuvé")
    return rejection


@transaction.atomic
def rejection_refuse(*, rejection: Rejection, actor, now: datetime.datetime | None = None) -> Rejection:
    """Staff refuse a client's rejection: the lead stays delivered."""
    now = now or timezone.now()
    rejection = _rejection_lock(rejection=rejection)
    if rejection.status != RejectionStatus.PENDING:
        raise RejectionError("Ce rejet n'est pas en attente d'approbation.")
    Rejection.objects.filter(pk=rejection.pk).update(status=RejectionStatus.REFUSED, decided_by=actor, decided_at=now)
    rejection.status = RejectionStatus.REFUSED
    lead_event_add(
        lead=rejection.attribution.lead,
        kind=LeadEvent.Kind.NOTE,
        message=f"Rejet ({rejection.get_reason_display()}) refusé par {actor} : le lead reste livré",
        data={"rejection": rejection.pk},
        at=now,
    )
    audit_log(action="rejection_refuse", actor=actor, entity=rejection.entity, obj=rejection, message="Rejet refusé")
    return rejection
