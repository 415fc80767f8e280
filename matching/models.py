"""Ride requests and the proposals (matches) offered to drivers. Rules live in services; tables hold the invariants."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class PaymentMethod(models.TextChoices):
    CASH = "cash"
    WALLET = "wallet"


class RequestStatus(models.TextChoices):
    SEARCHING = "searching"
    DRIVER_FOUND = "driver_found"
    CONFIRMED = "confirmed"
    NO_DRIVER = "no_driver"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RideRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    passenger = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ride_requests")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.SEARCHING)
    pickup_lat = models.FloatField()
    pickup_lng = models.FloatField()
    destination_lat = models.FloatField()
    destination_lng = models.FloatField()
    payment_method = models.CharField(max_length=8, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    # What the passenger ordered (products.Product.code) and the fare policy version it was quoted with (null: the
    # built-in terms of settings, for requests made before fare policies existed).
    product = models.CharField(max_length=20, default="bike")
    fare_policy = models.ForeignKey(
        "products.FarePolicy", null=True, blank=True, on_delete=models.PROTECT, related_name="quoted_requests"
    )
    estimate_lines = models.JSONField(default=dict, blank=True)  # rides.fare.FareLines.as_dict() of the estimate
    # The estimate and the surge are fixed when the request is made; the surge inputs explain the price later.
    estimate_distance_m = models.PositiveIntegerField()
    estimate_amount = models.BigIntegerField()
    surge_multiplier = models.DecimalField(max_digits=3, decimal_places=1, default=1)
    surge_cell = models.CharField(max_length=20, blank=True)
    surge_supply = models.PositiveIntegerField(default=0)
    surge_demand = models.PositiveIntegerField(default=0)
    # Dispatch progress: which batch is out, at which radius.
    batch_no = models.PositiveSmallIntegerField(default=0)
    radius_m = models.PositiveIntegerField(default=0)
    # True from creation until the request ends without a ride, or its ride ends: one per passenger.
    is_open = models.BooleanField(default=True)
    confirm_deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["passenger"], condition=Q(is_open=True), name="request_one_open_per_passenger"
            ),
            models.CheckConstraint(
                condition=Q(surge_multiplier__gte=1) & Q(surge_multiplier__lte=2), name="request_surge_in_range"
            ),
            models.CheckConstraint(condition=Q(estimate_amount__gte=0), name="request_estimate_non_negative"),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="request_status_updated"),
            # Surge demand: recent requests in a ring of H3 cells.
            models.Index(fields=["surge_cell", "created_at"], name="request_surge_cell_recent"),
            models.Index(fields=["product", "surge_cell", "created_at"], name="request_product_surge_recent"),
        ]

    def __str__(self):
        return f"request {self.id} ({self.status})"


class MatchStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    BACKED_OUT = "backed_out"  # the driver cancelled the confirmed ride before it started


class Match(models.Model):
    """A request proposed to one driver."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(RideRequest, on_delete=models.CASCADE, related_name="matches")
    driver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="matches")
    status = models.CharField(max_length=16, choices=MatchStatus.choices, default=MatchStatus.PENDING)
    batch_no = models.PositiveSmallIntegerField()
    distance_to_pickup_m = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    # True while the match occupies the driver: pending, accepted, or confirmed until its ride ends.
    holds_driver = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    # Why this driver: the ranking inputs and score when the proposal was made (matching/ranking.py).
    ranking = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "matches"
        constraints = [
            models.UniqueConstraint(
                fields=["driver"], condition=Q(holds_driver=True), name="match_one_live_per_driver"
            ),
            # A driver is offered a request once; a proposal taken away unanswered (another driver won, who then
            # backed out) does not count.
            models.UniqueConstraint(
                fields=["request", "driver"], condition=~Q(status="cancelled"), name="match_request_driver_once"
            ),
            # The first driver to accept wins: a request never has two drivers taking it.
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=[MatchStatus.ACCEPTED, MatchStatus.CONFIRMED]),
                name="match_one_accepted_per_request",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="match_status_expiry"),
            # the ranking's counters are rebuilt from a driver's latest offers
            models.Index(fields=["driver", "-created_at"], name="match_driver_recent"),
        ]

    def __str__(self):
        return f"match {self.id} ({self.status})"
