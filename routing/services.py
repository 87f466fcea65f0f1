"""The routing engine (§5–§7): choose the commande of a lead, race-free (§16).

Concurrency: candidates are ranked from a lock-free read, then the chosen client's row is
locked (`SELECT … FOR UPDATE`) inside a savepoint and the quota and the 30-day rule are
checked again under the lock. A transaction holds at most one client lock at a time (a
refused candidate's savepoint is rolled back, which releases its lock), so two intakes can
never deadlock, and two attributions to one client are always serialized: never a lead over
quota, never the same phone and product twice to one client. The lock is held for one
INSERT and the COMMIT: savepoint, lock and re-check are sent together, in one round trip
(routing.selectors.routing_lock_and_recheck), and the intake writes its lead and timeline
with the attribution, in the same statement.
"""

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from commandes.models import Attribution
from commandes.services import attribution_create, commande_closed_reason, commande_quota_reason
from rdz.core.entities import other_entity
from rdz.core.models import AppSettings
from rdz.core.services import settings_get
from rdz.core.timeutils import paris_now
from routing.selectors import Candidate, routing_candidates, routing_lock_and_recheck


class RoutingError(Exception):
    """Routing refused (French message)."""


@dataclass
class Verdict:
    commande_id: int
    label: str
    entity: str
    priority: int
    fill_ratio: float
    verdict: str  # chosen | duplicate | full | closed | passed
    reason: str

    def as_dict(self) -> dict:
        return {
            "commande_id": self.commande_id,
            "label": self.label,
            "entity": self.entity,
            "priority": self.priority,
            "fill_percent": round(self.fill_ratio * 100),
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass
class RoutingResult:
    status: str  # routed | no_order | duplicate
    attribution: Attribution | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    cross_entity: bool = False
    notes: list[str] = field(default_factory=list)

    def explanation(self) -> dict:
        return {
            "status": self.status,
            "cross_entity": self.cross_entity,
            "notes": self.notes,
            "commandes": [v.as_dict() for v in self.verdicts],
        }

    def summary(self) -> str:
        """French one-liner: « commande X choisie : priorité 3, remplissage 40 % ; commande Y écartée : doublon 30 jours »."""
        return explanation_summary(self.explanation())


def explanation_summary(explanation: dict) -> str:
    """The French one-liner of a stored routing explanation (RoutingResult.explanation): the
    timeline's text, rebuilt the same way when part of it is masked for an account (§2)."""
    parts = []
    for v in explanation.get("commandes") or []:
        if v.get("verdict") == "chosen":
            figures = (
                f"priorité {v.get('priority')}, remplissage {v.get('fill_percent')} %"
                if v.get("priority") is not None
                else v.get("reason", "")
            )
            parts.append(f"commande {v.get('label')} choisie : {figures}")
        else:
            parts.append(f"commande {v.get('label')} écartée : {v.get('reason', '')}")
    text = " ; ".join(parts) if parts else "aucune commande pour ce produit et ce département"
    notes = explanation.get("notes") or []
    if notes:
        text = " ; ".join(notes) + " — " + text
    return text


def _verdict(c: Candidate, ratio: float, verdict: str, reason: str) -> Verdict:
    return Verdict(c.pk, c.label, c.entity, c.priority, ratio, verdict, reason)


# Rows the caller writes with the attribution, in the same INSERT (see lead_route_in_transaction).
RowsWithAttribution = Callable[["RoutingResult"], Sequence[Sequence[Model]]]


def _route_in_entity(
    *,
    lead,
    entity: str,
    now: datetime.datetime,
    backlog: bool,
    result: RoutingResult,
    with_attribution: RowsWithAttribution | None,
    candidates: list[Candidate] | None = None,
) -> Attribution | None:
    """Try one entity; verdicts for every matching commande go into `result`. `candidates`:
    already read by the caller (routing.selectors.routing_candidates_read)."""
    today = paris_now(now).date()
    if candidates is None:
        candidates = routing_candidates(
            entity=entity,
            product_id=lead.product_id,
            departement=lead.departement,
            phone=lead.phone,
            now=now,
            backlog=backlog,
        )
    if not candidates:
        return None
    open_commandes: list[Candidate] = []
    for c in candidates:
        ratio = c.fill.week / c.weekly_quota
        reason = commande_closed_reason(c, today=today)
        if reason:
            result.verdicts.append(_verdict(c, ratio, "closed", reason))
            continue
        reason = commande_quota_reason(c, c.fill)
        if reason:
            result.verdicts.append(_verdict(c, ratio, "full", reason))
            continue
        open_commandes.append(c)
    if not open_commandes:
        return None
    dup = {c.client_id for c in open_commandes if c.duplicate}
    ranked = []
    for c in open_commandes:
        ratio = c.fill.week / c.weekly_quota
        if c.client_id in dup:
            result.verdicts.append(_verdict(c, ratio, "duplicate", "doublon 30 jours"))
        else:
            ranked.append((-c.priority, ratio, c.age_rank, c.pk, c))
    ranked.sort(key=lambda t: t[:4])
    for position, (_, ratio, _, _, c) in enumerate(ranked):
        passed = [
            _verdict(
                other,
                other_ratio,
                "passed",
                f"non retenue (priorité {other.priority}, remplissage {round(other_ratio * 100)} %)",
            )
            for _, other_ratio, _, _, other in ranked[position + 1 :]
        ]
        attribution = _try_attribute(
            lead=lead,
            commande=c,
            now=now,
            backlog=backlog,
            result=result,
            ratio=ratio,
            passed=passed,
            with_attribution=with_attribution,
        )
        if attribution is not None:
            return attribution
    return None


def _try_attribute(
    *,
    lead,
    commande: Candidate,
    now,
    backlog: bool,
    result: RoutingResult,
    ratio: float,
    passed: list[Verdict],
    with_attribution: RowsWithAttribution | None,
) -> Attribution | None:
    """Lock the client, re-check quota and §6 under the lock, attribute. Savepoint releases the lock on refusal.

    The explanation is complete before the attribution row is written (chosen + `passed`
    verdicts), so it is stored by the INSERT itself. On success the savepoint is left to
    the COMMIT (no RELEASE round trip): nothing rolls back to it any more.
    """
    current = routing_lock_and_recheck(
        savepoint=LOCK_SAVEPOINT,
        client_id=commande.client_id,
        commande_id=commande.pk,
        phone=lead.phone,
        product_id=lead.product_id,
        now=now,
    )
    refused: Verdict | None = None
    # The commande as it is under the lock: staff may have closed it or lowered its quota
    # since the candidates were read.
    if reason := commande_closed_reason(current, today=paris_now(now).date()):
        refused = _verdict(commande, ratio, "closed", reason)
    elif reason := commande_quota_reason(current, current.fill):
        refused = _verdict(commande, current.fill.week / current.weekly_quota, "full", reason)
    elif current.duplicate:
        refused = _verdict(commande, ratio, "duplicate", "doublon 30 jours")
    if refused is not None:
        # Rolling back to the savepoint releases the client's row lock: a transaction
        # holds at most one client lock at a time, so intakes never deadlock.
        transaction.savepoint_rollback(LOCK_SAVEPOINT)
        result.verdicts.append(refused)
        return None
    result.verdicts.append(_verdict(commande, ratio, "chosen", "choisie"))
    result.verdicts.extend(passed)
    result.status = "routed"
    return attribution_create(
        lead=lead,
        commande=commande,
        now=now,
        is_backlog=backlog,
        explanation=result.explanation(),
        insert_with=with_attribution(result) if with_attribution is not None else (),
    )


# Opened before each client lock. Savepoints of one name stack: a rollback goes back to the
# latest, which is the current candidate's.
LOCK_SAVEPOINT = "rdz_client_lock"


@transaction.atomic
def lead_route(
    *, lead, now: datetime.datetime | None = None, backlog: bool = False, app_settings: AppSettings | None = None
) -> RoutingResult:
    """Attribute `lead` to the best OPEN commande (§7); does not change the lead itself.

    Own entity first; then, when nothing was attributed, the other entity if the
    cross-entity setting allows that direction and the lead is not `entity_locked`.
    `backlog=True` only offers the lead to commandes that accept the backlog (§10).
    Result status: `routed`, `duplicate` (OPEN matching commandes exist but §6 blocked
    them all) or `no_order`. `app_settings` saves a read when the caller has it.
    """
    return lead_route_in_transaction(lead=lead, now=now, backlog=backlog, app_settings=app_settings)


def lead_route_in_transaction(
    *,
    lead,
    now: datetime.datetime | None = None,
    backlog: bool = False,
    app_settings: AppSettings | None = None,
    with_attribution: RowsWithAttribution | None = None,
    candidates: list[Candidate] | None = None,
) -> RoutingResult:
    """`lead_route` for a caller that already holds a transaction (intake): no extra savepoint.

    `candidates`: the commandes of the lead's own entity, already read with the same `now`
    and `backlog` (intake sends that read with its other reads, before its transaction:
    nothing is locked then, and the client lock's re-check decides).

    The lead row need not exist yet: the attribution's foreign key is checked at commit
    (Django creates foreign keys DEFERRABLE INITIALLY DEFERRED).

    `with_attribution(result)` is called once an attribution is certain (confirmed under
    the client lock), with the final result; the groups of rows it returns are written by
    the attribution's own INSERT statement, ahead of it. Intake passes the new lead and its
    timeline, so a routed lead costs one INSERT and the client lock is held only for that
    statement and the COMMIT (every attribution to one client waits for that window, §16).
    When nothing is attributed it is not called: the caller writes its rows itself.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RoutingError("Le routage doit s'exécuter dans une transaction.")
    now = now or timezone.now()
    result = RoutingResult(status="no_order")
    attribution = _route_in_entity(
        lead=lead,
        entity=lead.entity,
        now=now,
        backlog=backlog,
        result=result,
        with_attribution=with_attribution,
        candidates=candidates,
    )
    if attribution is None:
        target = other_entity(lead.entity)
        if lead.entity_locked:
            result.notes.append(f"lead verrouillé sur {lead.entity} : pas de repli vers {target}")
        elif not (app_settings or settings_get()).cross_entity_allowed(lead.entity, target):
            result.notes.append(f"repli {lead.entity} → {target} désactivé")
        else:
            result.cross_entity = True
            result.notes.append(f"aucune commande {lead.entity} disponible : essai des commandes {target}")
            attribution = _route_in_entity(
                lead=lead, entity=target, now=now, backlog=backlog, result=result, with_attribution=with_attribution
            )
    if attribution is not None:
        result.status = "routed"
        result.attribution = attribution
    else:
        result.status = "duplicate" if any(v.verdict == "duplicate" for v in result.verdicts) else "no_order"
    return result
