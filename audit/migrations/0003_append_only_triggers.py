"""PostgreSQL: the database itself refuses UPDATE, DELETE and TRUNCATE on audit events.

Plain triggers (not django-pgtrigger, whose session variable is a bypass). Only the table owner
can disable them; the application should not run as the owner in production.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION cwa_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cwa_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION cwa_audit_append_only();

CREATE TRIGGER cwa_audit_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION cwa_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS cwa_audit_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS cwa_audit_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS cwa_audit_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
