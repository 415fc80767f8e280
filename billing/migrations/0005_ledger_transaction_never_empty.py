"""The database refuses a ledger transaction that moves nothing: it must declare at least two entries (with the
deferred check of migration 0002 they must then arrive, non-zero and summing to zero). A trigger, not a CHECK
constraint, so transactions posted before this rule (append-only, never edited) stay as they are."""
import importlib

from django.db import migrations

# The per-vendor SQL runner of the first ledger guards (a migration module's name is not importable as such).
run_by_vendor = importlib.import_module("billing.migrations.0002_ledger_database_guards")._run

POSTGRES_UP = """
CREATE FUNCTION billing_ledgertransaction_not_empty() RETURNS trigger AS $$
BEGIN
    IF NEW.entry_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % declares % entries: a transaction moves money between at least two',
            NEW.idempotency_key, NEW.entry_count USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_ledgertransaction_not_empty BEFORE INSERT ON billing_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION billing_ledgertransaction_not_empty();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS billing_ledgertransaction_not_empty ON billing_ledgertransaction;
DROP FUNCTION IF EXISTS billing_ledgertransaction_not_empty();
"""

SQLITE_UP = """
CREATE TRIGGER billing_ledgertransaction_not_empty BEFORE INSERT ON billing_ledgertransaction
WHEN NEW.entry_count < 2
BEGIN
    SELECT RAISE(ABORT, 'a ledger transaction moves money between at least two entries');
END
"""

SQLITE_DOWN = "DROP TRIGGER IF EXISTS billing_ledgertransaction_not_empty"


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_topup_pending_index")]

    operations = [
        migrations.RunPython(
            run_by_vendor({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            run_by_vendor({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        ),
    ]
