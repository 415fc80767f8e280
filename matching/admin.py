"""Operators' view of requests and the proposals (matches) made for them: read-only, since every change goes through
matching's services; a stuck request is cancelled with the action."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from matching.models import Match, RideRequest
from matching.services import request_cancel
from nebengjek.admin import ReadOnlyAdmin
from nebengjek.admin_fields import distance_field, money_field, point_field
from nebengjek.errors import DomainError


def ranking_inputs_display(ranking: dict) -> str:
    """The ranking inputs of a match in one line: "distance 310 m · rating 4.8 (12) · acceptance 0.90 · ..."."""
    if not ranking:
        return "-"
    parts = [f"{key.replace('_', ' ')} {value}" for key, value in ranking.items() if key != "weights"]
    return " · ".join(parts)


def _ride_link(request):
    ride = request.rides.order_by("-created_at").first()  # the latest: earlier ones were backed out of
    if ride is None:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse("admin:rides_ride_change", args=[ride.pk]), ride.status)


class MatchInline(admin.TabularInline):
    model = Match
    extra = 0
    max_num = 0
    can_delete = False
    fields = [
        "driver",
        "batch_no",
        "status",
        "distance_to_pickup",
        "expires_at",
        "responded_at",
        "holds_driver",
        "ranking_inputs",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    show_change_link = True
    distance_to_pickup = distance_field("distance_to_pickup_m", "distance to pickup")

    @admin.display(description="why this driver (ranking inputs)")
    def ranking_inputs(self, match):
        return ranking_inputs_display(match.ranking)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RideRequest)
class RideRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "passenger", "status", "estimate", "surge_multiplier", "batch_no", "radius", "created_at"]
    list_filter = ["status", "product", "payment_method", "is_open"]
    search_fields = ["id", "passenger__msisdn", "passenger__full_name", "surge_cell"]
    # State changes only through services (the action below), never by editing fields.
    fields = [
        "passenger",
        "status",
        "is_open",
        "product",
        "fare_policy",
        "payment_method",
        "pickup",
        "destination",
        "estimate_distance",
        "estimate",
        "estimate_lines",
        "surge_multiplier",
        "surge_cell",
        "surge_supply",
        "surge_demand",
        "batch_no",
        "radius",
        "confirm_deadline",
        "ride",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    date_hierarchy = "created_at"
    inlines = [MatchInline]
    actions = ["cancel_stuck_requests"]

    @admin.display(description="ride")
    def ride(self, obj):
        return _ride_link(obj)

    pickup = point_field("pickup_lat", "pickup_lng", "pickup")
    destination = point_field("destination_lat", "destination_lng", "destination")
    estimate_distance = distance_field("estimate_distance_m", "estimated distance")
    estimate = money_field("estimate_amount", "estimate")
    radius = distance_field("radius_m", "radius")

    @admin.action(description="Cancel stuck requests (tells every driver involved)")
    def cancel_stuck_requests(self, request, queryset):
        cancelled, refused = 0, []
        for ride_request in queryset:
            try:
                request_cancel(
                    request_id=ride_request.id,
                    passenger=ride_request.passenger,
                    reason=f"cancelled by operator {request.user.msisdn}",
                )
                cancelled += 1
            except DomainError as error:
                refused.append(f"{ride_request.id}: {error.message}")
        self.message_user(request, f"Cancelled {cancelled} request(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "driver", "batch_no", "status", "distance_to_pickup", "expires_at"]
    list_filter = ["status", "holds_driver"]
    search_fields = ["id", "request__id", "driver__msisdn", "driver__full_name"]
    fields = [
        "request",
        "driver",
        "status",
        "batch_no",
        "distance_to_pickup",
        "expires_at",
        "holds_driver",
        "ride",
        "ranking_inputs",
        "created_at",
        "responded_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    distance_to_pickup = MatchInline.distance_to_pickup
    ranking_inputs = MatchInline.ranking_inputs

    @admin.display(description="ride")
    def ride(self, obj):
        return _ride_link(obj.request)
