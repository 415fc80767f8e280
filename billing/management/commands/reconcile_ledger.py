"""Check the ledger end to end; print a summary; exit non-zero on any mismatch (for cron and CI)."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.selectors import ledger_findings


class Command(BaseCommand):
    help = (
        "Every transaction sums to zero with all its entries; every cached balance equals its entries; every "
        "completed ride has exactly one settlement; no top-up is pending past the maximum age. Exits 1 on any "
        "mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=None,
            help="Ignore rides that ended this recently (their settlement may still be queued), "
            "and give the top-up sweeper this long past the maximum age.",
        )

    def handle(self, *args, grace_seconds=None, **options):
        findings = ledger_findings(settle_grace_seconds=grace_seconds)
        self.stdout.write(
            f"checked {findings.transactions_checked} transactions, {findings.accounts_checked} accounts, "
            f"{findings.completed_rides_checked} completed rides; sum of all entries: {findings.ledger_total}"
        )
        sections: list[tuple[str, list[Any]]] = [
            ("unbalanced or incomplete transactions", findings.unbalanced_transactions),
            ("cached balances that differ from their entries", findings.balance_mismatches),
            ("completed rides without a settlement", findings.unsettled_rides),
            ("settlements of rides that are not completed", findings.settlements_without_completed_ride),
            ("settlements whose fee differs from the ride's", findings.fee_mismatches),
            ("top-ups pending past the maximum age", findings.stale_topups),
        ]
        for title, rows in sections:
            self.stdout.write(f"{title}: {len(rows)}")
            for row in rows[:20]:
                self.stdout.write(f"  {json.dumps(row, default=str)}")
        if not findings.is_clean:
            raise CommandError(f"ledger NOT clean: {findings.problems} problem(s), {findings.imbalance} IDR adrift")
        self.stdout.write(self.style.SUCCESS("ledger clean"))
