"""The client lock and the re-check under it (routing.selectors.routing_lock_and_recheck).

On PostgreSQL the savepoint, the lock and the re-check go to the server together: in
pipeline mode with prepared statements (the default), or as one simple query when
prepared statements are off (DB_PREPARED_STATEMENTS=False, behind a transaction-mode
pooler). Both forms must read the same fill and §6 flag and hold the same lock.
"""

import datetime
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from commandes.services import Fill
from routing.selectors import routing_lock_and_recheck
from routing.services import LOCK_SAVEPOINT
from tests.factories import AttributionFactory, CommandeFactory, LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)

PREPARED = pytest.mark.parametrize("prepared", [True, False], ids=["pipelined", "one-query"])


def lock_and_recheck(commande, phone: str, now=None) -> tuple[Fill, bool]:
    recheck = routing_lock_and_recheck(
        savepoint=LOCK_SAVEPOINT,
        client_id=commande.client_id,
        commande_id=commande.pk,
        phone=phone,
        product_id=commande.product_id,
        now=now or timezone.now(),
    )
    return recheck.fill, recheck.duplicate


def in_other_transaction(work) -> threading.Thread:
    """Start a thread running `work(cursor)` in a transaction of a connection of its own,
    rolled back at the end."""

    def run():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                try:
                    work(cursor)
                finally:
                    cursor.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def other_connection_can_lock(client_id: int) -> bool:
    """Whether another connection can take the client's row lock right now (NOWAIT)."""
    outcome = []

    def attempt(cursor):
        try:
            cursor.execute("SELECT id FROM commandes_client WHERE id = %s FOR UPDATE NOWAIT", [client_id])
            outcome.append(True)
        except OperationalError:
            outcome.append(False)

    in_other_transaction(attempt).join(timeout=30)
    return outcome == [True]


@pytest.fixture
def pg_commande(settings, product, prepared):
    """A commande, on PostgreSQL only (SQLite has no row locks: it serializes writers),
    with the hot statements prepared or not as the test is parametrized."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL feature (SQLite serializes writers)")
    settings.DB_PREPARED_STATEMENTS = prepared
    return CommandeFactory(product=product)


@PREPARED
def test_the_fill_and_the_duplicate_flag_are_read_under_the_lock(settings, product, prepared):
    settings.DB_PREPARED_STATEMENTS = prepared
    commande = CommandeFactory(product=product)
    for n in range(3):
        AttributionFactory(commande=commande, lead=LeadFactory(product=product, phone=f"+3361111000{n}"))
    for _ in range(3):  # the third call runs prepared statements (psycopg prepares on the second)
        with transaction.atomic():
            assert lock_and_recheck(commande, "+33611110001") == (Fill(3, 3), True)
        with transaction.atomic():
            assert lock_and_recheck(commande, "+33699999999") == (Fill(3, 3), False)


@PREPARED
def test_the_client_row_stays_locked_until_the_savepoint_is_rolled_back(pg_commande, prepared):
    commande = pg_commande
    with transaction.atomic():
        lock_and_recheck(commande, "+33611110001")
        assert not other_connection_can_lock(commande.client_id)
        transaction.savepoint_rollback(LOCK_SAVEPOINT)  # a refused candidate
        assert other_connection_can_lock(commande.client_id)
        lock_and_recheck(commande, "+33611110001")
        assert not other_connection_can_lock(commande.client_id)
    assert other_connection_can_lock(commande.client_id)


@PREPARED
def test_a_lock_that_cannot_be_taken_is_a_database_error_and_the_connection_recovers(pg_commande, prepared):
    commande = pg_commande
    holder_ready, release = threading.Event(), threading.Event()

    def hold_the_lock(cursor):
        cursor.execute("SELECT id FROM commandes_client WHERE id = %s FOR UPDATE", [commande.client_id])
        holder_ready.set()
        release.wait(timeout=30)

    holder = in_other_transaction(hold_the_lock)
    try:
        assert holder_ready.wait(timeout=30)
        with pytest.raises(OperationalError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '100ms'")
            lock_and_recheck(commande, "+33611110001")
    finally:
        release.set()
        holder.join(timeout=30)
    # The failed transaction was rolled back; the same statements work again.
    now = timezone.now() + datetime.timedelta(seconds=1)
    for _ in range(3):
        with transaction.atomic():
            assert lock_and_recheck(commande, "+33611110001", now=now) == (Fill(0, 0), False)
