"""Where rides may be requested: inside one of the SERVICE_AREA polygons (rings of [lat, lng]), and no longer than
MAX_TRIP_DISTANCE_M in a straight line. Nearby searches and dispatch are not limited; only new requests are."""

from collections.abc import Sequence

from django.conf import settings

from locations.geo import haversine_m
from matching.errors import MatchingError, MatchingException

Ring = Sequence[Sequence[float]]


def in_service_area(*, lat: float, lng: float) -> bool:
    return any(_inside_ring(lat, lng, ring) for ring in settings.SERVICE_AREA)


def _inside_ring(lat: float, lng: float, ring: Ring) -> bool:
    """Even-odd ray casting along the latitude: the area is small and far from the poles and the antimeridian, so
    treating degrees as planar coordinates is exact enough for a boundary drawn this coarsely."""
    inside = False
    for (lat1, lng1), (lat2, lng2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        if (lat1 > lat) != (lat2 > lat) and lng < lng1 + (lat - lat1) * (lng2 - lng1) / (lat2 - lat1):
            inside = not inside
    return inside


def trip_ensure_serviceable(
    *, pickup_lat: float, pickup_lng: float, destination_lat: float, destination_lng: float
) -> float:
    """Refuse a trip from or to outside the service area (400 outside_service_area, naming the point) or longer than
    MAX_TRIP_DISTANCE_M (400 trip_too_long); return its straight-line distance in metres."""
    for point, lat, lng in (("pickup", pickup_lat, pickup_lng), ("destination", destination_lat, destination_lng)):
        if not in_service_area(lat=lat, lng=lng):
            raise MatchingException(
                MatchingError.OUTSIDE_SERVICE_AREA,
                f"The {point} is outside the area NebengJek serves.",
                details={"point": point, "lat": lat, "lng": lng},
            )
    distance_m = haversine_m(pickup_lat, pickup_lng, destination_lat, destination_lng)
    if distance_m > settings.MAX_TRIP_DISTANCE_M:
        raise MatchingException(
            MatchingError.TRIP_TOO_LONG,
            f"The trip is {distance_m / 1000:.1f} km; at most "
            f"{settings.MAX_TRIP_DISTANCE_M / 1000:.0f} km can be requested.",
            details={"distance_m": round(distance_m), "max_distance_m": settings.MAX_TRIP_DISTANCE_M},
        )
    return distance_m
