"""Cross-cutting tables: the per-user event log behind `seq`, `resume` and GET /api/v1/events."""

from django.conf import settings
from django.db import models


class EventCursor(models.Model):
    """The last `seq` handed out per user; its row lock orders one user's events."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"user {self.user_id} at seq {self.last_seq}"


class Event(models.Model):
    """A pushed event, kept 24 h so a client that reconnects can replay what it missed, in order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(db_index=True)
    # W3C traceparent of the traced work that stored it ('' when not sampled): its push joins that trace.
    traceparent = models.CharField(max_length=55, blank=True, default="")

    class Meta:
        verbose_name = "pushed event"
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="event_unique_user_seq")]

    def __str__(self):
        return f"{self.type} #{self.seq} to user {self.user_id}"

    def as_message(self):
        return {"type": self.type, "seq": self.seq, **self.payload}
