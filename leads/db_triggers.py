"""Database-level guard of the write-once CRM key of landing forms (§11).

Even a raw `UPDATE leads_leadform SET crm_api_key = ''` is refused: once a form has a
key, the column may only change to another non-empty value while a
`leads_leadformkeyunlock` row exists for the form, which only the audited rotation
service writes (and deletes) inside its own transaction.

Installed by migration 0003 and again after every `migrate` (post_migrate): SQLite drops
a table's triggers when a later migration rebuilds the table, so it must be re-created.
"""

TRIGGER = "leads_leadform_crm_key_write_once"

_POSTGRES = """
CREATE OR REPLACE FUNCTION leads_leadform_crm_key_write_once() RETURNS trigger AS $$
BEGIN
    IF OLD.crm_api_key <> '' AND NEW.crm_api_key IS DISTINCT FROM OLD.crm_api_key THEN
        IF NEW.crm_api_key IS NULL OR NEW.crm_api_key = '' OR NOT EXISTS (
            SELECT 1 FROM leads_leadformkeyunlock u WHERE u.form_id = NEW.id
        ) THEN
            RAISE EXCEPTION 'crm_api_key of form % is write-once', OLD.code USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS leads_leadform_crm_key_write_once ON leads_leadform;
CREATE TRIGGER leads_leadform_crm_key_write_once BEFORE UPDATE OF crm_api_key ON leads_leadform
    FOR EACH ROW EXECUTE FUNCTION leads_leadform_crm_key_write_once();
"""

_SQLITE = """
CREATE TRIGGER IF NOT EXISTS leads_leadform_crm_key_write_once BEFORE UPDATE OF crm_api_key ON leads_leadform
FOR EACH ROW WHEN OLD.crm_api_key <> '' AND NEW.crm_api_key IS NOT OLD.crm_api_key AND (
    NEW.crm_api_key IS NULL OR NEW.crm_api_key = ''
    OR NOT EXISTS (SELECT 1 FROM leads_leadformkeyunlock WHERE form_id = NEW.id)
)
BEGIN
    SELECT RAISE(ABORT, 'crm_api_key is write-once');
END;
"""


def crm_key_trigger_install(connection) -> None:
    """Create (or re-create) the trigger on `connection`; a no-op on other databases."""
    tables = connection.introspection.table_names()
    if "leads_leadform" not in tables or "leads_leadformkeyunlock" not in tables:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES)
        elif connection.vendor == "sqlite":
            cursor.execute(_SQLITE)


def crm_key_trigger_remove(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON leads_leadform")
            cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
