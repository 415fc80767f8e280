"""Beat tasks of the operations page (scheduled in settings: `ops-broadcast`, `ops-ledger-check`)."""

from celery import shared_task

from gateway.ops import services


@shared_task(name="gateway.ops.tasks.ops_broadcast")
def ops_broadcast():
    return services.ops_broadcast_tick()


@shared_task(name="gateway.ops.tasks.ledger_check")
def ledger_check():
    return services.ledger_check().problems
