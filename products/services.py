"""Writes to the catalogue: products and fare policy versions (the admin calls these)."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from products.models import FarePolicy, Product
from products.selectors import fare_policy_in_use, products_cache_clear
from products.terms import time_multipliers_parse

VEHICLE_TYPES = ("motorcycle", "car")  # accounts.models.VehicleType's values


def product_validate(*, vehicle_types: Any) -> None:
    if not isinstance(vehicle_types, list) or not vehicle_types:
        raise ValidationError({"vehicle_types": 'List at least one vehicle type, e.g. ["motorcycle"].'})
    unknown = [v for v in vehicle_types if v not in VEHICLE_TYPES]
    if unknown:
        raise ValidationError({"vehicle_types": f"Unknown vehicle types {unknown}; known: {list(VEHICLE_TYPES)}."})


def fare_policy_validate(*, minimum_fare: int, time_multipliers: Any) -> None:
    """The integrity rule the settings check at start (a ride charged at 1 % still owes an admin fee), and well-formed
    time windows."""
    if minimum_fare // 100 * settings.RIDE_ADMIN_FEE_PCT // 100 < 1:
        raise ValidationError(
            {
                "minimum_fare": "Too low: a ride charged at 1 % would owe no admin fee "
                "(needs minimum_fare // 100 x RIDE_ADMIN_FEE_PCT // 100 >= 1)."
            }
        )
    try:
        time_multipliers_parse(time_multipliers)
    except ValueError as exc:
        raise ValidationError({"time_multipliers": str(exc)}) from None


def product_save(*, product: Product) -> Product:
    product_validate(vehicle_types=product.vehicle_types)
    product.save()
    transaction.on_commit(products_cache_clear)
    return product


def fare_policy_save(*, policy: FarePolicy) -> FarePolicy:
    """Save a policy: a new one gets the product's next version; an edited one that a request was quoted with is
    left as it was and the edit becomes the next version."""
    fare_policy_validate(minimum_fare=policy.minimum_fare, time_multipliers=policy.time_multipliers)
    with transaction.atomic():
        Product.objects.select_for_update().get(pk=policy.product_id)  # one version number at a time
        if policy.pk is None or fare_policy_in_use(policy_id=policy.pk):
            latest = FarePolicy.objects.filter(product_id=policy.product_id).aggregate(v=Max("version"))["v"] or 0
            policy.pk, policy.id, policy.version = None, None, latest + 1
            policy._state.adding = True
        policy.save()
        transaction.on_commit(products_cache_clear)
    return policy
