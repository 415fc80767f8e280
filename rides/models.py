"""Rides (created by the passenger's confirm) and their tracks. Fare fields are frozen when the ride ends."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from matching.models import Match, PaymentMethod, RideRequest
from nebengjek import display


class RideStatus(models.TextChoices):
    DRIVER_EN_ROUTE = "driver_en_route"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


LIVE_RIDE_STATUSES = [RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS]


class RideEndReason(models.TextChoices):
    """Why a completed ride ended (empty on rides completed before reasons were recorded)."""

    DRIVER_ENDED = "driver_ended"  # the driver's POST /end
    DRIVER_GONE = "driver_gone"  # reported by the passenger, and the driver stayed silent (rides/unattended.py)
    ABANDONED = "abandoned"  # the driver stayed silent past RIDE_ABANDON_AFTER_SECONDS (rides/unattended.py)


class Ride(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A request has one ride, or more when drivers backed out (cancelled before the start): one not cancelled.
    request = models.ForeignKey(RideRequest, on_delete=models.PROTECT, related_name="rides")
    match = models.OneToOneField(Match, on_delete=models.PROTECT, related_name="ride")
    driver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rides_as_driver")
    passenger = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rides_as_passenger")
    status = models.CharField(max_length=20, choices=RideStatus.choices, default=RideStatus.DRIVER_EN_ROUTE)
    pickup_lat = models.FloatField()
    pickup_lng = models.FloatField()
    destination_lat = models.FloatField()
    destination_lng = models.FloatField()
    payment_method = models.CharField(max_length=8, choices=PaymentMethod.choices)
    surge_multiplier = models.DecimalField(max_digits=3, decimal_places=1)
    # The meter: sum of haversine segments between consecutive accepted positions, in metres (unrounded).
    distance_m = models.FloatField(default=0)
    track_last_lat = models.FloatField(null=True, blank=True)
    track_last_lng = models.FloatField(null=True, blank=True)
    track_last_at = models.DateTimeField(null=True, blank=True)
    # The hard cap (settings.METER_MAX_DISTANCE_FACTOR / METER_DISTANCE_MARGIN_M), applied at the end: when the
    # metered distance exceeded it, distance_m is the cap and the metered distance is kept here.
    distance_capped = models.BooleanField(default=False)
    distance_before_cap_m = models.FloatField(null=True, blank=True)
    # Money, integer rupiah, frozen at the end (../shared/API.md "Fare").
    price_pct = models.PositiveSmallIntegerField(null=True, blank=True)
    metered_fare = models.BigIntegerField(null=True, blank=True)
    charged_amount = models.BigIntegerField(null=True, blank=True)
    admin_fee = models.BigIntegerField(null=True, blank=True)
    driver_payout = models.BigIntegerField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=RideEndReason.choices, blank=True)
    # No accepted driver position for RIDE_STALE_AFTER_SECONDS: set by the sweeper, cleared when positions resume.
    stale_at = models.DateTimeField(null=True, blank=True)
    driver_gone_reported_at = models.DateTimeField(null=True, blank=True)  # the passenger's first report
    cancelled_by = models.CharField(max_length=16, blank=True)  # passenger | driver | operator
    cancel_reason = models.CharField(max_length=200, blank=True)
    # The fare's lines (rides.fare.FareLines.as_dict()), frozen with the fare at the end.
    fare_lines = models.JSONField(default=dict, blank=True)
    # A late cancellation or a no-show (rides.cancellation): what the passenger owes the driver, set once.
    cancellation_fee = models.BigIntegerField(null=True, blank=True)
    no_show_reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the driver first came within arrival distance of the pickup: waiting time and late-cancellation rules.
    driver_arrived_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["request"], condition=~Q(status=RideStatus.CANCELLED), name="ride_one_not_cancelled_per_request"
            ),
            models.CheckConstraint(
                condition=Q(cancellation_fee__isnull=True) | Q(cancellation_fee__gt=0),
                name="ride_cancellation_fee_positive",
            ),
            models.UniqueConstraint(
                fields=["driver"], condition=Q(status__in=LIVE_RIDE_STATUSES), name="ride_one_live_per_driver"
            ),
            models.UniqueConstraint(
                fields=["passenger"], condition=Q(status__in=LIVE_RIDE_STATUSES), name="ride_one_live_per_passenger"
            ),
            models.CheckConstraint(
                condition=Q(price_pct__isnull=True) | Q(price_pct__gte=1, price_pct__lte=100),
                name="ride_price_pct_range",
            ),
            models.CheckConstraint(condition=Q(distance_m__gte=0), name="ride_distance_not_negative"),
            models.CheckConstraint(
                condition=Q(charged_amount__isnull=True) | Q(charged_amount__lte=F("metered_fare")),
                name="ride_charge_within_metered_fare",
            ),
            models.CheckConstraint(
                condition=Q(admin_fee__isnull=True) | Q(admin_fee__lte=F("charged_amount")),
                name="ride_admin_fee_within_charge",
            ),
            models.CheckConstraint(
                condition=Q(charged_amount__isnull=True)
                | Q(admin_fee__gte=0, driver_payout__gte=0, charged_amount=F("admin_fee") + F("driver_payout")),
                name="ride_fee_plus_payout_is_charge",
            ),
            models.CheckConstraint(
                condition=~Q(status=RideStatus.COMPLETED) | Q(charged_amount__isnull=False),
                name="ride_completed_has_fare",
            ),
        ]
        indexes = [
            models.Index(fields=["driver", "-created_at"], name="ride_driver_recent"),
            models.Index(fields=["passenger", "-created_at"], name="ride_passenger_recent"),
            # The stale-ride sweeper reads only rides in progress, by the time of their last accepted position.
            models.Index(
                fields=["track_last_at"], condition=Q(status=RideStatus.IN_PROGRESS), name="ride_in_progress_last_seen"
            ),
        ]

    def __str__(self):
        return f"ride {self.id} ({self.status})"


class TrackPoint(models.Model):
    """An accepted driver position during the ride: the evidence behind `distance_m`."""

    ride = models.ForeignKey(Ride, on_delete=models.CASCADE, related_name="track_points")
    lat = models.FloatField()
    lng = models.FloatField()
    recorded_at = models.DateTimeField()
    segment_m = models.FloatField(default=0)

    class Meta:
        constraints = [  # the meter skips a point at a time the track has (a redelivery); the database holds it too
            models.UniqueConstraint(fields=["ride", "recorded_at"], name="trackpoint_one_per_ride_time"),
        ]

    def __str__(self):
        return f"{self.recorded_at:%H:%M:%S} · {display.point(self.lat, self.lng)} · {display.distance(self.segment_m)}"


class RatingSide(models.TextChoices):
    PASSENGER = "passenger"
    DRIVER = "driver"


class Rating(models.Model):
    """One side's rating of the other after a completed ride (rides/ratings.py). Never edited or deleted: an
    operator may hide an abusive comment, and the stars still count."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ride = models.ForeignKey(Ride, on_delete=models.PROTECT, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings_given")
    ratee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings_received")
    rater_side = models.CharField(max_length=9, choices=RatingSide.choices)
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # 1, 2, 3 … per rated user, given under that user's row lock: the average's window is a range of this.
    ratee_seq = models.PositiveIntegerField()
    comment_hidden_at = models.DateTimeField(null=True, blank=True)
    comment_hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ride", "rater"], name="rating_once_per_side"),
            models.UniqueConstraint(fields=["ratee", "ratee_seq"], name="rating_ratee_seq_unique"),
            models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="rating_stars_1_to_5"),
            models.CheckConstraint(condition=~Q(rater=F("ratee")), name="rating_not_self"),
        ]

    def __str__(self):
        return f"{self.stars}★ by the {self.rater_side} of ride {self.ride_id}"


