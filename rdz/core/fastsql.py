"""Plain INSERTs and SELECTs of model instances for the intake hot path.

`Model.save()` and `bulk_create()` rebuild their SQL through the ORM's compiler on every
call, which costs several times the INSERT itself. `rows_insert` writes the same row (every
concrete field, `pre_save` and `get_db_prep_save` applied as the ORM does, so defaults,
JSON and UUIDs are stored identically) with a statement built once per model and backend.
It sends no model signals: callers use it only for models that have no receivers
(leads, timeline events, attributions, outbox rows — see the test that checks this).
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField

_AUTO = (AutoField, BigAutoField, SmallAutoField)

# psycopg caches the conversion of a statement's `%s` placeholders only up to 50
# parameters (beyond, ORMs generate too many shapes to be worth it); the intake's chained
# INSERT has a few fixed shapes of about 70, and converting it again on every call cost
# about a fifth of the request. Raise that bound for our statements; the length bound
# (4 KB of SQL) and the cache's size (128 statements) stay as psycopg sets them.
HOT_STATEMENT_MAX_PARAMS = 200


def _psycopg_conversion_cache_widen() -> None:
    try:
        from psycopg import _queries
    except ImportError:  # SQLite-only installation
        return
    if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", HOT_STATEMENT_MAX_PARAMS) < HOT_STATEMENT_MAX_PARAMS:
        _queries.MAX_CACHED_STATEMENT_PARAMS = HOT_STATEMENT_MAX_PARAMS


_psycopg_conversion_cache_widen()


def _server_binding_cursor(db, index: int = 0):
    """The connection's `index`-th kept server-binding cursor (made on first use)."""
    kept = db.__dict__.get("_rdz_hot_cursors")
    if kept is None or not kept or kept[0].closed or kept[0].connection is not db.connection:
        kept = db.__dict__["_rdz_hot_cursors"] = []
    while len(kept) <= index:
        from django.db.backends.postgresql.base import ServerBindingCursor

        db.connection.prepare_threshold = 2
        kept.append(ServerBindingCursor(db.connection))
    return kept[index]


def _wrapped(db, raw):
    db.validate_thread_sharing()
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


