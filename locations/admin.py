"""Drivers' beacons: read-only (the beacon is the driver's to set); operators can switch one off through the service."""

from django.contrib import admin, messages

from locations.models import DriverPresence
from locations.services import beacon_set
from nebengjek.admin import ReadOnlyAdmin


@admin.register(DriverPresence)
class DriverPresenceAdmin(ReadOnlyAdmin):
    list_display = ["driver", "beacon_active", "beacon_changed_at"]
    list_filter = ["beacon_active"]
    search_fields = ["driver__msisdn", "driver__full_name", "driver__driver_profile__vehicle_plate"]
    list_select_related = ["driver"]
    fields = ["driver", "beacon_active", "beacon_changed_at"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    actions = ["beacon_off"]

    @admin.action(description="Switch the beacon off (the driver leaves the live index, gets no proposals)")
    def beacon_off(self, request, queryset):
        for presence in queryset.select_related("driver"):
            beacon_set(user=presence.driver, active=False)
        self.message_user(request, f"Switched off {queryset.count()} beacon(s).", messages.SUCCESS)
