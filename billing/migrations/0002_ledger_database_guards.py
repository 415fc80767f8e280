"""The database itself refuses an unbalanced or incomplete ledger transaction and any edit of posted rows.

PostgreSQL: DEFERRABLE INITIALLY DEFERRED constraint triggers check, at COMMIT, that each transaction has exactly
its declared `entry_count` entries and that they sum to zero; row triggers refuse UPDATE/DELETE (TRUNCATE, used
only by test flushes, is left alone).
SQLite has no deferred triggers, so a row trigger checks each insert: never more entries than declared, and
once the last declared entry arrives the sum must be zero. (A transaction left with fewer entries than declared
is the one gap; `reconcile_ledger` reports it, and the service reads the sum back before commit.) SQLite refuses
UPDATE; DELETE is refused by the models only, because Django's SQLite flush deletes rows.
"""
from django.db import migrations

POSTGRES_UP = """
CREATE FUNCTION billing_ledger_txn_check(txn uuid) RETURNS void AS $$
DECLARE
    declared integer;
    found_count integer;
    total bigint;
BEGIN
    SELECT entry_count INTO declared FROM billing_ledgertransaction WHERE id = txn;
    IF NOT FOUND THEN
        RETURN;  -- the entry's foreign key check reports a missing transaction
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO found_count, total
      FROM billing_ledgerentry WHERE transaction_id = txn;
    IF found_count <> declared OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % of % entries, sum %', txn, found_count, declared, total
            USING ERRCODE = 'check_violation';
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION billing_ledgerentry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM billing_ledger_txn_check(NEW.transaction_id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION billing_ledgertransaction_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM billing_ledger_txn_check(NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER billing_ledgerentry_balanced AFTER INSERT ON billing_ledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_balanced();
CREATE CONSTRAINT TRIGGER billing_ledgertransaction_balanced AFTER INSERT ON billing_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_ledgertransaction_balanced();

CREATE FUNCTION billing_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: post a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_ledgerentry_append_only BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
CREATE TRIGGER billing_ledgertransaction_append_only BEFORE UPDATE OR DELETE ON billing_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS billing_ledgertransaction_append_only ON billing_ledgertransaction;
DROP TRIGGER IF EXISTS billing_ledgerentry_append_only ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_append_only();
DROP TRIGGER IF EXISTS billing_ledgertransaction_balanced ON billing_ledgertransaction;
DROP TRIGGER IF EXISTS billing_ledgerentry_balanced ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledgertransaction_balanced();
DROP FUNCTION IF EXISTS billing_ledgerentry_balanced();
DROP FUNCTION IF EXISTS billing_ledger_txn_check(uuid);
"""

_SQLITE_COUNT = "(SELECT count(*) FROM billing_ledgerentry WHERE transaction_id = NEW.transaction_id)"
_SQLITE_DECLARED = "(SELECT entry_count FROM billing_ledgertransaction WHERE id = NEW.transaction_id)"
_SQLITE_SUM = "(SELECT sum(amount) FROM billing_ledgerentry WHERE transaction_id = NEW.transaction_id)"

SQLITE_UP = [
    f"""
    CREATE TRIGGER billing_ledgerentry_balanced AFTER INSERT ON billing_ledgerentry
    BEGIN
        SELECT RAISE(ABORT, 'ledger transaction is unbalanced or has more entries than declared')
        WHERE {_SQLITE_COUNT} > {_SQLITE_DECLARED}
           OR ({_SQLITE_COUNT} = {_SQLITE_DECLARED} AND {_SQLITE_SUM} <> 0);
    END
    """,
    """
    CREATE TRIGGER billing_ledgerentry_append_only BEFORE UPDATE ON billing_ledgerentry
    BEGIN
        SELECT RAISE(ABORT, 'billing_ledgerentry is append-only');
    END
    """,
    """
    CREATE TRIGGER billing_ledgertransaction_append_only BEFORE UPDATE ON billing_ledgertransaction
    BEGIN
        SELECT RAISE(ABORT, 'billing_ledgertransaction is append-only');
    END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS billing_ledgertransaction_append_only",
    "DROP TRIGGER IF EXISTS billing_ledgerentry_append_only",
    "DROP TRIGGER IF EXISTS billing_ledgerentry_balanced",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)  # None: no %-interpolation of the SQL

    return run


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        ),
    ]
