"""Matching's background work: dispatch (also each batch's expiry, by countdown), confirm timeouts, the sweeper.

Every task re-reads the state and the clock and is a no-op when there is nothing due (tests run tasks eagerly,
so a countdown does not delay them, and a task may be delivered twice).
"""

from celery import shared_task

from matching import services


@shared_task(name="matching.tasks.request_dispatch")
def request_dispatch(request_id):
    services.request_dispatch(request_id=request_id)


@shared_task(name="matching.tasks.request_confirm_expire")
def request_confirm_expire(request_id):
    services.request_confirm_expire(request_id=request_id)


@shared_task(name="matching.tasks.sweep")
def sweep():
    return services.requests_sweep()


@shared_task(name="matching.tasks.requests_window")
def requests_window(cell):
    """Batched dispatch: assign the requests gathered in this H3 cell's window (scheduled by the request that opened
    it, with the window as its countdown)."""
    return services.requests_window_assign(cell=cell)
