"""Operators' view of rides: find one by id, phone number or plate; read its track on a map, its money and what
was pushed about it; find silent drivers' rides; cancel a stuck one. Rides change only through services."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from nebengjek import display
from nebengjek.admin import ReadOnlyAdmin, ReadOnlyInline
from nebengjek.admin_fields import distance_field, money_field, point_field
from rides import chat, selectors, services
from rides.errors import RidesException
from rides.models import ChatMessage, ChatReadAudit, Rating, Ride, RideShare, RideStatus, TrackPoint
from rides.ratings import rating_comments_hide

MAP_DECIMALS = 6  # about 10 cm: the map needs no more, and the page stays small


class RideDisplay:
    """A ride's coordinates, distance and money as operators read them (rides admin and billing's ride money)."""

    pickup = point_field("pickup_lat", "pickup_lng", "pickup")
    destination = point_field("destination_lat", "destination_lng", "destination")
    track_last = point_field("track_last_lat", "track_last_lng", "last position")
    distance = distance_field("distance_m", "distance")
    metered_fare_idr = money_field("metered_fare", "metered fare")
    charged = money_field("charged_amount", "charged")
    admin_fee_idr = money_field("admin_fee", "admin fee")
    driver_payout_idr = money_field("driver_payout", "driver payout")


class TrackPointInline(ReadOnlyInline):
    """The track is evidence in a dispute: read-only, in time order."""

    model = TrackPoint
    ordering = ["recorded_at", "id"]
    fields = ["recorded_at", "position", "segment"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    show_change_link = False
    max_num = 0

    position = point_field("lat", "lng", "position")
    segment = distance_field("segment_m", "segment")


@admin.register(Ride)
class RideAdmin(RideDisplay, ReadOnlyAdmin):
    list_display = [
        "id",
        "status",
        "driver",
        "passenger",
        "distance_km",
        "charged",
        "payment_method",
        "end_reason",
        "created_at",
    ]
    # Silent drivers (rides/unattended.py): flagged stale by the sweeper, reported gone by the passenger; capped
    # distances: the meter clipped the fare's distance.
    list_filter = [
        "status",
        ("stale_at", admin.EmptyFieldListFilter),
        ("driver_gone_reported_at", admin.EmptyFieldListFilter),
        "end_reason",
        "distance_capped",
        "payment_method",
        "created_at",
    ]
    date_hierarchy = "created_at"
    search_fields = ["=id", "driver__msisdn", "passenger__msisdn", "driver__driver_profile__vehicle_plate"]
    search_help_text = "A ride id, a phone number, or a plate as written (B 1234 XYZ)."
    list_select_related = ["driver", "passenger"]
    ordering = ["-created_at"]
    inlines = [TrackPointInline]
    actions = ["cancel_stuck_rides"]
    # The money (frozen at the end) and the map are drawn above these by templates/admin/rides/ride/change_form.html.
    fieldsets = [
        (None, {"fields": ["id", "status", "request", "match", "driver", "passenger", "payment_method"]}),
        ("Route", {"fields": ["pickup", "destination"]}),
        ("Meter", {"fields": ["distance", "distance_capped", "distance_before_cap_m", "track_last", "track_last_at"]}),
        (
            "Times",
            {
                "fields": [
                    "created_at",
                    "driver_arrived_at",
                    "started_at",
                    "ended_at",
                    "end_reason",
                    "stale_at",
                    "driver_gone_reported_at",
                    "cancelled_at",
                    "cancelled_by",
                    "cancel_reason",
                ]
            },
        ),
        ("Chat", {"fields": ["chat_link"]}),
    ]

    @admin.display(description="chat")
    def chat_link(self, ride):
        """The chat is read on its own page, and each read is recorded: it is not shown here."""
        return format_html(
            '<a href="{}">Read the chat (your read is recorded)</a>', reverse("admin:rides_ride_chat", args=[ride.pk])
        )

    def get_urls(self):
        return [
            path("<uuid:ride_id>/chat/", self.admin_site.admin_view(self.chat_view), name="rides_ride_chat"),
            *super().get_urls(),
        ]

    def chat_view(self, request, ride_id):
        """An operator reads a ride's chat (safety disputes); the read is recorded as a ChatReadAudit row."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ride = get_object_or_404(Ride.objects.select_related("driver", "passenger"), pk=ride_id)
        messages_ = chat.chat_messages_for_operator(ride_id=ride.pk, operator=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Chat of ride {ride.pk}",
            "ride": ride,
            "chat_messages": messages_,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rides/ride/chat.html", context)

    def get_search_results(self, request, queryset, search_term):
        """A plate typed as written finds that driver's rides only. Django splits a search into words that must
        each match some field, so "B 1234 NJK" also found rides whose phone numbers contain 1234."""
        plate = search_term.strip()
        by_plate = queryset.filter(driver__driver_profile__vehicle_plate__iexact=plate)
        if plate and by_plate.exists():
            return by_plate, False
        return super().get_search_results(request, queryset, search_term)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Ride._meta.fields] + [
            "pickup",
            "destination",
            "distance",
            "track_last",
            "chat_link",
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            ride_map = self._map_data(obj)
            caption = f"track: {len(ride_map['track'])} points, {display.distance(obj.distance_m)} metered"
            context.update(
                ride_map=ride_map,
                ride_track_caption=caption,
                ride_money=self._money_rows(obj),
                ride_events=self._event_rows(obj),
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @staticmethod
    def _map_data(ride: Ride) -> dict:
        """What static/rides/ride_map.js draws: the track as [lat, lng] pairs, pickup and destination markers."""
        track = selectors.ride_track_points(ride_id=ride.pk).values_list("lat", "lng")
        return {
            "track": [[round(lat, MAP_DECIMALS), round(lng, MAP_DECIMALS)] for lat, lng in track],
            "pickup": [ride.pickup_lat, ride.pickup_lng],
            "destination": [ride.destination_lat, ride.destination_lng],
            "tileUrl": settings.OPS_TILE_URL,
            "tileAttribution": settings.OPS_TILE_ATTRIBUTION,
        }

    def _money_rows(self, ride: Ride) -> list[tuple[str, str]]:
        charged = self.charged(ride)
        if ride.price_pct is not None:
            charged = f"{charged} ({ride.price_pct} % of the fare)"
        return [
            ("Metered fare", self.metered_fare_idr(ride)),
            ("Surge", f"× {ride.surge_multiplier}"),
            ("Charged", charged),
            ("Admin fee", self.admin_fee_idr(ride)),
            ("Driver payout", self.driver_payout_idr(ride)),
            ("Paid by", ride.get_payment_method_display()),
            ("Ledger", self.ledger(ride)),
        ]

    @staticmethod
    def _event_rows(ride: Ride) -> list[dict]:
        rows = []
        for event in selectors.ride_events(ride=ride):
            kind = next((key for key in ("ride", "match", "request") if key in event.payload), None)
            about = event.payload[kind] if kind else {}
            summary = " ".join(str(part) for part in (kind, about.get("status"), about.get("reason")) if part)
            rows.append(
                {
                    "event": event,
                    "to": "driver" if event.user_id == ride.driver_id else "passenger",
                    "summary": summary,
                    "url": reverse("admin:nebengjek_event_change", args=[event.pk]),
                }
            )
        return rows

    @admin.display(description="ledger")
    def ledger(self, ride):
        """The ride's money in billing (refund from there) and each of its ledger transactions."""
        links = [(reverse("admin:billing_ridemoney_change", args=[ride.pk]), "money / refund")]
        links += [
            (reverse("admin:billing_ledgertransaction_change", args=[txn.pk]), txn.purpose)
            for txn in ride.ledger_transactions.order_by("created_at")
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="distance (km)", ordering="distance_m")
    def distance_km(self, ride):
        return f"{ride.distance_m / 1000:.2f}"

    @admin.action(description="Cancel stuck rides (driver en route or in progress; no fare is charged)")
    def cancel_stuck_rides(self, request, queryset):
        cancelled = 0
        for ride in queryset.filter(status__in=[RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS]):
            try:
                services.ride_cancel(
                    ride=ride, by=services.Actor.OPERATOR, reason=f"cancelled by operator {request.user.msisdn}"
                )
                cancelled += 1
            except RidesException as error:
                self.message_user(request, f"{ride.id}: {error.message}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} ride(s).", messages.SUCCESS)


@admin.register(TrackPoint)
class TrackPointAdmin(ReadOnlyAdmin):
    """Track points across rides (search by ride id); read-only evidence."""

    list_display = ["ride", "recorded_at", "position", "segment"]
    search_fields = ["=ride__id"]
    list_select_related = ["ride"]
    ordering = ["-id"]
    show_full_result_count = False  # the table is large: no COUNT(*) per page

    position = TrackPointInline.position
    segment = TrackPointInline.segment


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    """Ratings both sides gave (read-only); an abusive comment can be hidden: never shown again, its stars count."""

    list_display = [
        "created_at",
        "stars",
        "rater_side",
        "rater",
        "ratee",
        "comment_excerpt",
        "tags",
        "comment_hidden",
        "ride",
    ]
    list_filter = ["stars", "rater_side", ("comment_hidden_at", admin.EmptyFieldListFilter), "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["=ride__id", "rater__msisdn", "ratee__msisdn", "comment"]
    list_select_related = ["rater", "ratee"]
    ordering = ["-created_at"]
    actions = ["hide_comments"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Rating._meta.fields]  # ratings change only through services

    @admin.display(description="comment")
    def comment_excerpt(self, rating):
        return rating.comment if len(rating.comment) <= 80 else f"{rating.comment[:79]}…"

    @admin.display(description="hidden", boolean=True, ordering="comment_hidden_at")
    def comment_hidden(self, rating):
        return rating.comment_hidden_at is not None

    @admin.action(description="Hide the comments (abusive; the stars still count)")
    def hide_comments(self, request, queryset):
        hidden = rating_comments_hide(rating_ids=list(queryset.values_list("id", flat=True)), operator=request.user)
        self.message_user(request, f"Hid {hidden} comment(s).", messages.SUCCESS)


@admin.register(ChatReadAudit)
class ChatReadAuditAdmin(ReadOnlyAdmin):
    """Who read which ride's chat, and when (recorded by the ride's chat page)."""

    list_display = ["read_at", "operator", "ride", "messages"]
    search_fields = ["=ride__id", "operator__msisdn"]
    list_select_related = ["operator"]
    ordering = ["-read_at"]


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    """Chat messages without their text: who sent what kind of message when, and the receipts. The text is read on
    the ride's chat page only, where each read is recorded."""

    fields = ["id", "ride", "sender_side", "quick_reply", "created_at", "delivered_at", "read_at", "read_the_chat"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    list_display = ["created_at", "ride", "sender_side", "quick_reply", "delivered_at", "read_at"]
    search_fields = ["=ride__id"]
    ordering = ["-created_at"]
    show_full_result_count = False

    @admin.display(description="text")
    def read_the_chat(self, message):
        return format_html(
            '<a href="{}">Read the chat (your read is recorded)</a>',
            reverse("admin:rides_ride_chat", args=[message.ride_id]),
        )


@admin.register(RideShare)
class RideShareAdmin(ReadOnlyAdmin):
    """Passengers' share links (the token is never stored, only its hash, which is not shown)."""

    fields = ["id", "ride", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    list_display = ["created_at", "ride", "created_by", "revoked_at"]
    search_fields = ["=ride__id"]
    list_select_related = ["created_by"]
    ordering = ["-created_at"]
