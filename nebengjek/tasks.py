"""Cross-cutting periodic tasks."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from nebengjek.models import Event


@shared_task(name="nebengjek.tasks.events_prune")
def events_prune():
    """Delete pushed events older than EVENT_RETENTION_HOURS (clients replay at most that far back)."""
    cutoff = timezone.now() - timedelta(hours=settings.EVENT_RETENTION_HOURS)
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).delete()
    return deleted
