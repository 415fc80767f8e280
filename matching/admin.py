from django.contrib import admin

from matching.models import Match, RideRequest


class MatchInline(admin.TabularInline):
    model = Match
    extra = 0
    can_delete = False
    fields = ["driver", "batch_no", "status", "distance_to_pickup_m", "expires_at", "responded_at", "holds_driver"]
    readonly_fields = fields
    raw_id_fields = ["driver"]


@admin.register(RideRequest)
class RideRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "passenger", "status", "estimate_amount", "surge_multiplier", "batch_no", "radius_m",
                    "created_at"]
    list_filter = ["status", "payment_method", "is_open"]
    search_fields = ["id", "passenger__msisdn", "passenger__full_name", "surge_cell"]
    raw_id_fields = ["passenger"]
    readonly_fields = ["estimate_distance_m", "estimate_amount", "surge_multiplier", "surge_cell", "surge_supply",
                       "surge_demand", "batch_no", "radius_m", "confirm_deadline", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [MatchInline]


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    list_display = ["id", "request", "driver", "batch_no", "status", "distance_to_pickup_m", "expires_at"]
    list_filter = ["status", "holds_driver"]
    search_fields = ["id", "request__id", "driver__msisdn", "driver__full_name"]
    raw_id_fields = ["request", "driver"]
    readonly_fields = ["created_at", "responded_at"]
