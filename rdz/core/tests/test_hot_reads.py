"""Reads sent together, and the first read of a request as the connection's health check
(rdz.core.fastsql.hot_reads, hot_cursor)."""

import psycopg
import pytest
from django.db import ProgrammingError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from rdz.core.fastsql import HotRead, hot_cursor, hot_reads

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"
postgresql_only = pytest.mark.skipif(not POSTGRESQL, reason="server-side health check of a kept connection")


def test_each_read_gets_its_own_rows_in_order():
    one, many, empty = hot_reads(
        HotRead("SELECT %s + 1", [41], build=lambda row: row[0]),
        HotRead("SELECT 1 UNION ALL SELECT 2 ORDER BY 1", [], many=True),
        HotRead("SELECT 1 WHERE 1 = %s", [0]),
    )
    assert one == 42
    assert [tuple(r) for r in many] == [(1,), (2,)]
    assert empty is None


@postgresql_only
def test_postgresql_sends_the_reads_together_and_logs_each(monkeypatch):
    pipelines = []
    real = psycopg.Connection.pipeline

    def counting(self):
        pipelines.append(self)
        return real(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", counting)
    with CaptureQueriesContext(connection) as ctx:
        hot_reads(HotRead("SELECT 1", []), HotRead("SELECT 2", []), HotRead("SELECT 3", []))
    assert len(pipelines) == 1
    assert [q["sql"] for q in ctx.captured_queries] == ["SELECT 1", "SELECT 2", "SELECT 3"]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _kill_backend(pid: int) -> None:
    """End that server process from another connection, as a server restart or a cut
    idle connection would."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def _next_request_on_kept_connection() -> None:
    # What Django does when a request starts on a connection kept from an earlier one
    # (CONN_MAX_AGE): its health check is due again.
    connection.health_check_enabled = True
    connection.health_check_done = False


@postgresql_only
def test_the_first_reads_of_a_request_are_its_health_check():
    _backend_pid()
    _next_request_on_kept_connection()
    with CaptureQueriesContext(connection) as ctx:
        (value,) = hot_reads(HotRead("SELECT 7", [], build=lambda row: row[0]))
        with connection.cursor() as cursor:  # Django would check here: already done
            cursor.execute("SELECT 8")
    assert value == 7
    assert [q["sql"] for q in ctx.captured_queries] == ["SELECT 7", "SELECT 8"]
    assert connection.health_check_done


@postgresql_only
def test_a_dead_kept_connection_is_replaced_and_the_reads_run_again():
    pid = _backend_pid()
    _kill_backend(pid)
    _next_request_on_kept_connection()
    first, second = hot_reads(HotRead("SELECT pg_backend_pid()", []), HotRead("SELECT 5", []))
    assert first[0] != pid and second == (5,)
    assert connection.health_check_done
    assert _backend_pid() == first[0]


@postgresql_only
def test_a_read_that_fails_on_a_live_connection_is_not_run_again(monkeypatch):
    _backend_pid()
    _next_request_on_kept_connection()
    executed = []
    real = psycopg.Cursor.execute

    def counting(self, query, *args, **kwargs):
        executed.append(query)
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    with pytest.raises(ProgrammingError):
        hot_reads(HotRead("SELECT * FROM no_such_table", []))
    assert executed.count("SELECT * FROM no_such_table") == 1
    (value,) = hot_reads(HotRead("SELECT 1", []))  # the connection is still usable
    assert value == (1,)


@postgresql_only
def test_no_reconnection_inside_a_transaction():
    from django.db import InterfaceError, OperationalError

    with pytest.raises((OperationalError, InterfaceError)), transaction.atomic():
        pid = _backend_pid()
        _kill_backend(pid)
        _next_request_on_kept_connection()
        hot_reads(HotRead("SELECT 1", []))
    connection.close()


@postgresql_only
def test_the_hot_cursor_checks_a_kept_connection_as_django_does():
    pid = _backend_pid()
    _kill_backend(pid)
    _next_request_on_kept_connection()
    with hot_cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@postgresql_only
def test_a_provider_intake_on_a_dead_kept_connection_still_succeeds(api_client, zr7_provider, product):
    from rdz.core.services import settings_get
    from tests.factories import CommandeFactory

    settings_get()
    CommandeFactory(client__entity="ZR7", product=product)
    _kill_backend(_backend_pid())
    _next_request_on_kept_connection()
    with CaptureQueriesContext(connection) as ctx:
        response = api_client.post(
            "/api/v1/leads/",
            {"phone": "06 12 34 56 78", "product": "PV", "departement": "13"},
            format="json",
            HTTP_X_API_KEY=zr7_provider.api_key,
        )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "routed"
    assert "SELECT 1" not in [q["sql"] for q in ctx.captured_queries]
