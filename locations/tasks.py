"""Periodic upkeep of the live index (Celery beat: settings.CELERY_BEAT_SCHEDULE["locations-live-sweep"])."""

from celery import shared_task

from locations import services


@shared_task(name="locations.tasks.live_sweep")
def live_sweep():
    return services.live_sweep()
