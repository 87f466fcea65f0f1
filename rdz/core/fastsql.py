"""Plain INSERTs and SELECTs of model instances for the intake hot path.

`Model.save()` and `bulk_create()` rebuild their SQL through the ORM's compiler on every
call, which costs several times the INSERT itself. `rows_insert` writes the same row (every
concrete field, `pre_save` and `get_db_prep_save` applied as the ORM does, so defaults,
JSON and UUIDs are stored identically) with a statement built once per model and backend.
It sends no model signals: callers use it only for models that have no receivers
(leads, timeline events, attributions — see the test that checks this).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField

_AUTO = (AutoField, BigAutoField, SmallAutoField)


@contextmanager
def hot_cursor() -> Iterator:
    """A cursor for the statements every intake runs.

    On PostgreSQL (unless DB_PREPARED_STATEMENTS is off, e.g. behind a transaction-mode
    pooler) it binds parameters on the server, so psycopg prepares each statement on the
    connection after its second use and PostgreSQL stops re-planning it. The ORM's own
    cursors bind on the client and are never prepared. The cursor is Django's wrapper, so
    query logging and `CaptureQueriesContext` see these statements like any other.
    """
    if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    connection.connection.prepare_threshold = 2
    raw = ServerBindingCursor(connection.connection)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped:
        yield wrapped


_STATEMENTS: dict[tuple, tuple] = {}


def _statement(model: type[Model], rows: int) -> tuple[str, list, object]:
    key = (model, connection.vendor, rows)
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
        if auto is not None:
            sql += f" RETURNING {quote(auto.column)}"
        cached = _STATEMENTS[key] = (sql, fields, auto)
    return cached


def rows_insert(objs: Sequence[Model]) -> None:
    """INSERT `objs` (same model) in one statement; auto primary keys are set on them.

    Runs in the caller's transaction; database constraints apply as for `save()`.
    """
    if not objs:
        return
    model = type(objs[0])
    sql, fields, auto = _statement(model, len(objs))
    params = []
    for obj in objs:
        for f in fields:
            params.append(f.get_db_prep_save(f.pre_save(obj, True), connection))
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        if auto is not None:
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                setattr(obj, auto.attname, pk)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


_SELECTS: dict[tuple, tuple] = {}


def rows_select(model: type[Model], where: str, params: Sequence, *, order_by: str = "") -> list[Model]:
    """Instances of `model` matching a hand-written `where` (columns of its own table).

    Every concrete field is read and converted exactly as the ORM's compiler does (the
    backend's and the field's converters: SQLite booleans and dates, JSON), so the
    instances are the ones `Model.objects.filter(...)` would return. `where` and
    `order_by` are constant SQL; values go in `params`.
    """
    key = (model, connection.vendor, where, order_by)
    cached = _SELECTS.get(key)
    if cached is None:
        meta = model._meta
        quote = connection.ops.quote_name
        fields = list(meta.concrete_fields)
        sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(meta.db_table)} WHERE {where}"  # noqa: S608
        if order_by:
            sql += f" ORDER BY {order_by}"
        converters = []
        for index, f in enumerate(fields):
            col = f.get_col(meta.db_table)
            functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if functions:
                converters.append((index, functions, col))
        cached = _SELECTS[key] = (sql, converters)
    sql, converters = cached
    with hot_cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    objs = []
    for row in rows:
        values = list(row)
        for index, functions, col in converters:
            value = values[index]
            for function in functions:
                value = function(value, col, connection)
            values[index] = value
        objs.append(model.from_db(connection.alias, None, values))
    return objs
