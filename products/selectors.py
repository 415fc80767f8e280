"""The product catalogue as dispatch and pricing read it: from an in-process cache (PRODUCTS_CACHE_SECONDS), so
candidate selection needs no database query. The built-in products (settings.PRODUCTS_BUILTIN) are created on the
first read of an empty table."""

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from products.errors import ProductsError, ProductsException
from products.models import FarePolicy, Product
from products.terms import FareTerms, time_multipliers_parse


@dataclass(frozen=True)
class ProductEntry:
    code: str
    name: str
    vehicle_types: frozenset[str]
    is_active: bool
    policy_id: int
    terms: FareTerms


_cache: dict[str, Any] = {"at": None, "entries": {}}


def products_cache_clear() -> None:
    _cache["at"] = None


def product_catalog() -> dict[str, ProductEntry]:
    """Every product by code, with its current fare policy (cached)."""
    at = _cache["at"]
    if at is None or time.monotonic() - at > settings.PRODUCTS_CACHE_SECONDS:
        _cache["entries"] = _catalog_load()
        _cache["at"] = time.monotonic()
    return _cache["entries"]


def product_get(*, code: str | None) -> ProductEntry:
    """The active product `code` (default settings.PRODUCT_DEFAULT); 400 unknown_product otherwise."""
    code = code or settings.PRODUCT_DEFAULT
    entry = product_catalog().get(code)
    if entry is None or not entry.is_active:
        raise ProductsException(
            ProductsError.UNKNOWN_PRODUCT,
            details={"product": code, "products": sorted(c for c, e in product_catalog().items() if e.is_active)},
        )
    return entry


def product_vehicle_types(*, code: str | None) -> frozenset[str]:
    """The vehicle types serving `code` (an existing request's product: also when it was deactivated since; an
    unknown code: none)."""
    entry = product_catalog().get(code or settings.PRODUCT_DEFAULT)
    return entry.vehicle_types if entry is not None else frozenset()


def products_for_vehicle(*, vehicle_type: str) -> list[str]:
    """The active products a vehicle type serves."""
    return sorted(
        code for code, entry in product_catalog().items() if entry.is_active and vehicle_type in entry.vehicle_types
    )


def fare_terms_get(*, policy_id: int | None, product: str | None = None) -> FareTerms:
    """The terms of one stored policy version (a ride's, fixed when it was quoted); None: built-in settings terms."""
    if policy_id is None:
        return builtin_terms(product=product or settings.PRODUCT_DEFAULT)
    for entry in product_catalog().values():
        if entry.policy_id == policy_id:
            return entry.terms
    return terms_of(FarePolicy.objects.select_related("product").get(pk=policy_id))


def terms_of(policy: FarePolicy) -> FareTerms:
    return FareTerms(
        product=policy.product.code,
        version=policy.version,
        base_fare=policy.base_fare,
        per_km=policy.per_km,
        minimum_fare=policy.minimum_fare,
        waiting_per_minute=policy.waiting_per_minute,
        time_multipliers=time_multipliers_parse(policy.time_multipliers),
    )


def builtin_terms(*, product: str) -> FareTerms:
    """Version 0: today's settings (RIDE_FARE_PER_KM_IDR, FARE_MINIMUM_IDR, base 0), for rides quoted without a
    stored policy."""
    builtin: dict[str, Any] = settings.PRODUCTS_BUILTIN
    spec: dict[str, int] = builtin.get(product, {}).get("policy", {})
    return FareTerms(
        product=product,
        version=0,
        base_fare=spec.get("base_fare", 0),
        per_km=spec.get("per_km", settings.RIDE_FARE_PER_KM_IDR),
        minimum_fare=spec.get("minimum_fare", settings.FARE_MINIMUM_IDR),
        waiting_per_minute=spec.get("waiting_per_minute", 0),
    )


def fare_policy_in_use(*, policy_id: int) -> bool:
    """Whether any request was quoted with this version (then it is never edited): matching's requests point at it."""
    return FarePolicy.objects.filter(pk=policy_id, quoted_requests__isnull=False).exists()


def _catalog_load() -> dict[str, ProductEntry]:
    if not Product.objects.exists():
        _builtin_seed()
    current: dict[int, FarePolicy] = {}  # product id -> its highest version
    for policy in FarePolicy.objects.select_related("product").order_by("product_id", "-version"):
        current.setdefault(policy.product_id, policy)
    entries = {}
    for product in Product.objects.all():
        found = current.get(product.pk)
        if found is None:
            continue  # a product without a policy cannot be priced: not offered
        entries[product.code] = ProductEntry(
            code=product.code,
            name=product.name,
            vehicle_types=frozenset(product.vehicle_types or ()),
            is_active=product.is_active,
            policy_id=found.pk,
            terms=terms_of(found),
        )
    return entries


def _builtin_seed() -> None:
    """Create settings.PRODUCTS_BUILTIN with version 1 of each policy (idempotent; a racing seeder wins)."""
    builtin: dict[str, dict[str, Any]] = settings.PRODUCTS_BUILTIN
    for order, (code, spec) in enumerate(builtin.items()):
        try:
            with transaction.atomic():
                product, created = Product.objects.get_or_create(
                    code=code,
                    defaults={"name": spec["name"], "vehicle_types": list(spec["vehicle_types"]), "sort_order": order},
                )
                if created:
                    terms = builtin_terms(product=code)
                    FarePolicy.objects.create(
                        product=product,
                        version=1,
                        base_fare=terms.base_fare,
                        per_km=terms.per_km,
                        minimum_fare=terms.minimum_fare,
                        waiting_per_minute=terms.waiting_per_minute,
                    )
        except IntegrityError:
            continue
