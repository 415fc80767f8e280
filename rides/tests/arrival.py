"""Stands in for the live trip's arrival detection (it sets Ride.driver_arrived_at when the driver comes within
arrival distance of the pickup): the rules around waiting read only that column."""

from datetime import datetime

from rides.models import Ride


def driver_arrived(ride, at: datetime) -> None:
    Ride.objects.filter(pk=ride.pk).update(driver_arrived_at=at)
    ride.driver_arrived_at = at
