"""The rules around waiting at the pickup (settings FREE_WAITING_SECONDS, CANCELLATION_FEE_*), pure: when the free
window ends, and what a late cancellation or a no-show costs the passenger (paid to the driver)."""

from datetime import datetime, timedelta

from django.conf import settings


def free_waiting_ends_at(*, driver_arrived_at: datetime | None) -> datetime | None:
    """When the driver's free waiting at the pickup ends (None until the driver arrived)."""
    if driver_arrived_at is None:
        return None
    return driver_arrived_at + timedelta(seconds=settings.FREE_WAITING_SECONDS)


def free_waiting_over(*, driver_arrived_at: datetime | None, now: datetime) -> bool:
    ends_at = free_waiting_ends_at(driver_arrived_at=driver_arrived_at)
    return ends_at is not None and now > ends_at


def cancellation_fee_amount(*, product: str) -> int:
    return int(settings.CANCELLATION_FEE_IDR.get(product, settings.CANCELLATION_FEE_DEFAULT_IDR))


def late_cancellation_fee(*, by: str, driver_arrived_at: datetime | None, now: datetime, product: str) -> int | None:
    """The fee of a passenger's cancellation after the driver arrived and the free window passed; None otherwise
    (the driver's own cancellation never costs a fee: it counts against their ranking)."""
    if by != "passenger" or not settings.CANCELLATION_FEE_ON_LATE_CANCEL:
        return None
    if not free_waiting_over(driver_arrived_at=driver_arrived_at, now=now):
        return None
    return cancellation_fee_amount(product=product) or None


def no_show_fee(*, product: str) -> int | None:
    if not settings.CANCELLATION_FEE_ON_NO_SHOW:
        return None
    return cancellation_fee_amount(product=product) or None
