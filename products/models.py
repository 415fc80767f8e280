"""What a passenger can order (bike, car: which vehicle types serve each) and each product's fare policies.

Both are data an operator edits in the admin. A fare policy is never edited once a request was quoted with it:
editing one in use saves a new version (products.services.fare_policy_save), so a ride keeps the terms it was
quoted with.
"""

from django.db import models
from django.db.models import Q


class Product(models.Model):
    code = models.SlugField(max_length=20, unique=True)  # what clients send: "bike", "car"
    name = models.CharField(max_length=60)
    # The accounts.VehicleType values whose drivers may be offered this product's requests.
    vehicle_types = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.code


class FarePolicy(models.Model):
    """One version of a product's fare terms (integer rupiah); the current one is the highest version."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="fare_policies")
    version = models.PositiveIntegerField()
    base_fare = models.BigIntegerField(default=0)
    per_km = models.BigIntegerField()
    minimum_fare = models.BigIntegerField()
    waiting_per_minute = models.BigIntegerField(default=0)  # after settings.FREE_WAITING_SECONDS at the pickup
    # [{"start": "HH:MM", "end": "HH:MM", "multiplier": "1.2"}], Asia/Jakarta local time; end may wrap midnight.
    time_multipliers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "fare policies"
        ordering = ["product", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="fare_policy_version_once"),
            models.CheckConstraint(
                condition=Q(base_fare__gte=0)
                & Q(per_km__gte=0)
                & Q(minimum_fare__gte=0)
                & Q(waiting_per_minute__gte=0),
                name="fare_policy_amounts_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.product.code} v{self.version}"
