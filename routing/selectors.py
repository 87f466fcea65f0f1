"""The routing engine's reads (§5–§7), in hand-written SQL.

Routing runs inside every intake request: these two statements are its whole read cost.
They are plain SQL that SQLite and PostgreSQL both accept (values adapted with the
connection's own adapters, booleans and dates read back the same on both), because
building them through the ORM cost several times the database's own work.

Fills come from the per-day counters the database keeps (`commandes.CommandeFill`); the
§6 duplicate flag from the (client, phone, product, created_at) index.
"""

import datetime
from dataclasses import dataclass

from django.db import connection

from commandes.services import DUPLICATE_WINDOW, WEEK, Fill
from rdz.core.fastsql import HotRead, hot_pipeline, hot_reads, hot_statements_prepared
from rdz.core.timeutils import paris_now, week_start


@dataclass(frozen=True)
class ClientRow:
    id: int
    name: str
    active: bool
    api_url: str


@dataclass
class Candidate:
    """A commande matching a lead's entity and product, with its fill and §6 flag.

    Reads like a `Commande` for `commande_closed_reason` / `commande_quota_reason`. The
    departement coverage is decided by the read itself, so the commande's departement list
    is not read (JSON, which the driver would parse for every row of every intake).
    """

    pk: int
    client_id: int
    entity: str
    name: str
    product_code: str
    weekly_quota: int
    daily_cap: int | None
    priority: int
    active: bool
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    age_rank: int  # 0 for the oldest commande of its priority, and so on (ranking tie-break)
    client: ClientRow
    fill: Fill
    duplicate: bool

    @property
    def label(self) -> str:
        return f"#{self.pk} {self.client.name} ({self.name or self.product_code})"


# Week fill, day fill and the §6 flag of commande `c` (params: monday, next monday, today,
# phone, product, duplicate cutoff).
_FILL_AND_DUPLICATE = """
    COALESCE((SELECT SUM(f.used) FROM commandes_commandefill f
              WHERE f.commande_id = c.id AND f.day >= %s AND f.day < %s), 0),
    COALESCE((SELECT f.used FROM commandes_commandefill f WHERE f.commande_id = c.id AND f.day = %s), 0),
    EXISTS(SELECT 1 FROM commandes_attribution a
           WHERE a.client_id = c.client_id AND a.phone = %s AND a.product_id = %s AND a.created_at > %s)
"""

# Constant fragments only; every value is a parameter.
_CANDIDATES = f"""
SELECT c.id, c.client_id, c.entity, c.name, p.code, c.weekly_quota, c.daily_cap, c.priority,
       c.active, c.starts_on, c.ends_on, cl.name, cl.active, cl.api_url,
       {_FILL_AND_DUPLICATE}
FROM commandes_commande c
JOIN commandes_client cl ON cl.id = c.client_id
JOIN leads_product p ON p.id = c.product_id
WHERE c.entity = %s AND c.product_id = %s AND {{covers}} {{backlog}}
ORDER BY c.priority DESC, c.created_at ASC, c.id ASC
"""  # noqa: S608

# The commande covers the departement (or every one, "*"): the list is JSON on both databases.
_COVERS = {
    "postgresql": "(c.departements ? %s OR c.departements ? '*')",
    "sqlite": "EXISTS(SELECT 1 FROM json_each(c.departements) d WHERE d.value IN (%s, '*'))",
}

# Under the lock, the commande and its client as they are now: staff may have lowered the
# quota or closed the commande since the candidates were read.
_RECHECK = f"""
SELECT {_FILL_AND_DUPLICATE}, c.weekly_quota, c.daily_cap, c.active, c.starts_on, c.ends_on, cl.active
FROM commandes_commande c JOIN commandes_client cl ON cl.id = c.client_id WHERE c.id = %s
"""  # noqa: S608
_LOCK_CLIENT = "SELECT id FROM commandes_client WHERE id = %s FOR UPDATE"


def _date(value) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def _fill_params(*, phone: str, product_id: int, now: datetime.datetime) -> list:
    ops = connection.ops
    today = paris_now(now).date()
    monday = week_start(today)
    return [
        ops.adapt_datefield_value(monday),
        ops.adapt_datefield_value(monday + WEEK),
        ops.adapt_datefield_value(today),
        phone,
        product_id,
        ops.adapt_datetimefield_value(now - DUPLICATE_WINDOW),
    ]


