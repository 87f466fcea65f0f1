"""Database triggers that keep `commandes_commandefill` equal to the quota-counting
attributions of each commande and Paris day (see `CommandeFill`).

PostgreSQL: statement-level triggers with transition tables, one upsert per statement
whatever the number of rows, fill rows touched in (commande, day) order so two bulk
statements never deadlock on them. An UPDATE that changes neither `counts_for_quota`,
`commande_id` nor `day` nets to zero and writes nothing.
SQLite: row-level triggers (the database has a single writer).

Installed by migration 0005 and again after every `migrate` (post_migrate): SQLite drops
a table's triggers when a later migration rebuilds the table.
"""

_UPSERT = """
    INSERT INTO commandes_commandefill (commande_id, day, used)
    SELECT commande_id, day, SUM(delta) FROM ({rows}) AS d
    GROUP BY commande_id, day HAVING SUM(delta) <> 0 ORDER BY commande_id, day
    ON CONFLICT (commande_id, day) DO UPDATE SET used = commandes_commandefill.used + EXCLUDED.used;
"""
_OLD = "SELECT commande_id, day, -1 AS delta FROM fill_old WHERE counts_for_quota"
_NEW = "SELECT commande_id, day, 1 AS delta FROM fill_new WHERE counts_for_quota"

_POSTGRES = f"""
CREATE OR REPLACE FUNCTION commandes_fill_on_insert() RETURNS trigger AS $$
BEGIN
    {_UPSERT.format(rows=_NEW)}
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION commandes_fill_on_update() RETURNS trigger AS $$
BEGIN
    {_UPSERT.format(rows=_OLD + " UNION ALL " + _NEW)}
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION commandes_fill_on_delete() RETURNS trigger AS $$
BEGIN
    {_UPSERT.format(rows=_OLD)}
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS commandes_fill_insert ON commandes_attribution;
DROP TRIGGER IF EXISTS commandes_fill_update ON commandes_attribution;
DROP TRIGGER IF EXISTS commandes_fill_delete ON commandes_attribution;
CREATE TRIGGER commandes_fill_insert AFTER INSERT ON commandes_attribution
    REFERENCING NEW TABLE AS fill_new FOR EACH STATEMENT EXECUTE FUNCTION commandes_fill_on_insert();
CREATE TRIGGER commandes_fill_update AFTER UPDATE ON commandes_attribution
    REFERENCING OLD TABLE AS fill_old NEW TABLE AS fill_new FOR EACH STATEMENT
    EXECUTE FUNCTION commandes_fill_on_update();
CREATE TRIGGER commandes_fill_delete AFTER DELETE ON commandes_attribution
    REFERENCING OLD TABLE AS fill_old FOR EACH STATEMENT EXECUTE FUNCTION commandes_fill_on_delete();
"""

_SQLITE_ADD = """
    INSERT INTO commandes_commandefill (commande_id, day, used) SELECT NEW.commande_id, NEW.day, 1
    WHERE NEW.counts_for_quota
    ON CONFLICT (commande_id, day) DO UPDATE SET used = used + 1;
"""
_SQLITE_REMOVE = """
    UPDATE commandes_commandefill SET used = used - 1
    WHERE OLD.counts_for_quota AND commande_id = OLD.commande_id AND day = OLD.day;
"""
_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS commandes_fill_insert AFTER INSERT ON commandes_attribution "
    f"FOR EACH ROW BEGIN {_SQLITE_ADD} END",
    "CREATE TRIGGER IF NOT EXISTS commandes_fill_update AFTER UPDATE OF counts_for_quota, commande_id, day "
    f"ON commandes_attribution FOR EACH ROW BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS commandes_fill_delete AFTER DELETE ON commandes_attribution "
    f"FOR EACH ROW BEGIN {_SQLITE_REMOVE} END",
]

BACKFILL = """
    INSERT INTO commandes_commandefill (commande_id, day, used)
    SELECT commande_id, day, COUNT(*) FROM commandes_attribution WHERE counts_for_quota
    GROUP BY commande_id, day
"""


def fill_triggers_install(connection) -> None:
    """Create (or re-create) the triggers on `connection`; a no-op on other databases."""
    tables = connection.introspection.table_names()
    if "commandes_attribution" not in tables or "commandes_commandefill" not in tables:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES)
        elif connection.vendor == "sqlite":
            for statement in _SQLITE:
                cursor.execute(statement)


def fill_triggers_remove(connection) -> None:
    with connection.cursor() as cursor:
        for name in ("insert", "update", "delete"):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS commandes_fill_{name} ON commandes_attribution")
                cursor.execute(f"DROP FUNCTION IF EXISTS commandes_fill_on_{name}()")
            elif connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS commandes_fill_{name}")
