"""Small givens shared by the locations tests."""

from locations.services import beacon_set, location_ingest

MONAS = (-6.175392, 106.827153)


def north_of(point, metres):
    """A point `metres` due north of `point` (1 degree of latitude ~ 111,195 m on the haversine sphere)."""
    return point[0] + metres / 111_195.08, point[1]


def driver_online_at(driver, point, **kwargs):
    beacon_set(user=driver, active=True)
    assert location_ingest(user=driver, lat=point[0], lng=point[1], **kwargs)
    return driver