def routing_candidates(
    *, entity: str, product_id: int, departement: str, phone: str, now: datetime.datetime, backlog: bool = False
) -> list[Candidate]:
    """Every commande of `entity` for the product that covers the departement (open or not:
    the explanation lists them all), by priority then age, with this week's and today's
    fill and the §6 flag."""
    (candidates,) = hot_reads(
        routing_candidates_read(
            entity=entity, product_id=product_id, departement=departement, phone=phone, now=now, backlog=backlog
        )
    )
    return candidates


def routing_candidates_read(
    *, entity: str, product_id: int, departement: str, phone: str, now: datetime.datetime, backlog: bool = False
) -> HotRead:
    """`routing_candidates` as a read to send with others (rdz.core.fastsql.hot_reads)."""
    sql = _CANDIDATES.format(covers=_COVERS[connection.vendor], backlog="AND c.accepts_backlog" if backlog else "")
    params = [*_fill_params(phone=phone, product_id=product_id, now=now), entity, product_id, departement]
    return HotRead(sql, params, many=True, build=_candidates_build)


def _candidates_build(rows) -> list[Candidate]:
    candidates = []
    previous_priority, age_rank = None, 0
    for r in rows:
        # Rows come by priority, then age: the rank within a priority orders by age.
        age_rank = age_rank + 1 if r[7] == previous_priority else 0
        previous_priority = r[7]
        candidates.append(
            Candidate(
                pk=r[0],
                client_id=r[1],
                entity=r[2],
                name=r[3],
                product_code=r[4],
                weekly_quota=r[5],
                daily_cap=r[6],
                priority=r[7],
                active=bool(r[8]),
                starts_on=_date(r[9]),
                ends_on=_date(r[10]),
                age_rank=age_rank,
                client=ClientRow(id=r[1], name=r[11], active=bool(r[12]), api_url=r[13]),
                fill=Fill(int(r[14]), int(r[15])),
                duplicate=bool(r[16]),
            )
        )
    return candidates


@dataclass(frozen=True)
class Recheck:
    """What the re-check under the client lock reads: fill, §6 flag, and the commande's
    settings as they are now (read like a `Commande` by `commande_closed_reason` /
    `commande_quota_reason`)."""

    fill: Fill
    duplicate: bool
    weekly_quota: int
    daily_cap: int | None
    active: bool
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    client: "ClientState"

    @classmethod
    def from_row(cls, row) -> "Recheck":
        week, day, duplicate, quota, cap, active, starts_on, ends_on, client_active = row
        return cls(
            Fill(int(week), int(day)),
            bool(duplicate),
            int(quota),
            None if cap is None else int(cap),
            bool(active),
            _date(starts_on),
            _date(ends_on),
            ClientState(bool(client_active)),
        )


@dataclass(frozen=True)
class ClientState:
    active: bool


def routing_lock_and_recheck(
    *, savepoint: str, client_id: int, commande_id: int, phone: str, product_id: int, now: datetime.datetime
) -> Recheck:
    """Open `savepoint`, lock the client's row, then read the commande's fill, §6 flag and
    settings again: one round trip on PostgreSQL.

    The row lock (`SELECT … FOR UPDATE`) serializes attributions to one client. The re-check
    is a statement of its own, after the lock, so it sees what the previous holder of the
    lock committed (READ COMMITTED takes a snapshot per statement). The three statements
    are sent together: in pipeline mode, each prepared (the re-check is then planned once
    per connection instead of at every intake), or, when statements are not prepared, as
    one simple query with client-side parameters. SQLite has no row locks: its
    transactions start IMMEDIATE (one writer at a time), so only the savepoint and the
    re-check run there.
    """
    name = connection.ops.quote_name(savepoint)
    params = [*_fill_params(phone=phone, product_id=product_id, now=now), commande_id]
    if hot_statements_prepared():
        with hot_pipeline() as cursor:
            cursor.execute(f"SAVEPOINT {name}")
            cursor.execute(_LOCK_CLIENT, [client_id])
            cursor.execute(_RECHECK, params)
        return Recheck.from_row(cursor.fetchone())  # the re-check's row
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SAVEPOINT {name}; {_LOCK_CLIENT}; {_RECHECK}", [client_id, *params])
            cursor.nextset()  # the lock's row
            cursor.nextset()  # the re-check's row
        else:
            cursor.execute(f"SAVEPOINT {name}")
            cursor.execute(_RECHECK, params)
        row = cursor.fetchone()
    return Recheck.from_row(row)
