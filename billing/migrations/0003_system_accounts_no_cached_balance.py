"""System accounts (platform revenue, gateway clearing) keep no cached balance any more: every settlement used to
lock the one platform row until its commit, which serialized all settlements. Their balance is the sum of their
entries (billing.selectors.account_balance); the column is zeroed so it cannot be read as a stale figure."""
from django.db import migrations


def zero_system_balances(apps, schema_editor):
    apps.get_model("billing", "LedgerAccount").objects.exclude(kind="wallet").update(balance=0)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger_database_guards")]

    operations = [migrations.RunPython(zero_system_balances, migrations.RunPython.noop)]
