"""A ride's admin page: its track on a map (points as data), its money with separators and IDR, the events pushed
about it; the page is read-only (rides change only through services and the operators' actions)."""

import json
import re

import pytest

from accounts.models import User
from rides.models import Ride, TrackPoint
from rides.tests.factories import make_in_progress_ride

STEP = 0.02  # degrees of latitude, 2,223.9 m: five of them make an 11.12 km ride


@pytest.fixture
def operator_client(client):
    client.force_login(User.objects.create_superuser("+628121111112", password="operator-pass-1"))
    return client


@pytest.fixture
def completed_ride(scene):
    """A ride driven south in five 2.2 km steps 45 s apart (under the 200 km/h cap) and ended at 75 %, all through
    the public surface; its destination is where it ends, so the meter's distance cap does not clip it."""
    Ride.objects.filter(pk=scene.ride.pk).update(
        destination_lat=scene.ride.pickup_lat - STEP * 5, destination_lng=scene.ride.pickup_lng
    )
    scene.ride.refresh_from_db()
    scene.started_at_pickup()
    for step in range(1, 6):
        scene.at(45 * step)
        scene.drive(scene.ride.pickup_lat - STEP * step, scene.ride.pickup_lng)
    assert scene.end({"price_pct": 75}).status_code == 200
    scene.ride.refresh_from_db()
    return scene.ride


def map_data(html: str) -> dict:
    found = re.search(r'<script id="ride-map-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    return json.loads(found.group(1))


def test_the_ride_page_draws_its_track_from_the_track_points(operator_client, completed_ride):
    html = operator_client.get(f"/admin/rides/ride/{completed_ride.id}/change/").content.decode()

    assert 'id="ride-map"' in html and "vendor/leaflet/leaflet.js" in html and "rides/ride_map.js" in html
    data = map_data(html)
    points = list(TrackPoint.objects.filter(ride=completed_ride).order_by("recorded_at").values_list("lat", "lng"))
    assert len(points) == 6 and data["track"] == [[round(lat, 6), round(lng, 6)] for lat, lng in points]
    assert data["pickup"] == [completed_ride.pickup_lat, completed_ride.pickup_lng]
    assert data["destination"] == [completed_ride.destination_lat, completed_ride.destination_lng]


def test_the_ride_page_shows_its_money_with_separators_and_idr(operator_client, completed_ride):
    html = operator_client.get(f"/admin/rides/ride/{completed_ride.id}/change/").content.decode()

    assert completed_ride.metered_fare == 33359 and completed_ride.charged_amount == 25019
    assert "33,359 IDR" in html and "25,019 IDR (75 % of the fare)" in html
    assert "1,250 IDR" in html and "23,769 IDR" in html  # admin fee, driver payout
    assert "11.12 km" in html and "-6.30000, 106.80000" in html  # distance, last position
    assert "11119.4" not in html and "-6.299999" not in html  # no raw floats


def test_the_ride_page_lists_the_events_pushed_about_the_ride_newest_first(operator_client, completed_ride):
    html = operator_client.get(f"/admin/rides/ride/{completed_ride.id}/change/").content.decode()

    rows = re.findall(
        r'<tr class="ride-event"><td>[^<]*</td><td>(\w+)</td><td><a [^>]*>(\d+)</a></td>'
        r"<td>([\w.]+)</td><td>([^<]*)</td></tr>",
        html,
    )
    assert rows[0][2:] == ("ride.updated", "ride completed") and rows[1][2:] == rows[0][2:]
    assert {row[0] for row in rows[:2]} == {"driver", "passenger"}
    assert ("ride.updated", "ride in_progress") in [row[2:] for row in rows]
    assert all(row[2] in {"ride.updated", "match.confirmed", "match.accepted", "request.updated"} for row in rows)


def test_another_rides_events_are_not_on_the_page(operator_client, completed_ride):
    other = make_in_progress_ride()

    html = operator_client.get(f"/admin/rides/ride/{other.id}/change/").content.decode()

    assert "ride completed" not in html and "ride in_progress" in html


def test_the_ride_page_is_read_only_with_no_save_or_delete(operator_client, completed_ride):
    response = operator_client.get(f"/admin/rides/ride/{completed_ride.id}/change/")

    html = response.content.decode()
    assert '<input type="submit"' not in html and "deletelink" not in html  # Save, Save and continue, Delete
    assert [inline.has_add_permission for inline in response.context["inline_admin_formsets"]] == [False]
    assert "TrackPoint object" not in html and "-6.22000, 106.80000" in html  # the track points, formatted


def test_a_track_point_reads_as_time_position_and_segment(completed_ride):
    point = TrackPoint.objects.filter(ride=completed_ride).order_by("recorded_at")[1]

    assert str(point) == "08:00:45 · -6.22000, 106.80000 · 2.22 km"
