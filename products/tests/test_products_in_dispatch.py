"""Products: a request names one, dispatch and nearby offer it only to drivers whose vehicle serves it, and the
estimate is itemised under the product's fare policy version."""

from accounts.models import User
from locations import live
from matching.models import Match, RideRequest
from matching.tests.helpers import (
    DESTINATION,
    PICKUP,
    ask_for_ride,
    driver_online,
    make_passenger,
    north_of,
    proposals_of,
    request_body,
)
from nebengjek.redis import get_live_redis
from products.models import FarePolicy, Product


def test_a_car_request_never_reaches_a_bike_driver(client_for):
    bike = driver_online(100)  # nearer
    car = driver_online(400, vehicle_type="car")

    ask_for_ride(client_for(make_passenger()), product="car")

    assert proposals_of(bike) == []
    assert len(proposals_of(car)) == 1


def test_a_request_without_a_product_is_a_bike_request_and_never_reaches_a_car(client_for):
    car = driver_online(100, vehicle_type="car")
    bike = driver_online(400)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["product"] == "bike"
    assert proposals_of(car) == [] and len(proposals_of(bike)) == 1


def test_a_car_request_with_only_bikes_near_finds_no_driver(client_for):
    bike = driver_online(100)

    body = ask_for_ride(client_for(make_passenger()), product="car")

    assert proposals_of(bike) == []
    assert RideRequest.objects.get(id=body["id"]).status == "no_driver"


def test_the_claim_refuses_a_driver_whose_vehicle_redis_got_wrong(client_for):
    bike = driver_online(100)
    get_live_redis().hset(live.keys_of(bike.id).vehicle, str(bike.id), "car")  # a stale mirror says car

    ask_for_ride(client_for(make_passenger()), product="car")

    assert proposals_of(bike) == [] and not Match.objects.exists()


def test_an_unknown_product_is_a_400_naming_the_products(client_for):
    response = client_for(make_passenger()).post("/api/v1/rides/requests", request_body(product="truck"), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_product" and error["details"]["products"] == ["bike", "car"]


def test_a_product_an_operator_deactivated_is_refused(client_for):
    ask_for_ride(client_for(make_passenger()))  # the catalogue exists
    Product.objects.filter(code="car").update(is_active=False)
    from products.selectors import products_cache_clear

    products_cache_clear()

    response = client_for(make_passenger()).post("/api/v1/rides/requests", request_body(product="car"), format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_product"


def test_nearby_takes_the_product_as_a_filter(client_for):
    bike = driver_online(100)
    car = driver_online(200, vehicle_type="car")
    client = client_for(make_passenger())
    url = f"/api/v1/drivers/nearby?lat={PICKUP[0]}&lng={PICKUP[1]}&radius_m=1000"

    everyone = client.get(url).json()["drivers"]
    cars = client.get(url + "&product=car").json()["drivers"]
    bikes = client.get(url + "&product=bike").json()["drivers"]

    assert [d["id"] for d in everyone] == [str(bike.id), str(car.id)]
    assert [d["id"] for d in cars] == [str(car.id)]
    assert [d["id"] for d in bikes] == [str(bike.id)]
    assert client.get(url + "&product=truck").json()["error"]["code"] == "unknown_product"


def test_surge_counts_the_supply_and_demand_of_the_requested_product_only(client_for, settings):
    settings.SURGE_MIN_DEMAND = 2
    for _ in range(3):
        driver_online(100)  # plenty of bike supply
    driver_online(150, vehicle_type="car")  # one car, soon offered the first car request (busy)
    first = ask_for_ride(client_for(make_passenger()), product="car")
    second = ask_for_ride(client_for(make_passenger()), product="car")
    bike = ask_for_ride(client_for(make_passenger()))

    assert first["surge"] == {**first["surge"], "supply": 1, "demand": 1}
    assert second["surge"] == {**second["surge"], "supply": 0, "demand": 2}
    assert second["fare_estimate"]["surge_multiplier"] == 2.0
    assert bike["surge"] == {**bike["surge"], "supply": 3, "demand": 1}
    assert bike["fare_estimate"]["surge_multiplier"] == 1.0


def test_the_bike_estimate_is_itemised_and_keeps_the_contract_example(client_for):
    body = ask_for_ride(client_for(make_passenger()))

    assert body["fare_estimate"] == {"distance_m": 1112, "amount": 3336, "surge_multiplier": 1.0}
    lines = {line["kind"]: line["amount"] for line in body["fare_breakdown"]["lines"]}
    assert lines == {"base": 0, "distance": 3336, "time_of_day": 0, "surge": 0, "minimum_top_up": 0, "waiting": 0}
    assert body["fare_breakdown"]["product"] == "bike" and body["fare_breakdown"]["policy_version"] == 1


def test_the_car_estimate_adds_the_base_fare_and_tops_up_to_its_minimum(client_for):
    body = ask_for_ride(client_for(make_passenger()), product="car")

    lines = {line["kind"]: line["amount"] for line in body["fare_breakdown"]["lines"]}
    # base 5,000 + 1.11195 km x 6,000 = 11,672 (rounded once), under the car minimum 15,000
    assert lines == {"base": 5000, "distance": 6672, "time_of_day": 0, "surge": 0, "minimum_top_up": 3328, "waiting": 0}
    assert body["fare_estimate"]["amount"] == sum(lines.values()) == 15000


def test_a_time_of_day_multiplier_applies_in_its_window_jakarta_time(client_for, time_machine):
    ask_for_ride(client_for(make_passenger()))  # the catalogue exists
    bike = Product.objects.get(code="bike")
    FarePolicy.objects.create(
        product=bike,
        version=2,
        base_fare=0,
        per_km=3000,
        minimum_fare=3000,
        time_multipliers=[{"start": "17:00", "end": "19:00", "multiplier": "1.5"}],
    )
    from products.selectors import products_cache_clear

    products_cache_clear()
    time_machine.move_to("2026-11-20T10:30:00+00:00")  # 17:30 in Jakarta (UTC+7)

    body = ask_for_ride(
        client_for(make_passenger()), pickup=north_of(PICKUP, 5000), destination=north_of(DESTINATION, 5000)
    )

    lines = {line["kind"]: line["amount"] for line in body["fare_breakdown"]["lines"]}
    assert lines["distance"] == 3336 and lines["time_of_day"] == 1668
    assert body["fare_estimate"]["amount"] == 5004 and body["fare_breakdown"]["policy_version"] == 2


def test_the_request_keeps_the_policy_version_it_was_quoted_with(client_for):
    body = ask_for_ride(client_for(make_passenger()))
    request = RideRequest.objects.get(id=body["id"])

    assert request.fare_policy.version == 1 and request.fare_policy.product.code == "bike"


def test_an_operator_sees_products_and_fare_policies_in_the_admin(client, client_for):
    ask_for_ride(client_for(make_passenger()))
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))

    pages = [
        "/admin/products/product/",
        "/admin/products/farepolicy/",
        f"/admin/products/farepolicy/{FarePolicy.objects.first().pk}/change/",
    ]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200]


def test_the_live_sweeper_restores_the_vehicle_mirror_redis_lost(client_for):
    from locations.services import live_sweep

    car = driver_online(100, vehicle_type="car")
    live.per_bucket(get_live_redis(), lambda pipe, keys: pipe.delete(keys.vehicle))
    live_sweep()

    ask_for_ride(client_for(make_passenger()), product="car")

    assert get_live_redis().hget(live.keys_of(car.id).vehicle, str(car.id)) == "car"
    assert len(proposals_of(car)) == 1
