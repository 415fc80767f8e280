"""Periodic housekeeping of sign-in state."""

from celery import shared_task

from accounts import services


@shared_task(name="accounts.tasks.sessions_prune")
def sessions_prune():
    """Hourly (beat): expired refresh tokens and sign-in sessions no token can use any more."""
    return services.sessions_prune()


@shared_task(name="accounts.tasks.revoked_sessions_repair")
def revoked_sessions_repair():
    """Every few seconds (beat): after a Redis flush, rebuild the revoked sessions the REST authentication reads."""
    return services.revoked_sessions_repair()