@contextmanager
def hot_cursor() -> Iterator:
    """A cursor for the statements every intake runs.

    On PostgreSQL (unless DB_PREPARED_STATEMENTS is off, e.g. behind a transaction-mode
    pooler) it binds parameters on the server, so psycopg prepares each statement on the
    connection after its second use and PostgreSQL stops re-planning it. The ORM's own
    cursors bind on the client and are never prepared. One such cursor is kept per
    database connection (connections are per thread) and reused. It is handed out in
    Django's wrapper, so query logging and `CaptureQueriesContext` see these statements
    like any other. As for Django's own cursors, a connection kept from an earlier request
    is health-checked first (CONN_HEALTH_CHECKS), unless `hot_reads` already did.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    # Not closed on exit: the next hot statement of this connection reuses it.
    yield _wrapped(db, _server_binding_cursor(db))


@dataclass(frozen=True)
class HotRead:
    """One read-only statement for `hot_reads`: its SQL and parameters, whether it returns
    many rows (else one row or None), and what to make of them (`build(rows)`)."""

    sql: str
    params: Sequence
    many: bool = False
    build: Callable[[Any], Any] = lambda rows: rows


def hot_reads(*reads: HotRead) -> list:
    """Run these reads and return what each one's `build` made of its rows, in order.

    On PostgreSQL with prepared statements, they go to the server together, in one round
    trip (pipeline mode, one kept cursor each, read after the pipeline's Sync); elsewhere
    one after the other.

    Outside a transaction, on a connection kept from an earlier request whose health check
    (CONN_HEALTH_CHECKS) is still due, these reads are that check: Django would first send
    `SELECT 1`; here, if they fail because the connection is dead (the server restarted,
    an idle connection was cut), the connection is replaced and the reads run once more —
    they change nothing, so running them again is safe — and on success the check is done
    for the rest of the request.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        return _reads_in_turn(reads)
    check_due = (
        db.connection is not None and db.health_check_enabled and not db.health_check_done and not db.in_atomic_block
    )
    try:
        results = _reads_pipelined(db, reads)
    except (OperationalError, InterfaceError):
        if not check_due or db.is_usable():
            raise
        db.close()
        results = _reads_pipelined(db, reads)
    if check_due:
        db.health_check_done = True
    return results


def _reads_in_turn(reads: Sequence[HotRead]) -> list:
    results = []
    for read in reads:
        with hot_cursor() as cursor:
            cursor.execute(read.sql, list(read.params))
            results.append(read.build(cursor.fetchall() if read.many else cursor.fetchone()))
    return results


def _reads_pipelined(db, reads: Sequence[HotRead]) -> list:
    db.ensure_connection()
    cursors = [_wrapped(db, _server_binding_cursor(db, n)) for n in range(len(reads))]
    if len(reads) == 1:
        cursors[0].execute(reads[0].sql, list(reads[0].params))
        rows = [cursors[0].fetchall() if reads[0].many else cursors[0].fetchone()]
    else:
        with db.wrap_database_errors, db.connection.pipeline():
            for cursor, read in zip(cursors, reads, strict=True):
                cursor.execute(read.sql, list(read.params))
        # Leaving the block sent them with one Sync and read every result.
        rows = [
            cursor.fetchall() if read.many else cursor.fetchone() for cursor, read in zip(cursors, reads, strict=True)
        ]
    return [read.build(r) for read, r in zip(reads, rows, strict=True)]


def hot_statements_prepared() -> bool:
    """Whether the hot statements are prepared on the server (PostgreSQL, unless
    DB_PREPARED_STATEMENTS is off): `hot_pipeline` is then available."""
    return connection.vendor == "postgresql" and settings.DB_PREPARED_STATEMENTS


@contextmanager
def hot_pipeline() -> Iterator:
    """The hot cursor in psycopg's pipeline mode: the statements executed in the block go
    to the server together, each one prepared like any hot statement, and run there one
    after the other, each with its own snapshot (READ COMMITTED). Leaving the block sends
    them with one Sync and reads every result: fetch after the block (the cursor then
    holds the last statement's rows). A fetch inside the block would cost a round trip of
    its own before the Sync's. An error surfaces when the block is left, as Django's
    DatabaseError, and the statements after the failed one are not run. Only when
    `hot_statements_prepared()`: psycopg pipelines server-bound statements only, so
    callers keep a one-query form for the other cases (see
    routing.selectors.routing_lock_and_recheck).
    """
    if not hot_statements_prepared():
        raise RuntimeError("hot_pipeline needs prepared statements on PostgreSQL")
    db = connections[DEFAULT_DB_ALIAS]
    with hot_cursor() as cursor, db.wrap_database_errors, db.connection.pipeline():
        yield cursor


_STATEMENTS: dict[tuple, tuple] = {}


def _statement(model: type[Model], rows: int, *, unless_conflict: bool = False) -> tuple[str, list, object]:
    key = (model, connection.vendor, rows, unless_conflict)
    cached = _STATEMENTS.get(key)
    if cached is None:
        meta = model._meta
        auto = meta.pk if isinstance(meta.pk, _AUTO) else None
        fields = [f for f in meta.concrete_fields if f is not auto]
        quote = connection.ops.quote_name
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        columns = ", ".join(quote(f.column) for f in fields)
        # Table and column names from the model's metadata, values as parameters.
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES " + ", ".join([placeholders] * rows)  # noqa: S608
        if unless_conflict:
            sql += " ON CONFLICT DO NOTHING"
        if auto is not None:
            sql += f" RETURNING {quote(auto.column)}"
        cached = _STATEMENTS[key] = (sql, fields, auto)
    return cached


def _insert_params(objs: Sequence[Model], fields: list) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def rows_insert(*groups: Sequence[Model]) -> None:
    """INSERT each group of instances (one model per group); auto primary keys are set.

    One statement per call on PostgreSQL: several groups are chained as data-modifying
    CTEs (`WITH i0 AS (INSERT … RETURNING id), … SELECT …`), which PostgreSQL runs to
    completion whether or not their rows are read; the generated keys of every group come
    back tagged with the group's position. Foreign keys between the groups are checked at
    commit (Django creates them deferrable). SQLite runs one statement per group. Runs in
    the caller's transaction; constraints apply as for `save()`.
    """
    groups = [g for g in groups if g]
    if not groups:
        return
    statements = []
    for objs in groups:
        sql, fields, auto = _statement(type(objs[0]), len(objs))
        statements.append((sql, _insert_params(objs, fields), auto, objs))
    with hot_cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            _chained_insert(cursor, statements)
        else:
            for sql, params, auto, objs in statements:
                cursor.execute(sql, params)
                if auto is not None:
                    for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                        setattr(obj, auto.attname, pk)
    for objs in groups:
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias


def _chained_insert(cursor, statements: list[tuple]) -> None:
    """PostgreSQL: every INSERT as a CTE of one statement; the main query returns the
    generated keys as (group position, key) rows, in each group's VALUES order."""
    ctes = ", ".join(f"i{n} AS ({sql})" for n, (sql, *_) in enumerate(statements))
    quote = connection.ops.quote_name
    keyed = [(n, auto, objs) for n, (_, _, auto, objs) in enumerate(statements) if auto is not None]
    main = " UNION ALL ".join(f"SELECT {n}, {quote(auto.column)} FROM i{n}" for n, auto, _ in keyed)  # noqa: S608 (model metadata)
    cursor.execute(f"WITH {ctes} {main or 'SELECT 0, NULL'}", [p for _, params, *_ in statements for p in params])
    returned: dict[int, list] = {}
    for position, pk in cursor.fetchall():
        returned.setdefault(position, []).append(pk)
    for n, auto, objs in keyed:
        for obj, pk in zip(objs, returned.get(n, []), strict=True):
            setattr(obj, auto.attname, pk)


def row_insert_unless_conflict(obj: Model) -> bool:
    """INSERT one instance unless it violates a unique constraint (`ON CONFLICT DO
    NOTHING`, PostgreSQL and SQLite). Returns whether it was written; unlike catching an
    IntegrityError, it needs no savepoint, so the caller's transaction stays usable."""
    sql, fields, auto = _statement(type(obj), 1, unless_conflict=True)
    with hot_cursor() as cursor:
        cursor.execute(sql, _insert_params([obj], fields))
        if auto is not None:
            row = cursor.fetchone()
            if row is None:
                return False
            setattr(obj, auto.attname, row[0])
        elif cursor.rowcount != 1:
            return False
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


class ModelReader:
    """Reads one model's concrete fields from a hand-written SELECT (`columns` in it, in
    order) and builds instances, converted exactly as the ORM's compiler does (the
    backend's and the field's converters: SQLite booleans and dates, JSON)."""

    _cache: dict[tuple, "ModelReader"] = {}

    def __init__(self, model: type[Model], alias: str):
        meta = model._meta
        quote = connection.ops.quote_name
        self.model = model
        self.fields = list(meta.concrete_fields)
        self.columns = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)
        self.size = len(self.fields)
        self.converters = []
        for index, f in enumerate(self.fields):
            col = f.get_col(meta.db_table)
            functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if functions:
                self.converters.append((index, functions, col))

    @classmethod
    def get(cls, model: type[Model], alias: str) -> "ModelReader":
        key = (model, connection.vendor, alias)
        if key not in cls._cache:
            cls._cache[key] = cls(model, alias)
        return cls._cache[key]

    def build(self, values: Sequence) -> Model:
        values = list(values)
        for index, functions, col in self.converters:
            value = values[index]
            for function in functions:
                value = function(value, col, connection)
            values[index] = value
        return self.model.from_db(connection.alias, None, values)


def rows_select(
    model: type[Model], where: str, params: Sequence, *, order_by: str = "", limit: int | None = None
) -> list[Model]:
    """Instances of `model` matching a hand-written `where` (columns of its own table,
    prefixed `t.`), as `Model.objects.filter(...)` would return them. `where` and
    `order_by` are constant SQL; values go in `params`."""
    reader = ModelReader.get(model, "t")
    sql = f"SELECT {reader.columns} FROM {connection.ops.quote_name(model._meta.db_table)} t WHERE {where}"  # noqa: S608
    if order_by:
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with hot_cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    return [reader.build(row) for row in rows]
