"""Great-circle distance, the one formula for nearby, dispatch, the start rule and the meter (../shared/API.md)."""

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), R = 6371.0088 km


def haversine_m(lat1, lng1, lat2, lng2):
    """Distance in metres between two WGS-84 points given in decimal degrees."""
    phi1 = radians(lat1)
    return _haversine_m(phi1, cos(phi1), lng1, lat2, lng2)


def haversine_m_from(lat1, lng1):
    """haversine_m with the first point fixed, as a function of the second (the same arithmetic, so the same
    results; the first point's terms are computed once, for loops over many drivers)."""
    phi1 = radians(lat1)
    cos_phi1 = cos(phi1)

    def distance_m(lat2, lng2):
        return _haversine_m(phi1, cos_phi1, lng1, lat2, lng2)

    return distance_m


def _haversine_m(phi1, cos_phi1, lng1, lat2, lng2):
    phi2 = radians(lat2)
    a = sin((phi2 - phi1) / 2) ** 2 + cos_phi1 * cos(phi2) * sin(radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(a)))
