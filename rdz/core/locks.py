"""Transaction-scoped locks on a name, for jobs that must not run twice at once.

PostgreSQL: `pg_advisory_xact_lock`, released at COMMIT or ROLLBACK. SQLite needs none: its
IMMEDIATE transactions (settings) already let one writer in at a time.
"""

from django.db import connection

# One namespace per kind of lock, so two kinds never share a key.
ROLLUP_DAY = 7_305_001  # key: the day's ordinal (leads.stats)
DAILY_SUMMARY = 7_305_002  # key: the day's ordinal × 2 + entity (rdz.core.alerts)
BATCH_CLAIM = 7_305_003  # key: the client's id (commandes.delivery)


def advisory_xact_lock(namespace: int, key: int) -> None:
    """Wait until no other transaction holds (namespace, key), then hold it until this one ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])