class ChatSide(models.TextChoices):
    PASSENGER = "passenger"
    DRIVER = "driver"


class ChatMessage(models.Model):
    """One message between a ride's passenger and driver (rides/chat.py). Only the two of them read it over the API;
    an operator reads it in the admin, and every such read is recorded (ChatReadAudit)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ride = models.ForeignKey(Ride, on_delete=models.PROTECT, related_name="chat_messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sender_side = models.CharField(max_length=9, choices=ChatSide.choices)
    text = models.TextField()
    quick_reply = models.CharField(max_length=32, blank=True)  # the code when sent as a quick reply
    client_id = models.CharField(max_length=64, blank=True)  # the sender's idempotency key: a resend is not doubled
    created_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ride", "sender", "client_id"], condition=~Q(client_id=""), name="chat_message_client_id_once"
            ),
        ]
        indexes = [models.Index(fields=["ride", "created_at", "id"], name="chat_message_ride_order")]

    def __str__(self):
        return f"{self.sender_side} at {self.created_at:%H:%M:%S}"


class ChatReadAudit(models.Model):
    """An operator read a ride's chat (the admin's chat page): who, which ride, when. Append-only."""

    id = models.BigAutoField(primary_key=True)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ride = models.ForeignKey(Ride, on_delete=models.PROTECT, related_name="chat_reads")
    messages = models.PositiveIntegerField()  # how many messages the page showed
    read_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"chat of ride {self.ride_id} read by {self.operator_id}"


class RideShare(models.Model):
    """A passenger's share link (rides/share.py): the token is stored hashed; the link works until revoked or until
    the ride's end plus RIDE_SHARE_AFTER_END_SECONDS."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ride = models.ForeignKey(Ride, on_delete=models.PROTECT, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"share of ride {self.ride_id}"
