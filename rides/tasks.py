from celery import shared_task

from rides import meter


@shared_task(name="rides.tasks.track_ingest", ignore_result=True)
def track_ingest():
    """Beat, every RIDE_TRACK_INGEST_INTERVAL_SECONDS: apply queued driver positions to the rides' tracks."""
    return meter.track_ingest()
