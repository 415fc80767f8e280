"""The one durable piece of live state: a driver's beacon (Redis mirrors it and is rebuilt from it)."""

from django.conf import settings
from django.db import models


class DriverPresence(models.Model):
    """Whether the driver wants trips. Positions and freshness live in Redis only (no write per update)."""

    driver = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="presence"
    )
    beacon_active = models.BooleanField(default=False, db_index=True)
    beacon_changed_at = models.DateTimeField()

    class Meta:
        verbose_name = "driver beacon"

    def __str__(self):
        return f"beacon {'on' if self.beacon_active else 'off'} (driver {self.driver_id})"
