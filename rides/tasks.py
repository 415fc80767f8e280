from celery import shared_task

from rides import meter, unattended


@shared_task(name="rides.tasks.track_ingest", ignore_result=True)
def track_ingest():
    """Beat, every RIDE_TRACK_INGEST_INTERVAL_SECONDS: apply queued driver positions to the rides' tracks."""
    return meter.track_ingest()


@shared_task(name="rides.tasks.unattended_sweep", ignore_result=True)
def unattended_sweep():
    """Beat, every RIDE_UNATTENDED_SWEEP_INTERVAL_SECONDS: flag rides whose driver went silent, end abandoned ones."""
    return unattended.rides_unattended_sweep()
