"""Periodic housekeeping of sign-in state."""
from celery import shared_task

from accounts import services


@shared_task(name="accounts.tasks.sessions_prune")
def sessions_prune():
    """Hourly (beat): expired refresh tokens and sign-in sessions no token can use any more."""
    return services.sessions_prune()
