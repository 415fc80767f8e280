"""Validation of a position as sent by a client, shared by the socket and REST (fast: no serializer on the hot path).

Errors: `invalid_input`, naming the field in the message and in details (missing, wrongly typed, or lat outside
[-90, 90] / lng outside [-180, 180]): the same code as every other endpoint's validation.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from locations.errors import LocationsException
from nebengjek.errors import CommonError
from nebengjek.inputs import is_json_number


@dataclass(frozen=True, slots=True)
class PositionInput:
    lat: float
    lng: float
    recorded_at: datetime | None = None
    accuracy_m: float | None = None


def invalid_field(field, problem):
    return LocationsException(CommonError.INVALID_INPUT, f"{field}: {problem}", details={field: [problem]})


def number_field(data, field, *, required=True):
    value = data.get(field)
    if value is None:
        if required:
            raise invalid_field(field, "This field is required.")
        return None
    if not is_json_number(value):
        raise invalid_field(field, "A number is required.")
    return float(value)


def coordinates_parse(data):
    """(lat, lng) from a mapping with numeric `lat` and `lng` in range."""
    lat, lng = number_field(data, "lat"), number_field(data, "lng")
    if -90 <= lat <= 90 and -180 <= lng <= 180:
        return lat, lng
    for field, value, limit in (("lat", lat, 90), ("lng", lng, 180)):
        if value > limit:  # DRF's words, as the ride request's serializer says them for the same mistake
            raise invalid_field(field, f"Ensure this value is less than or equal to {limit}.")
        if value < -limit:
            raise invalid_field(field, f"Ensure this value is greater than or equal to {-limit}.")
    return lat, lng


def datetime_field(data, field):
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(field, "An ISO-8601 datetime string is required.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_field(field, "An ISO-8601 datetime string is required.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def position_parse(data):
    lat, lng = coordinates_parse(data)
    accuracy_m = number_field(data, "accuracy_m", required=False)
    if accuracy_m is not None and accuracy_m < 0:
        raise invalid_field("accuracy_m", "Must be zero or more.")
    return PositionInput(lat=lat, lng=lng, recorded_at=datetime_field(data, "recorded_at"), accuracy_m=accuracy_m)
