from django.contrib import admin

from locations.models import DriverPresence


@admin.register(DriverPresence)
class DriverPresenceAdmin(admin.ModelAdmin):
    list_display = ["driver", "beacon_active", "beacon_changed_at"]
    list_filter = ["beacon_active"]
    search_fields = ["driver__msisdn", "driver__full_name"]
    raw_id_fields = ["driver"]
    readonly_fields = ["beacon_changed_at"]
